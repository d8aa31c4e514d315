"""Does XLA (``jit_compile``) make a training step faster on this CPU? Each backbone of the
ablation table, with and without it.

    python experiments/jit_by_backbone.py               # every backbone row, both settings
    python experiments/jit_by_backbone.py --rows v4.0   # some rows

For each row (its ``book``-scale config, synthetic data: the row's own model, loss and
optimizer, as ``lpr ablate`` builds them) and each setting, a fresh process builds and
compiles the model with :func:`lpr_lib.train.compile_model`, runs ``--warmup`` steps of
``train_on_batch`` on a fixed random batch (tracing, XLA compilation) and times ``--steps``
more: the median milliseconds of one step of 64 plates. The input pipeline is left out, so
that only the network's step is compared. Results go to ``results/jit_by_backbone.json``;
measure on quiet cores (the load averages before and after each process are recorded).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

#: the table's backbone rows: ResNet-18, its pre-activation form, ResNeXt-18, MobileNet v1-v3
ROWS = ("v4.0", "v4.1", "v4.2", "v4.3", "v4.4", "v4.5")


def measure(row: str, jit: bool, steps: int, warmup: int) -> dict:
    """Median ms of one ``train_on_batch`` of 64 plates for ``row`` (run in a fresh process)."""
    import numpy as np

    from lpr_lib.ablation import row_config
    from lpr_lib.model import build_model
    from lpr_lib.train import compile_model

    config = row_config(row, "synthetic", 2026, "book").override(
        [f"jit_compile={'true' if jit else 'false'}"])
    model = build_model(config)
    compile_model(model, config, config.steps_per_epoch)
    rng = np.random.default_rng(0)
    height, width = config.data.image_size
    x = rng.normal(size=(config.batch_size, height, width, 3)).astype("float32")
    y = rng.integers(0, 74, size=(config.batch_size, 8)).astype("int32")
    y[: config.batch_size // 2, 7] = -1  # half the plates 7 characters long
    targets = {"chars": y, "length": (y[:, 7] != -1).astype("int32")}
    load_before = os.getloadavg()
    for _ in range(warmup):
        model.train_on_batch(x, targets)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, targets)
        times.append(1000 * (time.perf_counter() - start))
    return {"row": row, "backbone": config.model.backbone, "jit_compile": jit,
            "batch": config.batch_size, "image_size": [height, width],
            "step_ms": round(statistics.median(times), 2),
            "step_ms_iqr": [round(float(q), 2) for q in np.percentile(times, [25, 75])],
            "loadavg_before": load_before, "loadavg_after": os.getloadavg()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="*", default=list(ROWS))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--one", nargs=2, metavar=("ROW", "JIT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # the measuring process
        row, jit = args.one
        print(json.dumps(measure(row, jit == "1", args.steps, args.warmup)), flush=True)
        return 0

    from lpr_lib.benchmark import measure_in_process
    from lpr_lib.repro import check_clean, quick_mode, write_result

    check_clean("jit_by_backbone")
    if quick_mode():
        args.steps, args.warmup, args.rows = 2, 1, args.rows[:1]
    started = time.time()
    rows = {}
    for row in args.rows:
        rows[row] = {}
        for jit in (True, False):
            r = measure_in_process([__file__, "--one", row, "1" if jit else "0", "--steps",
                                    str(args.steps), "--warmup", str(args.warmup)],
                                   what=f"{row}, jit_compile={jit}")
            rows[row]["jit" if jit else "no_jit"] = r
        on, off = rows[row]["jit"]["step_ms"], rows[row]["no_jit"]["step_ms"]
        rows[row]["faster"] = "jit" if on < off else "no_jit"
        print(f"{row} ({rows[row]['jit']['backbone']}): {on:.1f} ms with XLA, {off:.1f} ms "
              f"without", flush=True)
    write_result("jit_by_backbone", {"steps": args.steps, "warmup": args.warmup, "rows": rows},
                 started=started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
