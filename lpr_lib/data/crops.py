"""Crops of a plate as a detector would give them, cut from a photo whose plate corners are
known (a CCPD scene, or a synthetic scene from :func:`lpr_lib.synth.scene.plate_scene`).

    box = plate_box(corners)                    # the plate's axis-aligned box in the photo
    loose_crop(photo, corners, margin=0.5)      # with half a plate height of car on every side
    edge_crop(photo, corners, "left", 0.05)     # a tight box shifted right: 5% of the plate cut
    tight_crop(photo, corners)                  # the box itself (margin 0)

``corners`` are the plate's four corners, ``(4, 2)`` x and y in pixels, in any order (CCPD gives
them clockwise from bottom-right). A *loose* crop has car body around the plate: each side of
the box is moved out by ``margin`` plate heights (the height of the box: a plate three times as
wide as it is high, at margin 1, fills 60% of the crop's width and a third of its height). An
*edge* crop is the tight box moved, size kept, so that one side cuts ``cut`` of the plate off
(a share of the box's width for ``left``/``right``, of its height for ``top``/``bottom``) and
the opposite side shows as much of what is beyond the plate. Boxes are clipped to the photo, as
a detector's are. NumPy only (no OpenCV, no TensorFlow).
"""
from __future__ import annotations

import numpy as np

__all__ = ["EDGE_SIDES", "plate_box", "margin_box", "shifted_box", "clip_box", "cut_box",
           "loose_crop", "edge_crop", "tight_crop"]

#: the sides an edge crop can cut the plate at
EDGE_SIDES = ("left", "right", "top", "bottom")


def plate_box(corners) -> tuple[float, float, float, float]:
    """``(x1, y1, x2, y2)``: the axis-aligned box around the plate's ``corners`` (x2, y2 are
    the largest corner coordinates: the box is ``x2 - x1`` wide)."""
    pts = np.asarray(corners, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 2 or not np.isfinite(pts).all():
        raise ValueError(f"corners must be at least two finite (x, y) points, got {corners!r}")
    (x1, y1), (x2, y2) = pts.min(0), pts.max(0)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"the corners {pts.tolist()} enclose no area")
    return float(x1), float(y1), float(x2), float(y2)


def margin_box(box, margin) -> tuple[float, float, float, float]:
    """``box`` with each side moved out by ``margin`` times the box's height (a number, or
    ``(left, top, right, bottom)``; negative values move a side in)."""
    x1, y1, x2, y2 = box
    left, top, right, bottom = _four(margin)
    h = y2 - y1
    return x1 - left * h, y1 - top * h, x2 + right * h, y2 + bottom * h


def shifted_box(box, side: str, cut: float) -> tuple[float, float, float, float]:
    """``box`` moved (its size kept) so that its ``side`` cuts ``cut`` of the plate off: a
    share of the box's width for ``left`` and ``right``, of its height for ``top`` and
    ``bottom``."""
    if side not in EDGE_SIDES:
        raise ValueError(f"side must be one of {', '.join(EDGE_SIDES)}, got {side!r}")
    if not 0 <= cut < 1:
        raise ValueError(f"cut must be in [0, 1), got {cut}")
    x1, y1, x2, y2 = box
    dx = cut * (x2 - x1)
    dy = cut * (y2 - y1)
    move = {"left": (dx, 0.0), "right": (-dx, 0.0), "top": (0.0, dy), "bottom": (0.0, -dy)}[side]
    return x1 + move[0], y1 + move[1], x2 + move[0], y2 + move[1]


def clip_box(box, image_hw) -> tuple[int, int, int, int]:
    """``box`` rounded outwards to whole pixels (x2, y2 exclusive) and clipped to an image of
    ``image_hw`` = (height, width); a box that misses the image raises ``ValueError``."""
    h, w = image_hw[:2]
    x1, y1, x2, y2 = box
    out = (max(0, int(np.floor(x1))), max(0, int(np.floor(y1))),
           min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2))))
    if out[2] - out[0] < 1 or out[3] - out[1] < 1:
        raise ValueError(f"the box {tuple(round(v, 1) for v in box)} lies outside the "
                         f"{w}x{h} image")
    return out


def cut_box(image: np.ndarray, box) -> np.ndarray:
    """The pixels of ``image`` inside ``box`` (clipped to the image, :func:`clip_box`): a
    copy, so that writing into the crop leaves the photo as it was."""
    x1, y1, x2, y2 = clip_box(box, image.shape)
    return np.ascontiguousarray(image[y1:y2, x1:x2]).copy()


def loose_crop(image: np.ndarray, corners, margin) -> np.ndarray:
    """The plate with ``margin`` plate heights of what surrounds it on every side
    (:func:`margin_box`), clipped to the photo."""
    return cut_box(image, margin_box(plate_box(corners), margin))


def edge_crop(image: np.ndarray, corners, side: str, cut: float) -> np.ndarray:
    """The plate's tight box shifted so that ``side`` cuts ``cut`` of the plate off
    (:func:`shifted_box`), clipped to the photo."""
    return cut_box(image, shifted_box(plate_box(corners), side, cut))


def tight_crop(image: np.ndarray, corners) -> np.ndarray:
    """The plate's axis-aligned box, nothing around it."""
    return cut_box(image, plate_box(corners))


def _four(margin) -> tuple[float, float, float, float]:
    if np.isscalar(margin):
        m = float(margin)
        return m, m, m, m
    values = tuple(float(v) for v in margin)
    if len(values) != 4:
        raise ValueError(f"margin must be a number or (left, top, right, bottom), got {margin!r}")
    return values
