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
import statistics
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


SHIPPED = ("mixed", "synthetic", "slim")
#: the double-row kinds of the synthetic per-kind test (every other kind is one row)
DOUBLE_ROW = ("yellow_double", "trailer")


def _load(results: Path, *parts: str) -> dict:
    return json.loads(results.joinpath(*parts).read_text(encoding="utf-8"))["result"]


def shipped_table(results: Path) -> str:
    """The shipped models (``results/shipped_*.json``) and the public readers
    (``results/bench/readers.json``) on the real test crops; the shipped models' MACs from
    ``results/bench/latency.json``."""
    readers = _load(results, "bench", "readers.json")["readers"]
    macs = {k: v.get("macs") for k, v in _load(results, "bench", "latency.json")["models"].items()}
    macs.setdefault("synthetic", macs.get("resnet18"))  # the default model: the bench's resnet18
    lines = ["| model | what it is | epochs | MMACs | real test plates | real test characters |",
             "|---|---|---|---|---|---|"]
    for name in SHIPPED:
        r = _load(results, f"shipped_{name}.json")
        mmacs = f"{macs[name] / 1e6:.1f}" if macs.get(name) else ""
        lines.append(f"| `{name}` | {r['description']} | {r['training']['epochs']} | {mmacs} | "
                     f"{100 * r['real_test']['plate_accuracy']:.1f}% | "
                     f"{100 * r['real_test']['char_accuracy']:.1f}% |")
    for name, what in (("lprnet", "public, ~27,000 real plates, read here one plate at a time"),
                       ("hyperlpr", "public, `hyperlpr2`, its full pipeline")):
        t = readers[name]["sets"]["real_test"]
        lines.append(f"| {READER_NAMES[name]} | {what} | | | {100 * t['plate_accuracy']:.1f}% | "
                     f"{100 * t['char_accuracy']:.1f}% |")
    return "\n".join(lines)


def shipped_confidence(results: Path) -> str:
    """What ``mixed`` accepts on the real test, at the threshold chosen on its validation
    plates and at 0.85, and how it reads the synthetic plates of every kind."""
    r = _load(results, "shipped_mixed.json")
    test = r["real_test"]
    conf = test["confidence"]["product"]
    chosen = test["thresholds"].index(r["threshold"]["product"])
    at85 = test["thresholds"].index(0.85)
    kinds = {k: 100 * v["plate_accuracy"] for k, v in r["synthetic_kinds_test"].items()}
    single = [v for k, v in kinds.items() if k not in DOUBLE_ROW]
    double = [kinds[k] for k in DOUBLE_ROW]
    return (f"At the threshold chosen on its validation plates, `mixed` is right on "
            f"{100 * conf['precision'][chosen]:.1f}% of the test plates it accepts, and "
            f"{100 * conf['recall'][chosen]:.1f}% of all the test plates are accepted and right "
            f"(the rest are marked *unsure*); at a threshold of 0.85 it is right on "
            f"{100 * conf['precision'][at85]:.1f}% of those it accepts, and "
            f"{100 * conf['recall'][at85]:.1f}% of all plates are accepted and right. It reads "
            f"{min(single):.0f}-{max(single):.0f}% of the synthetic single-row plates of every "
            f"kind, but only {min(double):.0f}-{max(double):.0f}% of the double-row ones "
            f"(yellow double-row, trailer).")


#: the schedules the book's budget was chosen among (v4.0, seed 2026, one job each), and the
#: data settings each was tried on (the book's own jobs that ran after the choice are left
#: out, so that the table does not change while the book's table trains)
SCALES = {"cosine10": ("warm-up cosine over the run", ("synthetic", "mixed")),
          "plateau": ("tenfold drops on a plateau", ("mixed",)),
          "long": ("warm-up cosine to the last step", ("synthetic", "mixed")),
          "step": ("tenfold drops at 50% and 70%", ("synthetic",)),
          "book": ("warm-up cosine to 1% at 3/4 of the steps, then flat", ("synthetic",))}


def scales_table(results: Path) -> str:
    """v4.0 (seed 2026) under each schedule and budget it was tried with
    (``results/ablation/<scale>/<data>/v4.0-seed2026.json``): steps trained, plates read on
    the synthetic validation and the real test, and the gain of validation accuracy over the
    last quarter of the run (under 0.5 points: converged)."""
    from lpr_lib import ablation

    lines = ["| scale | schedule | trained on | steps | synthetic val | real test | "
             "gain, last quarter | minutes |", "|---" * 8 + "|"]
    for scale, (schedule, settings) in SCALES.items():
        for data in settings:
            path = results / "ablation" / scale / data / "v4.0-seed2026.json"
            if not path.is_file():
                continue
            r = json.loads(path.read_text(encoding="utf-8"))["result"]
            config = ablation.row_config("v4.0", data, 2026, scale)
            steps = len(r["history"]) * config.steps_per_epoch
            lines.append(f"| `{scale}` | {schedule} | {data} | {steps:,} | "
                         f"{100 * r['synthetic_val']['plate_accuracy']:.1f}% | "
                         f"{100 * r['real_test']['plate_accuracy']:.1f}% | "
                         f"{100 * ablation._last_quarter_gain(r):.1f} points | "
                         f"{r['train_seconds'] / 60:.0f} |")
    return "\n".join(lines)


def table_cost(results: Path) -> str:
    """What one job of the book's budget and the whole table cost, measured on the jobs of
    the ``long`` scale (the same budget: 5,280 steps at 48x144; the ``book`` jobs are left
    out, so that the sentence does not change while the book's table trains)."""
    from lpr_lib import ablation
    from lpr_lib.ablation_report import cost_summary

    jobs = ablation.load_results("long", results / "ablation")
    minutes = sorted(r["run_seconds"] / 60 for r in jobs if r.get("run_seconds"))
    cost = cost_summary(jobs)
    return (f"A job of this budget takes {statistics.median(minutes):.0f} minutes on 2 cores "
            f"(the median of the {len(minutes)} jobs of the `long` scale, the same budget: "
            f"{minutes[0]:.0f}-{minutes[-1]:.0f}), so the table's {cost['plan_jobs']} jobs "
            f"take about {cost['projected_hours']:.0f} hours of one core pair, against the 10 "
            f"hours it was meant to fit. It is trained in the background a job at a time.")


TABLES = {"readers": readers_table, "shipped": shipped_table,
          "shipped-confidence": shipped_confidence, "scales": scales_table,
          "table-cost": table_cost}
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
