"""Simple image statistics to compare synthetic plates with real crops, number by number.

Looking at a montage is the first realism check; these numbers are the second: if the
synthetic plates are much sharper, brighter or more saturated than the real ones, a model
trained on them meets a different world on real plates.
"""
from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from lpr_lib.plates import DEFAULT_SIZE

STATS = ("brightness", "saturation", "contrast", "sharpness")


def image_stats(images: Iterable[np.ndarray],
                size: tuple[int, int] = DEFAULT_SIZE) -> dict[str, np.ndarray]:
    """Per-image statistics of uint8 RGB images (resized to ``size`` first, as a model sees them).

    brightness: mean of V in HSV (0..1); saturation: mean S (0..1); contrast: standard deviation
    of the grey image (0..1); sharpness: variance of the Laplacian of the grey image (0..1 scale).
    """
    out = {k: [] for k in STATS}
    for img in images:
        img = np.asarray(img)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"expected uint8 RGB images, got {img.dtype} {img.shape}")
        img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32) / 255.0
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        out["brightness"].append(hsv[..., 2].mean())
        out["saturation"].append(hsv[..., 1].mean())
        out["contrast"].append(grey.std())
        out["sharpness"].append(cv2.Laplacian(grey, cv2.CV_32F).var())
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


def compare(named: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, list[float]]]:
    """Quartiles (25%, 50%, 75%) of each statistic for each named set."""
    return {name: {k: [round(float(q), 4) for q in np.quantile(v, [0.25, 0.5, 0.75])]
                   for k, v in st.items()} for name, st in named.items()}


def histograms(named: dict[str, dict[str, np.ndarray]], bins: int = 30) -> dict:
    """Each statistic's histogram per named set, as densities on shared bins from 0 to the
    largest 99th percentile (values above it counted in the last bin): what
    :func:`stats_figure` draws, small enough for a results file."""
    out = {}
    for key in STATS:
        hi = float(max(np.quantile(st[key], 0.99) for st in named.values()))
        out[key] = {"range": [0.0, round(hi, 6)], "density": {
            name: [round(float(d), 6) for d in np.histogram(
                np.clip(st[key], 0, hi), bins=bins, range=(0, hi), density=True)[0]]
            for name, st in named.items()}}
    return out


def stats_figure(named: dict[str, dict[str, np.ndarray]] | None = None, bins: int = 30,
                 hists: dict | None = None):
    """Histograms of each statistic, one colour per named set (densities, so sizes may differ),
    from the per-image statistics or from :func:`histograms`' output (``hists``)."""
    import matplotlib.pyplot as plt

    hists = hists if hists is not None else histograms(named, bins)
    fig, axes = plt.subplots(1, len(STATS), figsize=(3.2 * len(STATS), 2.6))
    for ax, key in zip(axes, STATS):
        lo, hi = hists[key]["range"]
        for name, density in hists[key]["density"].items():
            edges = np.linspace(lo, hi, len(density) + 1)
            ax.stairs(density, edges, fill=True, alpha=0.5, label=name)
        ax.set_title(key)
        ax.set_yticks([])
    axes[0].legend(fontsize=8)
    return fig
