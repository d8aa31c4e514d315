"""Write the README's tables of measured figures from the results files that hold them.

    python tools/readme_tables.py           # rewrite every table between its markers
    python tools/readme_tables.py --check   # exit 1 when a table differs from results/

A table lives between ``<!-- table: NAME -->`` and ``<!-- /table -->`` in README.md, and
:data:`TABLES` says how to draw each one from ``results/``; the README's prose around it is
written by hand. ``tests/test_readme_tables.py`` runs ``--check``, so a table that no longer
matches its results file fails the tests instead of going stale.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

READER_NAMES = {"mixed": "`mixed`", "mixed-located": "`mixed --locate`", "slim": "`slim`",
                "synthetic": "`synthetic`", "lprnet": "LPRNet", "hyperlpr": "HyperLPR"}
SET_NAMES = {"real_test": "real test", "real_train_heldout": "held-out train",
             "ccpd_tight": "CCPD tight", "ccpd_loose": "CCPD loose", "ccpd_edge": "CCPD edge",
             "synth_tight": "synth. tight", "synth_loose": "synth. loose",
             "synth_edge": "synth. edge", "synth_provinces": "synth. provinces"}


def _ms(latency: dict | None) -> str:
    if not latency:
        return ""
    low, high = latency["iqr_ms"]
    return f"{latency['median_ms']:.2f} ({low:.2f}-{high:.2f})"


def readers_table(results: Path) -> str:
    """Every reader on every set of ``results/bench/readers.json``: plate accuracy, and the
    median time of one crop (interquartile range in brackets), the network alone and a
    decoded crop to its text; ours timed as their ONNX export."""
    data = json.loads((results / "bench" / "readers.json").read_text(encoding="utf-8"))["result"]
    sets = [s for s in SET_NAMES if s in data["sets"]]
    head = [f"{SET_NAMES[s]} ({data['sets'][s]['plates']})" for s in sets]
    lines = ["| reader | " + " | ".join(head) + " | ms, network | ms, crop to text |",
             "|---" * (len(head) + 3) + "|"]
    for name, reader in data["readers"].items():
        lat = reader.get("latency") or {}
        network = lat.get("onnx_model") or lat.get("model")
        crop = lat.get("onnx_end_to_end") or lat.get("end_to_end")
        cells = [f"{100 * reader['sets'][s]['plate_accuracy']:.1f}%" for s in sets]
        lines.append(f"| {READER_NAMES.get(name, name)} | " + " | ".join(cells)
                     + f" | {_ms(network)} | {_ms(crop)} |")
    return "\n".join(lines)


TABLES = {"readers": readers_table}
MARKED = re.compile(r"(<!-- table: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(\n<!-- /table -->)",
                    re.S)


def render(text: str, results: Path) -> str:
    """``text`` with every marked table drawn again from ``results``."""
    def table(m: re.Match) -> str:
        if m["name"] not in TABLES:
            raise SystemExit(f"README.md: no table called {m['name']!r} "
                             f"(known: {', '.join(TABLES)})")
        return m.group(1) + TABLES[m["name"]](results) + m.group(4)
    return MARKED.sub(table, text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 on a difference")
    args = p.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    new = render(text, ROOT / "results")
    if args.check:
        if new != text:
            print("README.md: a table differs from results/ (python tools/readme_tables.py)")
            return 1
        return 0
    if new != text:
        tmp = README.with_suffix(".md.tmp")
        tmp.write_text(new, encoding="utf-8")
        tmp.replace(README)
        print("README.md: tables written from results/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
