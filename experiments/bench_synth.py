"""Benchmark the plate generator: plates/second in-process, and through ``generate`` with 1
worker and with all cores. Prints the figures and writes ``results/synth_benchmark.json``.

    .venv/bin/python experiments/bench_synth.py [--count 600]

The measuring is :func:`lpr_lib.synth.bench.benchmark_generator` (``make bench`` uses it too).
On a shared machine the figures are lower bounds: other processes compete for the cores.
"""
from __future__ import annotations

import argparse
import time

from lpr_lib.repro import quick_mode, write_result
from lpr_lib.synth import SynthConfig
from lpr_lib.synth.bench import benchmark_generator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=120 if quick_mode() else 600)
    args = ap.parse_args()
    started = time.time()
    config = SynthConfig()
    out = benchmark_generator(args.count, config)
    path = write_result("synth_benchmark", out, config=config.to_dict(), seed=0, started=started)
    print(f"PlateGenerator.sample: {out['sample_plates_per_s']} plates/s (one process, no disk)")
    for w, v in out["generate_plates_per_s"].items():
        print(f"generate(), {w} worker(s), JPEG files written: {v} plates/s")
    print(f"load average at the end: {out.get('load_average_1min')} -> {path}")


if __name__ == "__main__":
    main()
