"""The peak learning rate (and warm-up) a row of the ablation table needs, found on validation.

    python experiments/lr_sweep.py v4.4 --data mixed --lrs 1e-3 2e-3 4e-3 [--warmup 0.5 2]

trains the row's experiment (``lpr_lib.ablation.row_config``, at ``--scale``, default the
book's) once for every pair of peak rate and warm-up epochs, into
``runs/sweeps/<scale>/<data>/<row>/lr<LR>-wu<W>/`` (each run resumes after a kill, and a
finished one is not trained again), and writes ``results/sweeps/<row>-<data>-<scale>.json``:
every run's validation plate accuracy by epoch, its best, and the pair chosen (the best
validation accuracy; the test sets are not looked at). The row's YAML is then given the chosen
pair by hand, citing this file.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lpr_lib.ablation import DATA_SETTINGS, SCALES, row_config
from lpr_lib.repro import RESULTS_DIR, RUNS_DIR, write_result
from lpr_lib.train import load_history, train


def sweep(row: str, data: str, lrs, warmups, seed: int, scale: str) -> Path:
    started = time.time()
    runs = []
    for lr in lrs:
        for wu in warmups:
            config = row_config(row, data, seed, scale).override(
                [f"optimizer.learning_rate={lr}", f"schedule.warmup_epochs={wu}"])
            out = RUNS_DIR / "sweeps" / scale / data / row / f"lr{lr:g}-wu{wu:g}"
            if not (out / "result.json").is_file():
                out.mkdir(parents=True, exist_ok=True)
                train(config, out)
            history = load_history(out)
            acc = [h.get("val_chars_plate_acc") for h in history]
            runs.append({"learning_rate": lr, "warmup_epochs": wu,
                         "run": out.relative_to(RUNS_DIR).as_posix(),
                         "val_plate_acc_by_epoch": acc, "best_val_plate_acc": max(acc),
                         "train_seconds": round(sum(h.get("seconds") or 0 for h in history), 1),
                         "config": config.to_dict()})
    best = max(runs, key=lambda r: r["best_val_plate_acc"])
    data_out = {"what": f"peak learning rate and warm-up of row {row} ({data} data, {scale} "
                        "scale), chosen on the validation split",
                "row": row, "data": data, "scale": scale, "seed": seed, "runs": runs,
                "chosen": {"learning_rate": best["learning_rate"],
                           "warmup_epochs": best["warmup_epochs"]}}
    return write_result(f"{row}-{data}-{scale}", data_out, config=None, seed=seed,
                        started=started, directory=RESULTS_DIR / "sweeps")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("row")
    p.add_argument("--data", choices=DATA_SETTINGS, default="mixed")
    p.add_argument("--lrs", nargs="+", type=float, required=True)
    p.add_argument("--warmup", nargs="+", type=float, default=[0.5])
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--scale", choices=SCALES, default="book")
    a = p.parse_args(argv)
    print(sweep(a.row, a.data, a.lrs, a.warmup, a.seed, a.scale))
    return 0


if __name__ == "__main__":
    sys.exit(main())
