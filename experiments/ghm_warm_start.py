"""Does global GHM learn once the crowd of unlearned characters is gone?

Chapter 16 explains why global GHM-C learns nothing from scratch in the book's budget: the
characters the network has not learned yet sit at g ~ 1, most of the batch, and GHM gives
them one bin's share of the weight. If that is the reason, GHM should train normally from a
network that already reads most characters. This starts both losses from the same
checkpoint, the ablation row v4.0 (cross-entropy, synthetic data, first seed, the book's
budget), and trains each for 2 more epochs of 330 steps at a cosine rate from 1e-3, nothing
else changed; it writes results/ghm_warm_start.json.

    python experiments/ghm_warm_start.py     # about 4 minutes on 2 cores once v4.0 has trained
"""
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    from lpr_lib.ablation import Job, _merge, row_config
    from lpr_lib.config import ExperimentConfig
    from lpr_lib.repro import RUNS_DIR, write_result
    from lpr_lib.train import load_history, train

    started = time.time()
    start = Job("v4.0", "synthetic", 2026)
    start_run = start.run_dir(RUNS_DIR / "ablation")
    if not (start_run / "best.keras").is_file():  # the ablation's own run, trained here
        train(row_config("v4.0", "synthetic", 2026), start_run)
    arms = {}
    for row, loss in (("v4.0", "ce"), ("v6", "ghm_global")):
        tree = _merge(row_config(row, "synthetic", 2026).to_dict(), {
            "name": f"ghm-warm-start-{loss}", "epochs": 2, "init_from": str(start_run),
            "optimizer": {"learning_rate": 1e-3}, "schedule": {"warmup_epochs": 0}})
        config = ExperimentConfig.from_dict(tree, source=f"ghm_warm_start {loss}")
        out = RUNS_DIR / "ghm_warm_start" / loss
        train(config, out, overwrite=True)
        history = load_history(out)
        arms[loss] = {"config": config.to_dict(), "history": history,
                      "val_plate_acc": [h["val_chars_plate_acc"] for h in history]}
    start_acc = load_history(start_run)
    write_result("ghm_warm_start", {
        "what": __doc__.split("\n\n")[1].replace("\n", " "),
        "start": {"row": "v4.0", "data": "synthetic", "seed": 2026,
                  "val_plate_acc": max(h["val_chars_plate_acc"] for h in start_acc)},
        "arms": arms}, seed=2026, started=started)


if __name__ == "__main__":
    main()
