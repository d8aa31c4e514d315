"""Figures of plates: a grid of images with their labels, and synthetic-vs-real panels."""
from __future__ import annotations

from pathlib import Path
from collections.abc import Sequence

import numpy as np

from lpr_lib.plates import DEFAULT_SIZE


def load_rgb(path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read an image file as uint8 RGB (resized to ``size`` = (H, W) when given)."""
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    img = img[..., ::-1]
    if size is not None:
        img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img)


def plate_grid(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, ncols: int = 4,
               width: float = 1.9, title: str | None = None, fontsize: int = 9):
    """A matplotlib figure showing ``images`` in a grid, each with its title (e.g. the text)."""
    import matplotlib.pyplot as plt

    n = len(images)
    if n == 0:
        raise ValueError("plate_grid needs at least one image")
    nrows = -(-n // ncols)
    h, w = images[0].shape[:2]
    figsize = (ncols * width, nrows * width * h / w + 0.35 * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i])
            if titles is not None:
                ax.set_title(titles[i], fontsize=fontsize, pad=2)
    if title:
        fig.suptitle(title)
    return fig


def synth_vs_real(synth: dict[str, Sequence[np.ndarray]], real: Sequence[np.ndarray] | None = None,
                  per_row: int = 4, real_title: str = "real crops (../shared/real_plates)",
                  width: float = 1.7):
    """One row per plate kind of synthetic plates, then rows of real crops if given.

    ``synth``: kind -> images (the first ``per_row`` are shown); ``real``: images.
    Real rows are labelled as such so that a reader never mistakes one for the other.
    """
    import matplotlib.pyplot as plt

    rows = [(f"synthetic: {k}", list(v)[:per_row]) for k, v in synth.items()]
    if real is not None and len(real):
        real = list(real)
        for i in range(0, min(len(real), 3 * per_row), per_row):
            rows.append((real_title if i == 0 else "", real[i:i + per_row]))
    h, w = rows[0][1][0].shape[:2]
    fig, axes = plt.subplots(len(rows), per_row,
                             figsize=(per_row * width + 1.6, len(rows) * width * h / w * 1.12),
                             squeeze=False)
    for r, (label, imgs) in enumerate(rows):
        for c in range(per_row):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            for sp in ax.spines.values():
                sp.set_visible(False)
            if c < len(imgs):
                ax.imshow(imgs[c])
        axes[r, 0].set_ylabel(label.replace("synthetic: ", ""), rotation=0, ha="right",
                              va="center", fontsize=9,
                              color="firebrick" if label.startswith("real") else "black")
    fig.subplots_adjust(wspace=0.04, hspace=0.08, left=0.2, right=0.99, top=0.98, bottom=0.01)
    return fig


def real_samples(folder: Path, n: int, size: tuple[int, int] = DEFAULT_SIZE, seed: int = 0):
    """``n`` random real crops from ``folder`` (read-only; nothing is copied)."""
    files = sorted(Path(folder).glob("*.jpg"))
    if not files:
        raise FileNotFoundError(f"{folder}: no .jpg files")
    pick = np.random.default_rng(seed).choice(len(files), size=min(n, len(files)), replace=False)
    return [load_rgb(files[i], size) for i in sorted(pick)]
