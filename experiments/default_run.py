"""Chapter 4's default run: train the default config (``lpr train``'s) and measure it.

    python experiments/default_run.py            # train runs/ch04_default (resumes), measure
    python experiments/default_run.py --measure  # measure the finished run only

The run is ResNet-18 at width 0.25 on 40,000 synthetic plates at 48x144, 9 epochs (about a
quarter of an hour on 2 CPU cores); the shipped ``synthetic`` model is an earlier run of the
same config. Written to
``results/default_run.json``: the config, the run's history epoch by epoch, and the best
checkpoint's metrics on the 2,048 synthetic validation plates, on ``data_samples/`` and, when
``../shared/real_plates`` is there, on its 1,000 real test crops. Chapter 4 draws from it.
"""
from __future__ import annotations

import argparse
import sys
import time

from lpr_lib.repro import REPO_ROOT, SHARED_REAL, write_result

RUN = REPO_ROOT / "runs" / "ch04_default"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measure", action="store_true",
                        help="measure the finished run, train nothing")
    args = parser.parse_args(argv)
    started = time.time()
    from lpr_lib import train as lpr_train
    from lpr_lib.evaluate import evaluate_model
    from lpr_lib.predict import load_model

    cfg = lpr_train.default_config()
    if not args.measure:
        lpr_train.train(cfg, RUN)  # resumes after the last committed epoch; a finished run is kept
    model = load_model(RUN)
    sets = {"synthetic validation": lpr_train.synthetic_folder(
        cfg.data.val_size, tuple(cfg.data.image_size), cfg.seed + 1),
        "data_samples": REPO_ROOT / "data_samples"}
    if SHARED_REAL.is_dir():
        sets["real test crops"] = SHARED_REAL / "test"
    evaluation = {name: evaluate_model(model, src) for name, src in sets.items()}
    path = write_result("default_run", {"run": RUN.name,
                                        "history": lpr_train.load_history(RUN),
                                        "evaluation": evaluation},
                        config=cfg.to_dict(), seed=cfg.seed, started=started)
    print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
