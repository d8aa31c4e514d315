"""A synthetic plate composited into a scene-like picture of the front or back of a car, with the
plate's four corners known, so that :mod:`lpr_lib.data.crops` can cut loose and edge crops from
it exactly as from a CCPD photo.

    scene, corners = plate_scene("皖A12345", "blue", np.random.default_rng(0))
    loose_crop(scene, corners, margin=0.5)

What surrounds the plate is drawn, not photographed: car paint with a gradient and a highlight,
a bumper line, a dark grille or intake band with slats, the plate holder (black or chrome) just
larger than the plate, now and then a lamp and a dealer's sticker with letters on it (text that
is not the plate), and a low-frequency texture. The plate is drawn by the generator's renderer
(:func:`lpr_lib.synth.render.render_plate`, with a :class:`~lpr_lib.synth.config.Lettering`),
turned and skewed a little, then the whole scene gets the generator's lighting, shadow, haze and
night (their probabilities and strengths from :func:`default_degradations`), blur scaled to the
plate's height, sensor noise and a JPEG round trip.
"""
from __future__ import annotations

import cv2
import numpy as np

from lpr_lib.synth import degrade
from lpr_lib.synth._random import _n, _u
from lpr_lib.synth.config import Lettering, default_degradations
from lpr_lib.synth.render import layout_for, render_plate

__all__ = ["plate_scene", "PLATE_WIDTH"]

#: the plate's width in the scene, in pixels (CCPD's plates are 130-480 pixels wide)
PLATE_WIDTH = (110.0, 260.0)
_PAINT = [(0.06, 0.06, 0.07), (0.22, 0.22, 0.24), (0.55, 0.56, 0.58), (0.86, 0.86, 0.86),
          (0.55, 0.08, 0.08), (0.08, 0.18, 0.42), (0.62, 0.58, 0.48), (0.15, 0.3, 0.2)]


def plate_scene(text: str, kind: str, rng: np.random.Generator,
                lettering: Lettering | None = None, plate_width=PLATE_WIDTH,
                degradations: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(scene, corners)``: a uint8 RGB picture of ``text`` as a ``kind`` plate on a car,
    and the plate's corners in it (``(4, 2)`` float32, clockwise from bottom-right as CCPD
    gives them). The scene leaves at least a plate height and a half of car on every side of
    the plate. ``degradations``: name -> :class:`Degradation` (default: the generator's)."""
    lettering = lettering or Lettering()
    d = degradations or default_degradations()

    def on(name):
        x = d.get(name)
        return x.strength if (x is not None and x.p > 0 and rng.random() < x.p) else 0.0

    w_mm = layout_for(kind).size_mm[0]
    scale = _u(rng, *plate_width) / w_mm
    plate, alpha = render_plate(text, kind, scale, rng, dirt=on("dirt"),
                                style=lettering.draw(rng))
    ph, pw = plate.shape[:2]
    H = int(round(ph * _u(rng, 5.0, 6.5)))
    W = int(round(pw * _u(rng, 2.2, 2.8)))
    # where the plate goes: its centre, and its corners after a small turn and skew
    cx = W / 2 + _u(rng, -0.12, 0.12) * (W - pw - 4 * ph)
    cy = H / 2 + _u(rng, -0.15, 0.15) * (H - 4 * ph)
    quad = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]]) - np.float32([pw, ph]) / 2
    s = on("perspective")
    if s > 0:
        quad += rng.uniform(-0.04, 0.04, (4, 2)).astype(np.float32) * s * np.float32([pw, ph])
        quad[:, 1] *= 1 + _n(rng, 0, 0.06 * s) * np.sign(quad[:, 0])
    s = on("rotation")
    if s > 0:
        a = np.deg2rad(np.clip(_n(rng, 0, 5.0 * s), -12, 12))
        quad = quad @ np.float32([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T
    quad = (quad + np.float32([cx, cy])).astype(np.float32)
    scene = _car(H, W, quad, rng)
    src = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]])
    m = cv2.getPerspectiveTransform(src, quad)
    warped = cv2.warpPerspective(plate, m, (W, H), flags=cv2.INTER_AREA,
                                 borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpPerspective(alpha, m, (W, H), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
    img = warped * a + scene * (1 - a)
    for name, fn in degrade.PHOTOMETRIC:
        s = on(name)
        if s <= 0:
            continue
        if name == "blur":  # the generator's blur, relative to the plate's height, not the image's
            img = cv2.GaussianBlur(img, (0, 0), _u(rng, 0.3, 0.3 + 1.3 * s) * ph / 48.0)
        elif name == "motion_blur":
            img = _motion_blur(img, max(2, int(round(_u(rng, 2, 2 + 3 * s) * ph / 48.0))), rng)
        else:
            img = fn(img, s, rng)
    out = degrade.finish(img, on, rng)
    corners = quad[[2, 3, 0, 1]]  # clockwise from bottom-right: br, bl, tl, tr
    return np.ascontiguousarray(out), corners.astype(np.float32)


def _motion_blur(img: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    k = np.zeros((n * 2 + 1, n * 2 + 1), np.float32)
    a = np.deg2rad(_n(rng, 0, 20))
    for t in np.linspace(-n, n, 4 * n + 1):
        k[int(round(n + t * np.sin(a))), int(round(n + t * np.cos(a)))] = 1
    return cv2.filter2D(img, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT)


def _car(H: int, W: int, quad: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The car around the plate: float32 (H, W, 3) in [0, 1]."""
    paint = np.array(_PAINT[int(rng.integers(len(_PAINT)))], np.float32) * _u(rng, 0.8, 1.15)
    g = np.linspace(_u(rng, 0.75, 1.2), _u(rng, 0.75, 1.2), H, dtype=np.float32)
    img = np.clip(paint[None, None] * g[:, None, None], 0, 1) * np.ones((H, W, 3), np.float32)
    # texture: smooth blotches of light and dark (reflections of the street)
    small = rng.normal(0, 1, (4, 6, 1)).astype(np.float32)
    field = cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)[..., None]
    img = img * (1 + 0.12 * field)
    (x1, y1), (x2, y2) = quad.min(0), quad.max(0)
    ph, pw = y2 - y1, x2 - x1
    # a highlight band across the body
    yh = int(_u(rng, 0.05, 0.4) * H)
    img[yh:yh + max(2, int(0.08 * H))] = np.clip(img[yh:yh + max(2, int(0.08 * H))] * 1.25
                                                 + 0.08, 0, 1)
    # the grille or air intake: a dark band above or below the plate, with slats
    above = rng.random() < 0.5
    band_h = int(_u(rng, 0.8, 1.8) * ph)
    gap = int(_u(rng, 0.4, 1.2) * ph)
    top = int(y1 - gap - band_h) if above else int(y2 + gap)
    bx1, bx2 = int(_u(rng, 0.05, 0.25) * W), int(_u(rng, 0.75, 0.95) * W)
    if 0 <= top and top + band_h <= H:
        dark = _u(rng, 0.03, 0.18)
        img[top:top + band_h, bx1:bx2] = dark
        step = max(3, int(_u(rng, 0.12, 0.3) * ph))
        for y in range(top + step // 2, top + band_h, step):
            cv2.line(img, (bx1, y), (bx2, y), (dark + 0.15,) * 3, max(1, step // 4))
    # the bumper's edge: a line across the car
    yb = int(y2 + _u(rng, 0.3, 2.0) * ph)
    if yb < H:
        cv2.line(img, (0, yb), (W, yb), tuple(float(v) for v in paint * 0.5), max(1, int(ph / 12)))
    # lamps at the sides
    if rng.random() < 0.5:
        colour = (1.0, _u(rng, 0.5, 0.95), _u(rng, 0.2, 0.8))
        yl = int(_u(rng, 0.1, 0.35) * H)
        for xl in (int(_u(rng, 0.0, 0.12) * W), int(_u(rng, 0.88, 1.0) * W)):
            cv2.ellipse(img, (xl, yl), (int(0.6 * ph), int(0.35 * ph)), 0, 0, 360, colour, -1,
                        cv2.LINE_AA)
    # the plate holder, a little larger than the plate
    holder = (0.05, 0.05, 0.05) if rng.random() < 0.6 else (0.7, 0.7, 0.72)
    hx, hy = _u(rng, 0.02, 0.06) * pw, _u(rng, 0.06, 0.2) * ph
    cv2.rectangle(img, (int(x1 - hx), int(y1 - hy)), (int(x2 + hx), int(y2 + hy)), holder, -1,
                  cv2.LINE_AA)
    # a dealer's sticker below the plate, with letters on it that are not the plate
    if rng.random() < 0.35:
        sy = int(y2 + hy + _u(rng, 0.15, 0.5) * ph)
        sh, sw = int(0.45 * ph), int(_u(rng, 0.4, 0.8) * pw)
        sx = int((x1 + x2) / 2 - sw / 2)
        if sy + sh < H:
            sticker = np.full((sh, sw, 3), 235, np.uint8)  # OpenCV writes text on 8 bits
            word = "".join(rng.choice(list("ABCDEFGHKLMNPRSTUVWXYZ0123456789"), 6))
            cv2.putText(sticker, word, (3, int(0.8 * sh)), cv2.FONT_HERSHEY_SIMPLEX,
                        sh / 36.0, (25, 25, 75), max(1, int(sh / 14)), cv2.LINE_AA)
            x0, x1c = max(0, sx), min(W, sx + sw)
            img[sy:sy + sh, x0:x1c] = sticker[:, x0 - sx:x1c - sx] / np.float32(255)
    return np.clip(img, 0, 1).astype(np.float32)
