"""Figures for the data chapter: image grids, augmentation and whitening, the CCPD warp, and
the pipeline benchmark. Each function returns a matplotlib figure."""
from __future__ import annotations

import numpy as np

from lpr_lib.repro import DEFAULT_SEED

__all__ = ["image_grid", "augmentation_grid", "whitening_figure", "scene_with_plate",
           "warp_figure", "benchmark_figure", "file_split_leak"]


def _to_display(image) -> np.ndarray:
    """uint8, [0, 1] floats, or whitened floats (rescaled to their own min..max) for imshow."""
    x = np.asarray(image)
    if x.dtype == np.uint8:
        return x
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0 and hi <= 1:
        return x
    return (x - lo) / max(hi - lo, 1e-6)


def image_grid(images, titles=None, ncols: int = 4, width: float = 2.0):
    """Images in a grid, each with an optional title (plate texts render in the CJK font)."""
    import matplotlib.pyplot as plt

    from lpr_lib.book import _use_cjk_font

    _use_cjk_font()
    images = list(images)
    nrows = (len(images) + ncols - 1) // ncols
    h, w = np.asarray(images[0]).shape[:2]
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * width, nrows * width * h / w + 0.4
                                                     * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, img) in enumerate(zip(axes.flat, images)):
        ax.imshow(_to_display(img))
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    return fig


def augmentation_grid(image, config=None, n: int = 12, seed: int = DEFAULT_SEED, ncols: int = 4):
    """The first image untouched, then ``n - 1`` augmented copies (seeds seed, seed+1, ...)."""
    from lpr_lib.data.augmentation import augment

    out = [np.asarray(image)] + [augment(image, seed + i, config) for i in range(n - 1)]
    return image_grid(out, ["original"] + [f"seed {seed + i}" for i in range(n - 1)], ncols)


def whitening_figure(images, titles=None):
    """Rows: the images as they are, and after per-image standardisation (shown rescaled);
    the last column: the pixel histograms before and after."""
    import matplotlib.pyplot as plt

    from lpr_lib.book import _use_cjk_font
    from lpr_lib.data.preprocessing import preprocess

    _use_cjk_font()
    raw = [np.asarray(preprocess(i, whiten=False)) for i in images]
    white = [np.asarray(preprocess(i, whiten=True)) for i in images]
    n = len(images)
    fig, axes = plt.subplots(2, n + 1, figsize=(2.1 * n + 3, 2.8),
                             gridspec_kw={"width_ratios": [1] * n + [1.3]})
    for j in range(n):
        axes[0, j].imshow(raw[j])
        axes[1, j].imshow(_to_display(white[j]))
        axes[0, j].set_title(titles[j] if titles else "", fontsize=9)
        for r in (0, 1):
            axes[r, j].axis("off")
    for x in raw:
        axes[0, n].hist(x.ravel(), bins=40, histtype="step")
    for x in white:
        axes[1, n].hist(x.ravel(), bins=40, histtype="step")
    axes[0, n].set_title("pixels in [0, 1]", fontsize=9)
    axes[1, n].set_title("whitened: mean 0, std 1", fontsize=9)
    return fig


def scene_with_plate(plate: np.ndarray, corners, scene_size=(300, 400), seed: int = 0):
    """Paste ``plate`` into a noisy grey scene so that its corners land on ``corners``
    (clockwise from bottom-right, CCPD's order): a synthetic CCPD photograph."""
    import cv2

    h, w = plate.shape[:2]
    src = np.float32([[w - 1, h - 1], [0, h - 1], [0, 0], [w - 1, 0]])
    matrix = cv2.getPerspectiveTransform(src, np.float32(corners))
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:scene_size[0], 0:scene_size[1]]
    ground = 90 + 60 * ys / scene_size[0] + 20 * np.sin(xs / 37.0)  # a smooth "car park"
    scene = (ground[..., None] + rng.normal(0, 3, (*scene_size, 3))).clip(0, 255).astype(np.uint8)
    warped = cv2.warpPerspective(plate, matrix, scene_size[::-1])
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, scene_size[::-1]) > 127
    scene[mask] = warped[mask]
    return scene


def warp_figure(scenes, crops, titles=None):
    """Each scene with its plate's quadrilateral drawn, above the warped-out crop."""
    import matplotlib.pyplot as plt

    from lpr_lib.book import _use_cjk_font

    _use_cjk_font()
    n = len(crops)
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n, 3.8), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1]})
    for j, ((scene, corners), crop) in enumerate(zip(scenes, crops)):
        axes[0, j].imshow(scene)
        quad = np.vstack([corners, corners[:1]])
        axes[0, j].plot(quad[:, 0], quad[:, 1], "-", color="yellow", lw=1.2)
        axes[0, j].plot(*corners[0], "o", color="red", ms=4)  # bottom-right: CCPD's first
        axes[1, j].imshow(crop)
        axes[1, j].set_title(titles[j] if titles else "", fontsize=9)
        for r in (0, 1):
            axes[r, j].axis("off")
    return fig


def benchmark_figure(result: dict):
    """Horizontal bars: images per second of each pipeline, and the training step's line."""
    import matplotlib.pyplot as plt

    pipes = result["pipelines"]
    names = list(pipes)[::-1]
    rates = [pipes[k]["img_per_s"] for k in names]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.2))
    ax.barh(names, rates, color="tab:blue")
    ax.set_xscale("log")
    ax.set_xlabel("images per second (log)")
    if "train_step" in result:
        need = result["train_step"]["img_per_s"]
        ax.axvline(need, color="tab:red", ls="--")
        # above the axes, where no bar is: inside, the label sat on the top bar
        ax.text(need, 1.01, f"training step: {need:.0f} img/s", color="tab:red", ha="center",
                va="bottom", fontsize=9, transform=ax.get_xaxis_transform())
    for y, r in enumerate(rates):
        ax.text(r * 1.05, y, f"{r:.0f}", va="center", fontsize=8)
    ax.set_xlim(right=max(rates) * 3)  # room for the longest bar's number
    return fig


def file_split_leak(samples, val_fraction: float = 0.1, seed: int = DEFAULT_SEED) -> dict:
    """What a split by *file* would do: how many validation images have a plate text that
    also occurs in training (compare :func:`split_by_plate`, where the answer is 0)."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(samples))
    n_val = int(round(val_fraction * len(samples)))
    val, train = [samples[i] for i in idx[:n_val]], [samples[i] for i in idx[n_val:]]
    train_texts = {s.text for s in train}
    leaked = [s for s in val if s.text in train_texts]
    return {"val_images": len(val), "leaked_images": len(leaked),
            "leaked_share": round(len(leaked) / max(len(val), 1), 3)}
