"""Find the plate inside a loose crop by its colour, and cut the crop down to it.

A detector's box is often loose: car body around the plate, the plate a third of the crop.
The readers of this library are trained on crops whose characters fill the frame, and read
almost none of those (chapter 8). Chinese plates have a flat background of one of a few
colours (blue, yellow, the new-energy green; white and black are left out: a car's paint is
too often one of them), so a loose crop can be tightened before reading without a learned
model:

1. threshold the crop in HSV for each plate colour;
2. close the holes the characters leave (a morphological closing);
3. keep the connected regions shaped like a plate (aspect ratio, share of their box filled,
   a least width), and take the largest;
4. cut the crop to that box with a small margin.

A tight crop loses little (its plate already fills it), and a crop with no plate colour in it
is read as it is. On the validation sets the cut costs a few plates of the tight real crops
and lifts the loose ones several times over (``results/locate_study.json``): it is an
option for crops known to be loose, not the default.

    box = plate_box(rgb)                 # (x0, y0, x1, y1) or None
    rgb = tighten(rgb)                   # the crop cut to the plate (or unchanged)

``Predictor(model, locate=True)`` and ``lpr predict --locate`` apply :func:`tighten` to every
image before reading. The settings (:data:`DEFAULT`) were chosen on the validation sets of
:mod:`lpr_lib.data.valsets`, never on ``real_plates/test``
(``experiments/locate_study.py``, ``results/locate_study.json``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LocateSettings", "DEFAULT", "PLATE_COLOURS", "plate_box", "tighten"]

#: HSV ranges (OpenCV's: hue 0-179, saturation and value 0-255) of the plate backgrounds:
#: (hue low, hue high, least saturation, least value)
PLATE_COLOURS = {"blue": (100, 130, 80, 50), "yellow": (15, 35, 80, 80),
                 "green": (35, 90, 40, 80)}


@dataclass(frozen=True)
class LocateSettings:
    """How a crop is tightened.

    ``margin_x``, ``margin_y``: the margin added around the found box, as a share of its
    width and height (none: of 0, 0.03 x 0.08 and 0.06 x 0.15 the validation sets read best
    with none, ``results/locate_study.json``). ``aspect``: the width/height range of a
    plate-shaped region; ``fill``: the least share of its bounding box a region must fill;
    ``least_width``: its least width, as a share of the crop's.
    """

    margin_x: float = 0.0
    margin_y: float = 0.0
    aspect: tuple[float, float] = (1.5, 6.0)
    fill: float = 0.4
    least_width: float = 0.15


DEFAULT = LocateSettings()


def plate_box(rgb: np.ndarray, settings: LocateSettings = DEFAULT):
    """The box ``(x0, y0, x1, y1)`` of the largest plate-coloured, plate-shaped region of an
    RGB uint8 image, or ``None`` when there is none (no margin added)."""
    import cv2

    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {rgb.shape}")
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2HSV)
    hue, sat, val = (hsv[..., i].astype(np.int16) for i in range(3))
    height, width = rgb.shape[:2]
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, width // 20),
                                                        max(3, height // 12)))
    best = None
    for low, high, least_s, least_v in PLATE_COLOURS.values():
        mask = ((hue >= low) & (hue <= high) & (sat >= least_s) & (val >= least_v))
        mask = cv2.morphologyEx(mask.astype(np.uint8) * 255, cv2.MORPH_CLOSE, kernel)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        for x, y, w, h, area in stats[1:count]:
            if w < settings.least_width * width or h < 6:
                continue
            if not settings.aspect[0] <= w / h <= settings.aspect[1]:
                continue
            filled = area / (w * h)
            if filled < settings.fill:
                continue
            if best is None or area * filled > best[0]:
                best = (area * filled, int(x), int(y), int(x + w), int(y + h))
    return None if best is None else best[1:]


def tighten(rgb: np.ndarray, settings: LocateSettings = DEFAULT) -> np.ndarray:
    """``rgb`` cut to its plate (:func:`plate_box`) with the settings' margin (the crop's
    edges bound it); unchanged when no plate is found."""
    box = plate_box(rgb, settings)
    if box is None:
        return rgb
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = box
    mx, my = int(settings.margin_x * (x1 - x0)), int(settings.margin_y * (y1 - y0))
    x0, y0 = max(0, x0 - mx), max(0, y0 - my)
    x1, y1 = min(width, x1 + mx), min(height, y1 + my)
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])
