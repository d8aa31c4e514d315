"""Choose the settings of the colour locator (lpr_lib.locate) on the validation sets.

    .venv/bin/python experiments/locate_study.py      # results/locate_study.json, ~2 minutes

Reads every validation set of :mod:`lpr_lib.data.valsets` (CCPD and synthetic-scene crops,
tight, loose and cut at an edge; every province; the held-out real training crops) with the
shipped ``mixed`` reader as ``lpr predict`` reads (:class:`lpr_lib.predict.Predictor`),
without the locator and with it at each setting of :data:`GRID`, and writes plate accuracy by
set and framing. The setting chosen is the one that reads the most validation crops, all
sets pooled; ``lpr_lib.locate.DEFAULT`` should be it. ``real_plates/test`` is not read here:
it is measured once, beside the other readers, by ``python -m bench --parts readers``. The
sets are read from ``--sets-dir`` (built by ``experiments/val_sets.py``; built when absent).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: (margin_x, margin_y): the margin around the found plate, a share of its width and height
GRID = [(0.0, 0.0), (0.03, 0.08), (0.06, 0.15)]


def _score(predictor, items) -> dict:
    """``items`` ((path, plate, framing) triples) read by ``predictor`` and scored as the
    readers bench scores them (:func:`lpr_lib.metrics.score_readings`; "no plate" is a wrong
    reading), with the count of plates read right."""
    from lpr_lib.metrics import score_readings

    texts = [t or "" for t, _ in predictor.predict([p for p, _, _ in items])]
    result = score_readings(items, texts)
    result["right"] = round(result["plate_accuracy"] * result["plates"])
    return result


def main(argv=None) -> int:
    from dataclasses import asdict, replace

    from lpr_lib import locate
    from lpr_lib.data.valsets import build_val_sets, read_set, real_sets
    from lpr_lib.predict import Predictor, load_model
    from lpr_lib.repro import RUNS_DIR, write_result

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets-dir", type=Path, default=RUNS_DIR / "val_sets")
    p.add_argument("--model", default="mixed")
    args = p.parse_args(argv)
    started = time.time()
    if not args.sets_dir.is_dir():
        build_val_sets(args.sets_dir)
    sets = {d.name: read_set(d) for d in sorted(args.sets_dir.iterdir())
            if (d / "labels.tsv").is_file()}
    held = real_sets().get("real_train_heldout")
    if held:
        sets["real_train_heldout"] = held
    model = load_model(args.model)
    arms = {"off": None, **{"margin {} x {}".format(*g): g for g in GRID}}
    out = {}
    for name, grid in arms.items():
        if grid is None:
            predictor = Predictor(model)
            settings = None
        else:
            settings = replace(locate.DEFAULT, margin_x=grid[0], margin_y=grid[1])
            predictor = Predictor(model, locate=settings)
        by_set = {s: _score(predictor, items) for s, items in sets.items()}
        total = sum(r["plates"] for r in by_set.values())
        pooled = sum(r["right"] for r in by_set.values()) / total
        out[name] = {"settings": None if settings is None else asdict(settings),
                     "pooled_plate_accuracy": pooled, "sets": by_set}
        each = ", ".join(f"{s} {100 * r['plate_accuracy']:.1f}%" for s, r in by_set.items())
        print(f"{name}: {100 * pooled:.1f}% of {total} validation crops; {each}", flush=True)
    chosen = max((n for n in out if n != "off"), key=lambda n: out[n]["pooled_plate_accuracy"])
    default = asdict(locate.DEFAULT)
    result = {"model": args.model, "arms": out, "chosen": chosen,
              "chosen_settings": out[chosen]["settings"],
              "default_is_chosen": out[chosen]["settings"] == default,
              "chosen_on": "the pooled validation crops (never real_plates/test)"}
    path = write_result("locate_study", result, config={"grid": GRID, "model": args.model},
                        started=started)
    print(f"chosen: {chosen}; lpr_lib.locate.DEFAULT is "
          f"{'it' if result['default_is_chosen'] else 'NOT it'} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
