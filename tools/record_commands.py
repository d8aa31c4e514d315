"""Name the command in results files written before the writer recorded it.

    python tools/record_commands.py [--check]

:func:`lpr_lib.repro.write_result` records the command that made a file (``sys.argv``) since
December 2026; files written before it name their commit but not their command. For the files
whose command can be told from what they hold, this writes it into ``meta.command``, together
with ``meta.command_recorded`` saying that it was recorded afterwards and from what:

- an ablation job (``results/ablation/<scale>/<data>/<row>-seed<N>.json``): its config's name,
  ``ablation-<scale>-<data>-<row>-seed<N>``, gives ``lpr ablate``'s arguments. The scale is the
  one the job ran at, under its name at the time (the table once called ``book`` is filed under
  ``short`` today);
- the CPU training-speed study (``results/train_speed*.json``): ``tools/bench_train.py``.

A command is written only when the script or module it names exists at the commit the file
records, with the option or scale the command uses, and the file's commit is clean; every
other file is left as it is.
``--check`` writes nothing and exits 1 when a file would change. Files are rewritten atomically.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"

ABLATION_NAME = re.compile(r"^ablation-(?P<scale>[a-z0-9]+)-(?P<data>mixed|synthetic)-"
                           r"(?P<row>.+)-seed(?P<seed>\d+)$")
#: results file (relative to results/) -> (command, what must exist at its commit: a file and
#: a text it holds)
FIXED = {
    "train_speed.json": (["tools/bench_train.py"], [("tools/bench_train.py", "train_speed")]),
    "train_speed_study.json": (["tools/bench_train.py", "--study"],
                               [("tools/bench_train.py", "--study")]),
}


def _exists_at(commit: str, path: str, text: str = "") -> bool:
    """Whether ``path`` exists at ``commit`` (and holds ``text``)."""
    done = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{path}"],
                          capture_output=True, text=True)
    return done.returncode == 0 and text in done.stdout


def command_for(relative: str, meta: dict) -> tuple[list[str], list[tuple[str, str]], str] | None:
    """The command that made the results file ``relative`` (a path under results/) and how it
    was told: what must exist at its commit, one of a list of (file, a text it holds) (an
    ablation's scale must be one that ``lpr ablate`` knew then, typed in its code or as a
    ``scale_*.yaml``), and where the command comes from; None when it cannot be told."""
    if relative in FIXED:
        command, needs = FIXED[relative]
        return command, needs, f"the script that writes {relative}"
    if relative.startswith("ablation/"):
        config = meta.get("config") or {}
        match = ABLATION_NAME.match(str(config.get("name", "")))
        if not match:
            return None
        g = match.groupdict()
        command = ["lpr_lib/__main__.py", "ablate", "--scale", g["scale"], "--data", g["data"],
                   "--seeds", g["seed"], "--rows", g["row"]]
        known = [("lpr_lib/ablation.py", f'"{g["scale"]}"'),
                 (f"configs/ablation/scale_{g['scale']}.yaml", "")]
        return command, known, f"its config's name, {config['name']}"
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file would "
                   "change")
    args = p.parse_args(argv)
    changed = []
    for path in sorted(RESULTS.rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        meta = data.get("meta") if isinstance(data, dict) else None
        if not isinstance(meta, dict) or meta.get("command"):
            continue
        commit = str(meta.get("git_commit", ""))
        if not re.fullmatch(r"[0-9a-f]{40}", commit):  # unknown, or -dirty
            continue
        relative = path.relative_to(RESULTS).as_posix()
        told = command_for(relative, meta)
        if told is None or not any(_exists_at(commit, *need) for need in told[1]):
            continue
        command, _, source = told
        meta["command"] = command
        meta["command_recorded"] = (f"afterwards, by tools/record_commands.py, from {source}; "
                                    f"the file was written at commit {commit[:12]}")
        changed.append(relative)
        if not args.check:
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n",
                           encoding="utf-8")
            tmp.replace(path)
    for name in changed:
        print(("would name the command of " if args.check else "named the command of ") + name)
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
