"""Chapter 2's label noise: how often each noise mode corrupts a label.

    .venv/bin/python experiments/label_noise.py     # about half a minute on one core

5,000 samples of a generator with ``label_noise=0.2`` and ``label_noise_truncate=0.3`` (seed
4): the share of clean labels, substituted characters and truncated plates, in
``results/label_noise.json``. Chapter 2 prints it and draws a few noisy samples.
"""
from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

# this checkout's library, not whichever one the environment installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N, SEED, NOISE, TRUNCATE = 5000, 4, 0.2, 0.3


def shares(n: int = N) -> dict[str, float]:
    """The share of each noise mode ("clean" for none) among ``n`` generated samples."""
    from lpr_lib.synth import PlateGenerator, SynthConfig

    g = PlateGenerator(SynthConfig(label_noise=NOISE, label_noise_truncate=TRUNCATE), seed=SEED)
    counts = Counter(g.sample_record(g.rng).noise or "clean" for _ in range(n))
    return {mode: round(c / n, 4) for mode, c in counts.most_common()}


def main() -> int:
    from lpr_lib.repro import REPO_ROOT, write_result

    started = time.time()
    config = {"n": N, "seed": SEED, "label_noise": NOISE, "label_noise_truncate": TRUNCATE}
    path = write_result("label_noise", {"shares": shares()}, config=config, seed=SEED,
                        started=started)
    print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
