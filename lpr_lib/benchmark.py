"""What the benchmarks share (``make bench``'s ``bench/``, ``experiments/bench_train.py``,
:mod:`lpr_lib.latency`): the machine's description and its measured float32 peak, a fresh
process per measurement with its thread limits, the timing of training steps, peak memory.

    describe_machine()              # cores, CPU model and flags, library versions
    matmul_peak()                   # GFLOP/s of a 1024x1024 float32 matrix product, here
    measure_in_process([...], threads=1)   # a command printing one JSON line, in a fresh process

A backend's thread pools are fixed when it starts, so a measurement "on one thread" needs a
process of its own started with :func:`thread_env`; each such process also reports its peak
resident memory (:func:`peak_rss_mb`).
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata

__all__ = ["describe_machine", "cpu_info", "matmul_peak", "thread_env", "measure_in_process",
           "peak_rss_mb", "rss_mb", "time_fit", "spread", "SIMD_FLAGS", "VERSIONED"]

#: the CPU flags that decide how fast float32 and int8 kernels can be (x86 and Arm names)
SIMD_FLAGS = ("sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
              "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile",
              "amx_int8", "amx_bf16", "neon", "asimd", "asimddp", "sve", "sve2")
#: the libraries whose versions a benchmark's figures depend on
VERSIONED = ("tensorflow", "keras", "numpy", "onnx", "onnxruntime", "tf2onnx", "protobuf",
             "ml-dtypes", "jax", "jaxlib", "opencv-python-headless", "pillow")


def spread(values) -> dict:
    """Median and interquartile range (the 25th and 75th percentiles) of ``values``."""
    import numpy as np

    q1, med, q3 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return {"median": float(med), "iqr": [float(q1), float(q3)], "n": len(values)}


def cpu_info(path: str = "/proc/cpuinfo") -> dict:
    """The CPU's model name, flags (all of them, and :data:`SIMD_FLAGS` among them) and
    cache from ``/proc/cpuinfo``; what ``platform`` says elsewhere."""
    info = {"model_name": platform.processor() or platform.machine(), "flags": [],
            "simd_flags": []}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return info
    first = text.split("\n\n")[0]
    fields = {}
    for line in first.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    info["model_name"] = fields.get("model name") or fields.get("Model") or info["model_name"]
    flags = sorted(set((fields.get("flags") or fields.get("Features") or "").split()))
    info["flags"] = flags
    info["simd_flags"] = [f for f in SIMD_FLAGS if f in flags]
    for key, name in (("cache size", "cache"), ("cpu MHz", "mhz"), ("cpu cores", "cores")):
        if key in fields:
            info[name] = fields[key]
    return info


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def describe_machine() -> dict:
    """Cores (and those this process may use), the CPU, the platform and the library versions:
    what a benchmark's figures must be read with."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        usable = os.cpu_count()
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover
        load = None
    return {"cpu_count": os.cpu_count(), "usable_cores": usable, "cpu": cpu_info(),
            "platform": platform.platform(), "versions": _versions(), "load_average": load}


def matmul_peak(n: int = 1024, repeats: int = 20) -> dict:
    """The CPU's achievable float32 rate in this process (its thread pools as they are): GFLOP/s
    of an ``n`` x ``n`` matrix product in TensorFlow, the best of ``repeats`` calls (the figure a
    model's achieved rate is a share of) and their median."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    mm = tf.function(lambda x, y: tf.matmul(x, y))
    mm(a, b).numpy()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        mm(a, b).numpy()
        times.append(time.perf_counter() - t)
    flop = 2 * n ** 3
    return {"n": n, "repeats": repeats, "gflops_best": round(flop / min(times) / 1e9, 1),
            "gflops_median": round(flop / statistics.median(times) / 1e9, 1),
            "loadavg": [round(v, 2) for v in os.getloadavg()]}


def thread_env(threads: int, base: dict | None = None) -> dict:
    """The environment of a fresh process whose TensorFlow (and OpenMP) use ``threads``
    threads; ``0`` leaves the runtimes' defaults (every core)."""
    env = dict(os.environ if base is None else base, TF_CPP_MIN_LOG_LEVEL="3")
    if threads:
        # TensorFlow reads these when it starts (the other backends: OMP_NUM_THREADS)
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1",
                   OMP_NUM_THREADS=str(threads))
    return env


def measure_in_process(argv: list[str], threads: int = 0, timeout: float = 1800,
                       what: str | None = None, cwd=None) -> dict:
    """Run ``python argv...`` (in ``cwd``) in a fresh process limited to ``threads`` threads
    (:func:`thread_env`) and return the JSON object of the last line it prints that starts with
    ``{``; a ``RuntimeError`` with the end of its stderr when it fails."""
    cmd = [sys.executable, *argv]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, env=thread_env(threads),
                             timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what or ' '.join(argv)}: no answer after {timeout:g} s") from None
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode or not lines:
        raise RuntimeError(f"{what or ' '.join(argv)} failed (exit {res.returncode}):\n"
                           f"{res.stderr[-3000:]}")
    return json.loads(lines[-1])


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def rss_mb() -> float | None:
    """This process's resident memory now, in MB (Linux's ``VmRSS``), or ``None``."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far, in MB (Linux's ``VmHWM``, never below the
    memory resident now: the kernel updates its high-water mark lazily; elsewhere
    ``getrusage``), or ``None`` where neither is known."""
    peak = _status_mb("VmHWM")
    if peak is not None:
        return max(peak, rss_mb() or 0.0)
    try:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(kb / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)
    except (ImportError, OSError):  # pragma: no cover
        return None


def time_fit(model, fit_kw: dict, batch: int, steps: int, warmup: int, spe: int = 1) -> dict:
    """Train ``model`` (compiled) with ``model.fit(**fit_kw)`` for ``warmup`` steps (tracing,
    XLA compilation) and ``steps`` more, timing each call of the compiled step with a callback.

    ``img_per_s``: the timed steps' images over their wall time; ``img_per_s_best_quarter``:
    at the mean of the fastest quarter of the calls (what an unloaded machine would approach);
    ``step_ms``: median and interquartile range of the calls (per step); ``cpu_ms_per_image``:
    process CPU time per image. ``fit_kw`` with ``batch_size`` (NumPy arrays, 8 steps an
    epoch) runs as many epochs as needed; else one epoch of ``warmup + steps`` steps.
    """
    import keras

    warmup = -(-warmup // spe) * spe
    steps = -(-steps // spe) * spe
    times = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            times.append((time.perf_counter(), time.process_time()))

    try:
        load_before = os.getloadavg()
    except OSError:  # pragma: no cover
        load_before = (0.0, 0.0, 0.0)
    t0 = time.perf_counter()
    if "batch_size" in fit_kw:  # NumPy arrays: 8 steps per epoch, epoch set-up included
        model.fit(**fit_kw, epochs=-(-(warmup + steps) // 8), verbose=0, callbacks=[Clock()],
                  shuffle=True)
    else:
        model.fit(**fit_kw, epochs=1, steps_per_epoch=warmup + steps, verbose=0,
                  callbacks=[Clock()], shuffle=False)  # a dataset shuffles itself
    # each stamp ends `spe` steps (one per call of the compiled step); skip the warm-up ones
    w = warmup // spe
    wall = [t for t, _ in times]
    cpu = [c for _, c in times]
    timed_steps = (len(wall) - w) * spe
    seconds = wall[-1] - wall[w - 1]
    per_call = sorted(b - a for a, b in zip(wall[w - 1:], wall[w:]))
    best = statistics.mean(per_call[: max(1, len(per_call) // 4)]) / spe  # fastest quarter
    step = spread([1000 * t / spe for t in per_call])
    return {"img_per_s": round(timed_steps * batch / seconds, 1),
            "img_per_s_best_quarter": round(batch / best, 1),
            "ms_per_step": round(1000 * seconds / timed_steps, 1),
            "step_ms": {"median": round(step["median"], 1),
                        "iqr": [round(v, 1) for v in step["iqr"]], "n": step["n"]},
            "cpu_ms_per_image": round(1000 * (cpu[-1] - cpu[w - 1]) / (timed_steps * batch), 2),
            "timed_steps": timed_steps, "first_steps_s": round(wall[w - 1] - t0, 2),
            "loadavg_before": [round(v, 2) for v in load_before],
            "loadavg_after": [round(v, 2) for v in os.getloadavg()]}


def main(argv=None) -> int:
    """``python -m lpr_lib.benchmark --peak`` prints :func:`matmul_peak` (run it in a process
    started with :func:`thread_env`); ``--describe`` prints :func:`describe_machine`."""
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peak", action="store_true", help="print the float32 matmul peak (JSON)")
    p.add_argument("--describe", action="store_true", help="print the machine (JSON)")
    p.add_argument("--n", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args(argv)
    if args.describe:
        print(json.dumps(describe_machine()))
    if args.peak:
        result = matmul_peak(args.n, args.repeats)
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
