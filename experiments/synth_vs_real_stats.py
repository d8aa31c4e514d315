"""Chapter 2's image statistics: real test crops beside synthetic blue plates.

    python experiments/synth_vs_real_stats.py      # needs ../shared/real_plates (seconds)

Brightness, saturation, contrast and sharpness of 1,000 real test crops and of 1,000
synthetic blue plates (seed 5), each as its quartiles and its histogram (30 bins, densities):
``results/synth_vs_real_stats.json``, which chapter 2 prints and draws.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

# this checkout's library, not whichever one the environment installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lpr_lib.repro import REPO_ROOT, SHARED_REAL, write_result  # noqa: E402

N = 1000


def measure(n: int = N) -> dict:
    """The named image statistics of ``n`` real test crops and ``n`` synthetic blue plates."""
    from lpr_lib.synth import PlateGenerator, SynthConfig
    from lpr_lib.synth.montage import real_samples
    from lpr_lib.synth.stats import image_stats

    real = real_samples(SHARED_REAL / "test", n, seed=0)
    g = PlateGenerator(SynthConfig(kinds={"blue": 1}), seed=5)
    return {"real test crops": image_stats(real),
            "synthetic blue": image_stats([g.sample()[0] for _ in range(n)])}


def main() -> int:
    if not SHARED_REAL.is_dir():
        print(f"{SHARED_REAL.name} is absent: nothing to measure", file=sys.stderr)
        return 1
    from lpr_lib.synth.stats import compare, histograms

    started = time.time()
    named = measure()
    path = write_result("synth_vs_real_stats",
                        {"quartiles": compare(named), "histograms": histograms(named)},
                        config={"n": N, "bins": 30}, started=started)
    print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
