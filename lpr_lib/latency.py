"""How long a model takes to read plates on this CPU: median and spread of
``predict_on_batch`` over repeats, each setting in a fresh process (a backend's thread
pools are fixed when it starts, so "one thread" needs a process of its own).

    python -m lpr_lib.latency MODEL.keras --batch 1 --threads 1
    measure_latency("runs/x/best.keras", batch=1, threads=1)   # -> dict, from Python

``threads=0`` leaves the backend's default (every core).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

__all__ = ["measure_latency", "time_model"]


def time_model(path, batch: int = 1, repeats: int = 50, warmup: int = 5) -> dict:
    """Time ``predict_on_batch`` of the model at ``path`` in this process."""
    import numpy as np

    from lpr_lib.predict import load_model

    model = load_model(path)
    h, w = model.input.shape[1:3]
    x = np.random.default_rng(0).normal(size=(batch, h, w, 3)).astype("float32")
    for _ in range(warmup):
        model.predict_on_batch(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - t)
    ms = np.array(times) * 1e3
    q1, med, q3 = np.percentile(ms, [25, 50, 75])
    return {"batch": batch, "repeats": repeats, "median_ms": round(float(med), 3),
            "iqr_ms": [round(float(q1), 3), round(float(q3), 3)],
            "ms_per_plate": round(float(med) / batch, 4)}


def measure_latency(path, batch: int = 1, threads: int = 1, repeats: int = 50) -> dict:
    """:func:`time_model` in a fresh process limited to ``threads`` threads (0 = default)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if threads:
        # TensorFlow reads these when it starts (the other backends: OMP_NUM_THREADS)
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1",
                   OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-m", "lpr_lib.latency", str(path), "--batch",
                          str(batch), "--repeats", str(repeats)], env=env, check=True,
                         capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["threads"] = threads
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--threads", type=int, default=None,
                   help="run in a fresh process limited to this many threads")
    args = p.parse_args(argv)
    if args.threads is not None:
        print(json.dumps(measure_latency(args.model, args.batch, args.threads, args.repeats)))
    else:
        print(json.dumps(time_model(args.model, args.batch, args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
