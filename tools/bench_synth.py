"""Benchmark the plate generator: plates/second in-process, and through ``generate`` with 1
worker and with all cores. Prints the figures and writes ``results/synth_benchmark.json``.

    .venv/bin/python tools/bench_synth.py [--count 600]

On a shared machine the figures are lower bounds: other processes compete for the cores.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from lpr_lib.repro import quick_mode, write_result
from lpr_lib.synth import PlateGenerator, SynthConfig, generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=120 if quick_mode() else 600)
    args = ap.parse_args()
    started = time.time()
    config = SynthConfig()
    gen = PlateGenerator(config, seed=0)
    gen.sample()  # warm the glyph cache
    t = time.perf_counter()
    for _ in range(args.count):
        gen.sample()
    in_process = args.count / (time.perf_counter() - t)
    out = {"count": args.count, "size": list(config.size),
           "sample_plates_per_s": round(in_process, 1), "generate_plates_per_s": {}}
    for workers in sorted({1, os.cpu_count() or 1}):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            generate(args.count, d, seed=0, workers=workers, progress=False)
            rate = args.count / (time.perf_counter() - t)
            out["generate_plates_per_s"][str(workers)] = round(rate, 1)
    try:
        out["load_average_1min"] = round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover
        pass
    path = write_result("synth_benchmark", out, config=config.to_dict(), seed=0, started=started)
    print(f"PlateGenerator.sample: {out['sample_plates_per_s']} plates/s (one process, no disk)")
    for w, v in out["generate_plates_per_s"].items():
        print(f"generate(), {w} worker(s), JPEG files written: {v} plates/s")
    print(f"load average at the end: {out.get('load_average_1min')} -> {path}")


if __name__ == "__main__":
    main()
