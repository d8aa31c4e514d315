"""How long a model takes to read plates on this CPU: median and spread over repeats of
Keras' ``predict_on_batch`` (a ``.keras`` file) or of the TFLite interpreter (a ``.tflite``
file, batch 1), each setting in a fresh process (a backend's thread pools are fixed when it
starts, so "one thread" needs a process of its own).

    python -m lpr_lib.latency MODEL.keras --batch 1 --threads 1
    measure_latency("runs/x/best.keras", batch=1, threads=1)   # -> dict, from Python
    measure_latency("exported/model.tflite", batch=1, threads=1)

``threads=0`` leaves the runtime's default (every core).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

__all__ = ["measure_latency", "time_model"]


def _tflite_runner(path, batch: int, threads: int | None):
    import warnings

    import numpy as np

    from lpr_lib._tf import require_tensorflow

    tf = require_tensorflow(f"timing the TFLite model {path}")
    if batch != 1:
        raise ValueError(f"{path}: the exported TFLite model reads one plate at a time "
                         f"(batch 1), not {batch}")
    with warnings.catch_warnings():  # "use ai_edge_litert": not a dependency of ours
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=threads or None)
    runner = interpreter.get_signature_runner()
    name, detail = next(iter(runner.get_input_details().items()))
    x = np.random.default_rng(0).normal(size=detail["shape"]).astype("float32")
    return lambda: runner(**{name: x})


def time_model(path, batch: int = 1, repeats: int = 50, warmup: int = 5,
               threads: int | None = None) -> dict:
    """Time one call on a batch of the model at ``path`` in this process (``threads``: the
    TFLite interpreter's; Keras' are set when its backend starts)."""
    import numpy as np

    if str(path).endswith(".tflite"):
        call = _tflite_runner(path, batch, threads)
    else:
        from lpr_lib.predict import load_model

        model = load_model(path)
        h, w = model.input.shape[1:3]
        x = np.random.default_rng(0).normal(size=(batch, h, w, 3)).astype("float32")

        def call():
            return model.predict_on_batch(x)
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
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
                          str(batch), "--repeats", str(repeats), "--inner-threads",
                          str(threads)], env=env, check=True, capture_output=True, text=True)
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
    p.add_argument("--inner-threads", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads is not None:
        print(json.dumps(measure_latency(args.model, args.batch, args.threads, args.repeats)))
    else:
        print(json.dumps(time_model(args.model, args.batch, args.repeats,
                                    threads=args.inner_threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
