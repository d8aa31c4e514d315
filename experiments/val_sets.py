"""Build the validation sets for the crops a detector gives, and describe them in
``results/val_sets.json`` (counts, framings, provinces, what each set is):

    .venv/bin/python experiments/val_sets.py            # sets into runs/val_sets (gitignored)

The sets are :mod:`lpr_lib.data.valsets`'s: loose and edge-cut crops of the CCPD photos in
``../shared/real_plates/ccpd_scenes`` (built here at run time, never committed), the same
framings of synthetic plates composited into car scenes, a synthetic set of every province,
and the real crops where they lie (``real_plates/test``, and the training crops the shipped
``mixed`` held out). The synthetic ones depend only on the seed. ``python -m bench --parts
readers`` builds the same sets and measures every reader on them (``results/bench/readers.json``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# this checkout's library, not whichever one the environment installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    from lpr_lib.data import valsets
    from lpr_lib.repro import RUNS_DIR, write_result

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(RUNS_DIR / "val_sets"),
                   help="where the sets' folders go (default runs/val_sets)")
    args = p.parse_args(argv)
    started = time.time()
    sets = valsets.build_val_sets(Path(args.out))
    for info in sets.values():  # this machine's path says nothing to a reader of the file
        if "path" in info:
            info["path"] = Path(info["path"]).name
    config = {"command": "python experiments/val_sets.py", "seed": valsets.VAL_SEED,
              "loose_margins_plate_heights": list(valsets.LOOSE_MARGINS),
              "edge_cuts": valsets.EDGE_CUTS, "scene_kinds": valsets.SCENE_KINDS,
              "scenes": valsets.SCENES, "per_province": valsets.PER_PROVINCE}
    result = {"sets": sets,
              "total_plates": sum(s.get("plates", 0) for s in sets.values()),
              "where": "each built set is a folder of PNG crops with labels.tsv (file, plate, "
                       "source, framing) under runs/val_sets/<name>/, made at run time; the "
                       "real crops of real_plates/test and real_plates/train are read where "
                       "they lie; no image is committed",
              "never_chosen_on": "real_plates/test: it is measured, never used to choose"}
    path = write_result("val_sets", result, config=config, seed=valsets.VAL_SEED,
                        started=started)
    for name, info in sets.items():
        print(f"{name:20s} {info.get('plates', info.get('missing'))}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
