"""How fast the plate generator renders: plates per second of ``PlateGenerator.sample`` in one
process (no disk), and of :func:`~lpr_lib.synth.generate` (JPEG files and the label file
written) with 1 worker and with every core.

    benchmark_generator(600)     # -> dict (experiments/bench_synth.py and make bench write it)

``sample`` is timed over ``windows`` equal windows of plates: ``sample_plates_per_s`` is the
rate over all of them (the figure of ``results/synth_benchmark.json`` since it was first
written), ``sample_windows_plates_per_s`` each window's, for the spread. On a shared machine
the figures are lower bounds: other processes compete for the cores.
"""
from __future__ import annotations

import os
import tempfile
import time

__all__ = ["benchmark_generator"]


def benchmark_generator(count: int = 600, config=None, workers=None, windows: int = 5,
                        seed: int = 0) -> dict:
    """Plates per second of the generator (``config``: a ``SynthConfig``, default the
    generator's own) in this process and through ``generate`` with each number of
    ``workers`` (default 1 and every core)."""
    from lpr_lib.synth import PlateGenerator, SynthConfig, generate

    config = config or SynthConfig()
    gen = PlateGenerator(config, seed=seed)
    gen.sample()  # warm the glyph cache
    per_window = max(1, count // windows)
    rates, total = [], 0.0
    for _ in range(windows):
        t = time.perf_counter()
        for _ in range(per_window):
            gen.sample()
        seconds = time.perf_counter() - t
        rates.append(per_window / seconds)
        total += seconds
    out = {"count": per_window * windows, "size": list(config.size),
           "sample_plates_per_s": round(per_window * windows / total, 1),
           "sample_windows_plates_per_s": [round(r, 1) for r in rates],
           "generate_plates_per_s": {}}
    for n in sorted(set(workers or {1, os.cpu_count() or 1})):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            generate(count, d, seed=seed, workers=n, progress=False, config=config,
                     size=tuple(config.size))
            out["generate_plates_per_s"][str(n)] = round(count / (time.perf_counter() - t), 1)
    try:
        out["load_average_1min"] = round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover
        pass
    return out
