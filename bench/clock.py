"""The timing loop of the plate readers' comparison (:mod:`bench.readers`), with nothing but
NumPy and the standard library: it also runs in HyperLPR's own environment, where the
project's library is not installed (``bench/hyperlpr_worker.py`` imports it by path)."""
from __future__ import annotations

import time

import numpy as np


def time_calls(call, inputs, repeats: int = 300, warmup: int = 10,
               max_seconds: float = 4.0) -> dict:
    """Time ``call(x)`` on ``inputs`` in turn (cycling), after ``warmup`` untimed calls:
    ``repeats`` calls or fewer once ``max_seconds`` are spent (never fewer than 5).
    ``median_ms`` and ``iqr_ms`` (25th and 75th percentiles) of the calls."""
    inputs = list(inputs)
    for i in range(warmup):
        call(inputs[i % len(inputs)])
    times = []
    start = time.perf_counter()
    for i in range(repeats):
        x = inputs[i % len(inputs)]
        t = time.perf_counter()
        call(x)
        times.append(time.perf_counter() - t)
        if i >= 4 and time.perf_counter() - start > max_seconds:
            break
    ms = np.array(times) * 1e3
    q1, med, q3 = np.percentile(ms, [25, 50, 75])
    return {"median_ms": round(float(med), 3), "iqr_ms": [round(float(q1), 3), round(float(q3), 3)],
            "repeats": len(times), "warmup": warmup, "inputs": len(inputs)}
