"""Settings a row of the ablation table needs (its peak learning rate, its warm-up, its
BatchNorm penalty), found on validation.

    python experiments/sweep.py v4.4 --data mixed --grid optimizer.learning_rate=1e-3,2e-3,4e-3
    python experiments/sweep.py v7 --grid model.bn_decay=3e-3,1e-2,3e-2

trains the row's experiment (``lpr_lib.ablation.row_config`` at ``--scale``, default the
book's) once for every combination of the ``--grid`` values (``KEY=V1,V2,...``, keys as for
``lpr train --set``), into ``runs/sweeps/<scale>/<data>/<row>/<settings>/`` (a killed run
resumes, a finished one is not trained again), and writes
``results/sweeps/<row>-<data>-<scale>-<keys>.json``: each run's settings, validation plate
accuracy by epoch and best, the share of BatchNorm |gamma| below 0.05 after its last epoch,
and the settings chosen (the best validation accuracy; no test set is looked at). The row's
YAML is then given the chosen settings, citing this file.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

from lpr_lib.ablation import DATA_SETTINGS, SCALES, row_config
from lpr_lib.repro import RESULTS_DIR, RUNS_DIR, write_result


def _grid(items: list[str]) -> dict[str, list[str]]:
    grid = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not values:
            raise SystemExit(f"--grid {item!r}: expected KEY=V1,V2,...")
        grid[key] = values.split(",")
    return grid


def sweep(row: str, data: str, grid: dict[str, list[str]], seed: int, scale: str) -> Path:
    from lpr_lib.trace import TrainingTrace
    from lpr_lib.train import load_history, train

    started = time.time()
    base = row_config(row, data, seed, scale)
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    configs = [base.override([f"{k}={v}" for k, v in c.items()]) for c in combos]  # all checked
    runs = []
    for settings, config in zip(combos, configs):
        label = "-".join(f"{k.rsplit('.', 1)[-1]}{v}" for k, v in settings.items())
        out = RUNS_DIR / "sweeps" / scale / data / row / label
        if not (out / "result.json").is_file():
            out.mkdir(parents=True, exist_ok=True)
            train(config, out, callbacks=[TrainingTrace(out / "trace.json")])
        history = load_history(out)
        acc = [h.get("val_chars_plate_acc") for h in history]
        trace = json.loads((out / "trace.json").read_text(encoding="utf-8"))
        gamma = trace["epochs"][-1].get("gamma", {})
        runs.append({"settings": settings, "run": out.relative_to(RUNS_DIR).as_posix(),
                     "val_plate_acc_by_epoch": acc, "best_val_plate_acc": max(acc),
                     "gamma_below_0.05": gamma.get("below_0.05"),
                     "train_seconds": round(sum(h.get("seconds") or 0 for h in history), 1)})
    best = max(runs, key=lambda r: r["best_val_plate_acc"])
    result = {"what": f"settings of row {row} ({data} data, {scale} scale) swept over "
                      f"{', '.join(grid)}, chosen on the validation split",
              "row": row, "data": data, "scale": scale, "grid": grid, "runs": runs,
              "chosen": best["settings"]}
    keys = "+".join(k.rsplit(".", 1)[-1] for k in grid)
    return write_result(f"{row}-{data}-{scale}-{keys}", result, config=base.to_dict(),
                        seed=seed, started=started, directory=RESULTS_DIR / "sweeps")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("row")
    p.add_argument("--data", choices=DATA_SETTINGS, default="mixed")
    p.add_argument("--grid", nargs="+", required=True, metavar="KEY=V1,V2")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--scale", choices=SCALES, default="book")
    a = p.parse_args(argv)
    print(sweep(a.row, a.data, _grid(a.grid), a.seed, a.scale))
    return 0


if __name__ == "__main__":
    sys.exit(main())
