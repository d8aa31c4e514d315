"""Degradations: what a camera, the weather and a detector's crop do to a clean plate.

Each function takes a float32 RGB image in [0, 1], a strength in [0, 1] and a NumPy
Generator, and returns a new image; :func:`place` puts the flat plate into a crop
(perspective, rotation, crop jitter, truncation). The parameters they draw are
described in :mod:`lpr_lib.synth.config`.
"""
from __future__ import annotations

import cv2
import numpy as np

from lpr_lib.synth._random import _n, _u

#: The deepest a tight crop cuts into the plate at the top or bottom, as a share of its height
#: (the characters of a single-row plate start 25 mm below the top edge of its 140 mm).
TIGHTEST = 0.17


def place(plate: np.ndarray, alpha: np.ndarray, out_hw: tuple[int, int], rng: np.random.Generator,
          perspective: float = 0.0, rotation: float = 0.0, jitter: float = 0.0,
          truncate: float = 0.0, background: np.ndarray | None = None,
          tight: float = 0.5) -> np.ndarray:
    """Warp the plate into an ``out_hw`` crop as a detector's box would frame it.

    The plate's corners are rotated and moved (perspective), the quad is fitted into a
    box whose sides are off by ``jitter`` (a share ``tight`` of the crops tight, the frame cut
    off above and below the characters, as most real crops are; the others loose, with some of
    the car around the plate), and ``truncate``
    (a fraction of the plate width, > 0) cuts one end of the plate off.
    """
    H, W = out_hw
    ph, pw = plate.shape[:2]
    src = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]])
    quad = np.float32([[0, 0], [1, 0], [1, 1], [0, 1]]) * np.float32([pw, ph])
    quad -= quad.mean(0)
    if perspective > 0:
        d = 0.06 * perspective * pw
        quad += rng.uniform(-d, d, (4, 2)).astype(np.float32) * np.float32([1.0, 0.6])
        # a camera off to one side: one vertical edge shorter than the other
        k = _n(rng, 0, 0.08 * perspective)
        quad[:, 1] *= 1 + k * np.sign(quad[:, 0])
    if rotation > 0:
        a = np.deg2rad(np.clip(_n(rng, 0, 6.0 * rotation), -15, 15))
        rot = np.float32([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        quad = quad @ rot.T
    # fit the quad's bounding box into the output box, then loosen/tighten each side
    lo, hi = quad.min(0), quad.max(0)
    quad = (quad - lo) / (hi - lo) * np.float32([W, H])
    m = np.zeros(4, np.float32)  # left, top, right, bottom margins as fractions
    if jitter > 0:
        if rng.random() < 1.0 - tight:  # loose: some of the car around the plate
            m = rng.uniform(-0.03, 0.08, 4).astype(np.float32) * jitter
            m[[1, 3]] *= 1.8  # vertical slack is larger relative to the small height
        else:  # tight, as most real crops: the frame cut off, the characters fill the height
            m = np.float32([_u(rng, -0.1, 0.02), _u(rng, -0.34, -0.04),
                            _u(rng, -0.1, 0.02), _u(rng, -0.34, -0.04)]) * jitter
            m[[1, 3]] = np.maximum(m[[1, 3]], -TIGHTEST)
    if truncate > 0:
        side = 0 if rng.random() < 0.5 else 2
        m[side] = -truncate
    sx = W / (W * (1 + m[0] + m[2]))
    sy = H / (H * (1 + m[1] + m[3]))
    quad[:, 0] = (quad[:, 0] + m[0] * W) * sx
    quad[:, 1] = (quad[:, 1] + m[1] * H) * sy
    M = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    bg = background if background is not None else car_background(out_hw, rng)
    warped = cv2.warpPerspective(plate, M, (W, H), flags=cv2.INTER_AREA,
                                 borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpPerspective(alpha, M, (W, H), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
    return warped * a + bg * (1 - a)


def car_background(hw: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """What surrounds a plate in a crop: car paint or the plate holder, with a gradient."""
    H, W = hw
    base = [(0.08, 0.08, 0.08), (0.25, 0.25, 0.27), (0.6, 0.6, 0.62), (0.9, 0.9, 0.9),
            (0.55, 0.1, 0.1), (0.1, 0.2, 0.45), (0.45, 0.45, 0.4)]
    c = np.array(base[int(rng.integers(len(base)))], np.float32) * _u(rng, 0.7, 1.2)
    g = np.linspace(_u(rng, 0.7, 1.2), _u(rng, 0.7, 1.2), H, dtype=np.float32)
    img = np.clip(c[None, None, :] * g[:, None, None], 0, 1)
    return np.broadcast_to(img, (H, W, 3)).astype(np.float32)


def lighting(img, s, rng):
    b = _u(rng, 1 - 0.45 * s, 1 + 0.35 * s)
    c = _u(rng, 1 - 0.4 * s, 1 + 0.25 * s)
    cast = rng.normal(1, 0.07 * s, 3).astype(np.float32)
    mean = img.mean()
    out = np.clip((img - mean) * c + mean, 0, 1) * b * cast
    gamma = np.exp(_n(rng, 0, 0.25 * s))
    return cv2.pow(np.clip(out, 0, 1), gamma)


def shadow(img, s, rng):
    H, W = img.shape[:2]
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    a = _u(rng, 0, 2 * np.pi)
    px, py = _u(rng, 0.2, 0.8) * W, _u(rng, 0.2, 0.8) * H
    d = (xx - px) * np.cos(a) + (yy - py) * np.sin(a)
    edge = np.clip(d / max(1.0, 0.03 * W) + 0.5, 0, 1)
    dark = _u(rng, 1 - 0.65 * s, 1 - 0.25 * s)
    return img * (1 - (1 - dark) * edge)[..., None]


def haze(img, s, rng):
    a = _u(rng, 0.15, 0.55) * s
    fog = np.float32(_u(rng, 0.7, 0.95)) * np.array([1.0, 1.0, _u(rng, 1.0, 1.05)],
                                                        np.float32)
    return np.clip(img * (1 - a) + fog * a, 0, 1)


def night(img, s, rng):
    H, W = img.shape[:2]
    level = _u(rng, 0.18, 0.45) if s > 0 else 1.0
    level = 1 - (1 - level) * s
    tint = np.array([1.0, _u(rng, 0.85, 1.0), _u(rng, 0.6, 0.9)], np.float32)
    out = img * level * tint
    # a lamp's glow from one side
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    cx, cy = _u(rng, -0.2, 1.2) * W, _u(rng, -0.5, 1.5) * H
    glow = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.6 * W) ** 2))
    out = out + (glow * _u(rng, 0.0, 0.5) * s)[..., None] * img * tint
    return np.clip(out + rng.normal(0, 0.03 * s, img.shape).astype(np.float32), 0, 1)


def blur(img, s, rng):
    sigma = _u(rng, 0.3, 0.3 + 1.3 * s) * img.shape[0] / 48.0
    return cv2.GaussianBlur(img, (0, 0), sigma)


def motion_blur(img, s, rng):
    n = int(round(_u(rng, 2, 2 + 3 * s) * img.shape[0] / 48.0))
    n = max(2, n)
    k = np.zeros((n * 2 + 1, n * 2 + 1), np.float32)
    a = np.deg2rad(_n(rng, 0, 20))
    for t in np.linspace(-n, n, 4 * n + 1):
        k[int(round(n + t * np.sin(a))), int(round(n + t * np.cos(a)))] = 1
    return cv2.filter2D(img, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT)


def low_res(img, s, rng):
    H, W = img.shape[:2]
    f = _u(rng, 1 - 0.7 * s, 1 - 0.1 * s)
    h, w = max(4, int(round(H * f))), max(8, int(round(W * f)))
    small = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)


def noise(img, s, rng):
    sigma = _u(rng, 0.005, 0.06 * s + 0.005)
    n = rng.normal(0, sigma, img.shape[:2] + (1,)) * 0.7 + rng.normal(0, sigma, img.shape) * 0.5
    return np.clip(img + n.astype(np.float32), 0, 1)


def jpeg(img_u8: np.ndarray, s, rng) -> np.ndarray:
    """JPEG round trip of a uint8 RGB image at quality 95 - 70 * s .. 95."""
    q = int(_u(rng, 95 - 70 * s, 95))
    ok, buf = cv2.imencode(".jpg", img_u8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


#: Photometric degradations in the order they are applied (at twice the output size).
PHOTOMETRIC = (("lighting", lighting), ("shadow", shadow), ("haze", haze), ("night", night),
               ("blur", blur), ("motion_blur", motion_blur))


def finish(img: np.ndarray, on, rng: np.random.Generator) -> np.ndarray:
    """The last steps of every render, in this order: sensor noise on the float image (when
    ``on("noise")``, the drawn strength, is above 0), quantisation to uint8, then JPEG
    compression (when ``on("jpeg")`` is). ``on`` draws whether a degradation applies, as the
    generator and the scene renderer do, so the draws of ``rng`` stay in their order."""
    s = on("noise")
    if s > 0:
        img = noise(img, s, rng)
    out = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    s = on("jpeg")
    if s > 0:
        out = jpeg(out, s, rng)
    return out
