"""The shipped models' figures, measured again from the saved models.

    .venv/bin/python experiments/shipped_models.py              # every shipped model (~1 min)
    .venv/bin/python experiments/shipped_models.py mixed slim   # some of them

For each shipped model (``lpr_lib/models/<name>/model.keras``): the threshold for 99.9%
precision chosen on its validation data, then its figures on the real test crops
(``../shared/real_plates/test``, when present) and on the synthetic test set of every plate
kind, written to ``results/shipped_<name>.json`` exactly as ``python -m lpr_lib.models.ship
RUN NAME`` measures a run when it ships it. The training record (epochs, best epoch), which
only the run's folder holds, is carried over from the shipped ``result.json``, and the file's
``provenance`` says what was measured again and what was carried over, from which commit.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

# this checkout's library, not whichever one the environment installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None) -> int:
    import argparse

    from lpr_lib.models import SHIPPED
    from lpr_lib.models.ship import remeasure_shipped

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help=f"default: every one ({', '.join(SHIPPED)})")
    names = p.parse_args(argv).names or list(SHIPPED)
    for name in names:
        r = remeasure_shipped(name)
        test = r["real_test"] or {}
        print(f"{name}: validation {r['validation']['plate_accuracy']:.4f}, real test "
              f"{test.get('plate_accuracy', float('nan')):.4f} -> results/shipped_{name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
