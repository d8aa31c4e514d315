"""How long a model takes to read plates on this CPU: median and spread over repeats of one call
on a batch of preprocessed images, each setting in a fresh process (a backend's thread pools are
fixed when it starts, so "one thread" needs a process of its own).

    python -m lpr_lib.latency MODEL --batch 1 --threads 1
    measure_latency("runs/x/best.keras", batch=1, threads=1)   # -> dict, from Python
    measure_latency("exported/model.onnx", batch=64, threads=0)

``MODEL``: a ``.keras`` file, a run folder or a shipped model's name (timed with Keras'
``predict_on_batch``), or an export (:mod:`lpr_lib.runtime`: a ``.tflite`` file on TensorFlow's
TFLite interpreter, a ``.onnx`` file on ONNX Runtime, a SavedModel folder's ``serve``
function), each timed through the same ``predict_on_batch`` that ``lpr predict`` calls.
``threads=0`` means every core (TensorFlow's default pools; the TFLite interpreter and ONNX
Runtime are given ``os.cpu_count()`` and their default). Each result also says the process's
peak resident memory (``peak_rss_mb``: the runtime, the model and its buffers, after the timed
calls) and its resident memory just before the model was loaded (``rss_before_model_mb``:
the Python process with the runtime's libraries imported, or about to be).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from lpr_lib.benchmark import measure_in_process, peak_rss_mb, rss_mb

__all__ = ["measure_latency", "time_model", "load_runner"]


def load_runner(path, batch: int, threads: int | None = None):
    """``(call, format)``: a function that runs the model at ``path`` once on a fixed random
    batch of ``batch`` preprocessed images, and the model's format (``"keras"`` or an
    export's)."""
    import numpy as np

    from lpr_lib.runtime import is_export, load_exported

    if batch < 1:
        raise ValueError(f"{path}: batch must be at least 1, not {batch}")
    if is_export(path):
        model = load_exported(path, threads=threads)
        fmt = model.format
    else:
        from lpr_lib.predict import load_model

        model = load_model(path)
        fmt = "keras"
    h, w = model.input.shape[1:3]
    x = np.random.default_rng(0).normal(size=(batch, h, w, 3)).astype("float32")

    def call():
        return model.predict_on_batch(x)
    return call, fmt


def time_model(path, batch: int = 1, repeats: int = 50, warmup: int = 5,
               threads: int | None = None, max_seconds: float | None = None) -> dict:
    """Time one call on a batch of the model at ``path`` in this process (``threads``: the
    TFLite interpreter's or ONNX Runtime's; TensorFlow's are set when it starts).

    ``repeats`` calls after ``warmup`` (tracing, the first allocations), or fewer when
    ``max_seconds`` is given and spent (never fewer than 5): ``median_ms`` and ``iqr_ms`` (the
    25th and 75th percentiles) of the calls, ``ms_per_plate`` (the median over ``batch``)."""
    import numpy as np

    rss_before = rss_mb()
    call, fmt = load_runner(path, batch, threads)
    for _ in range(warmup):
        call()
    times = []
    start = time.perf_counter()
    for i in range(repeats):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
        if max_seconds is not None and i >= 4 and time.perf_counter() - start > max_seconds:
            break
    ms = np.array(times) * 1e3
    q1, med, q3 = np.percentile(ms, [25, 50, 75])
    return {"format": fmt, "batch": batch, "repeats": len(times),
            "median_ms": round(float(med), 3),
            "iqr_ms": [round(float(q1), 3), round(float(q3), 3)],
            "ms_per_plate": round(float(med) / batch, 4),
            "peak_rss_mb": max(peak_rss_mb() or 0.0, rss_before or 0.0) or None,
            "rss_before_model_mb": rss_before}


def measure_latency(path, batch: int = 1, threads: int = 1, repeats: int = 50,
                    max_seconds: float | None = None, warmup: int = 5) -> dict:
    """:func:`time_model` in a fresh process limited to ``threads`` threads (0 = every core)."""
    argv = ["-m", "lpr_lib.latency", str(path), "--batch", str(batch), "--repeats",
            str(repeats), "--warmup", str(warmup), "--inner-threads", str(threads)]
    if max_seconds is not None:
        argv += ["--max-seconds", str(max_seconds)]
    result = measure_in_process(argv, threads=threads,
                                what=f"timing {path} (batch {batch}, {threads or 'all'} threads)")
    result["threads"] = threads
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--max-seconds", type=float, default=None,
                   help="stop repeating after this long (at least 5 calls)")
    p.add_argument("--threads", type=int, default=None,
                   help="run in a fresh process limited to this many threads")
    p.add_argument("--inner-threads", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads is not None:
        print(json.dumps(measure_latency(args.model, args.batch, args.threads, args.repeats,
                                         args.max_seconds, args.warmup)))
    else:
        print(json.dumps(time_model(args.model, args.batch, args.repeats, args.warmup,
                                    threads=args.inner_threads, max_seconds=args.max_seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
