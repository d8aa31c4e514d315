"""The renderer's and the degradations' random draws, as Python floats.

A NumPy float64 scalar multiplied into a float32 image upcasts the whole image to float64;
a Python float does not. Both :mod:`lpr_lib.synth.render` and :mod:`lpr_lib.synth.degrade`
draw through these two functions, from the NumPy Generator they are given.
"""
from __future__ import annotations

import numpy as np


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    """A uniform draw as a Python float (a NumPy float64 scalar would upcast float32 images)."""
    return float(rng.uniform(low, high))


def _n(rng: np.random.Generator, mean: float, sd: float) -> float:
    """A normal draw as a Python float."""
    return float(rng.normal(mean, sd))
