"""The training augmentation, in NumPy and OpenCV: one definition for every backend.

:func:`augment` is the seed's augmentation (brightness, contrast, saturation, Gaussian and
salt-and-pepper noise) plus what real crops need (an affine jitter of the framing, a lower
capture resolution, a colour cast). The ``tf.data`` pipeline calls it per batch through
``tf.numpy_function`` (:mod:`lpr_lib.data.pipeline`), the TensorFlow-free input path calls it
directly (:mod:`lpr_lib.data.pydataset`): the two cannot drift apart. This module needs neither
TensorFlow nor Keras.

Every random draw comes from a stream of its own, derived from ``seed`` (an int or a sequence
of ints) with :class:`numpy.random.SeedSequence`: the result is a function of the images and
the seed alone, and switching one augmentation off (or on) leaves every other draw unchanged.
"""
from __future__ import annotations

import numpy as np

from lpr_lib.config import FILL_MODES, AugmentConfig
from lpr_lib.repro import DEFAULT_SEED

__all__ = ["AugmentConfig", "augment", "affine_matrix"]  # AugmentConfig: from lpr_lib.config

# the named streams of one call of augment() (spawn keys under the call's seed)
_COIN, _AFFINE, _COLOUR, _NOISE_STD, _NOISE, _SALT_PEPPER, _DOWNSCALE = range(7)
# ... of affine_matrix(), and of the colour operations
_ANGLE, _SHEAR, _SHEAR_Y, _ZOOM, _JITTER, _SHIFT = range(6)
_BRIGHTNESS, _CONTRAST, _SATURATION, _HUE, _GAIN, _ORDER = range(6)


def _augment_config(augment) -> AugmentConfig | None:
    """``True`` -> the default config, ``False``/``None`` -> no augmentation, a mapping -> its
    fields over the defaults, an :class:`AugmentConfig` -> itself."""
    if augment is True:
        return AugmentConfig()
    if augment in (False, None):
        return None
    if isinstance(augment, dict):
        return AugmentConfig.from_dict(augment)
    return augment


# --------------------------------------------------------------------------- random streams

def _seed_sequence(seed) -> np.random.SeedSequence:
    """A :class:`numpy.random.SeedSequence` from an int, a sequence of ints (negative ones are
    taken modulo 2**64, as the int64 keys of ``tf.data`` come) or a SeedSequence."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    values = np.asarray(seed).reshape(-1)
    if values.size == 0 or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"augment: seed must be an int or a sequence of ints, got {seed!r}")
    return np.random.SeedSequence([int(v) % 2**64 for v in values.tolist()])


def _child(seed, key: int) -> np.random.SeedSequence:
    """The independent stream ``key`` under ``seed`` (the same for every call)."""
    root = _seed_sequence(seed)
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, key))


def _rng(seed, key: int) -> np.random.Generator:
    return np.random.default_rng(_child(seed, key))


def _per_image(x: np.ndarray) -> np.ndarray:
    """(B,) -> (B, 1, 1, 1), to broadcast one value per image."""
    return np.asarray(x, np.float32)[:, None, None, None]


# --------------------------------------------------------------------------- geometry

def affine_matrix(seed, height, width, cfg: AugmentConfig, batch: int | None = None) -> np.ndarray:
    """Random affine transforms as 8 numbers ``(a0, a1, a2, b0, b1, b2, 0, 0)`` that map an
    output pixel ``(x, y)`` to the input pixel ``(a0 x + a1 y + a2, b0 x + b1 y + b2)`` (the
    convention of TensorFlow's projective transforms; its first six numbers are the matrix of
    ``cv2.warpAffine`` with ``WARP_INVERSE_MAP``): rotation, shear, scale and shift about the
    centre, with an independent jitter of each side of the crop. Shape (8,), or (batch, 8)
    for a batch; float32. ``seed``: an int, a sequence of ints or a ``SeedSequence``."""
    b = 1 if batch is None else int(batch)
    h, w = float(height), float(width)

    def uniform(key, low, high, shape=(b,)):
        return _rng(seed, key).uniform(low, high, shape)

    angle = uniform(_ANGLE, -1.0, 1.0) * cfg.rotation_deg * np.pi / 180
    shear = uniform(_SHEAR, -1.0, 1.0) * cfg.shear
    shear_y = uniform(_SHEAR_Y, -1.0, 1.0) * cfg.shear_y
    zoom = uniform(_ZOOM, cfg.scale[0], cfg.scale[1])
    # crop jitter: left, top, right, bottom margins in [-j, j]; changes scale and centre per axis
    m = uniform(_JITTER, -cfg.crop_jitter, cfg.crop_jitter, (4, b))
    sx = zoom / (1.0 - m[0] - m[2])  # the output is this much larger than the jittered crop
    sy = zoom / (1.0 - m[1] - m[3])
    cx_in = w * (0.5 + (m[0] - m[2]) / 2)  # centre of the jittered crop in the input
    cy_in = h * (0.5 + (m[1] - m[3]) / 2)
    shift = uniform(_SHIFT, -1.0, 1.0, (2, b))
    out_cx = w / 2 + shift[1] * cfg.shift[1] * w
    out_cy = h / 2 + shift[0] * cfg.shift[0] * h
    # forward map A = R(angle) @ [[1, shear], [shear_y, 1]] @ diag(sx, sy); the transform
    # needs its inverse: input = centre_in + A^-1 (output - centre_out)
    cos, sin = np.cos(angle), np.sin(angle)
    a00, a01 = (cos - sin * shear_y) * sx, (cos * shear - sin) * sy
    a10, a11 = (sin + cos * shear_y) * sx, (sin * shear + cos) * sy
    det = a00 * a11 - a01 * a10
    i00, i01, i10, i11 = a11 / det, -a01 / det, -a10 / det, a00 / det
    off_x = cx_in - (i00 * out_cx + i01 * out_cy)
    off_y = cy_in - (i10 * out_cx + i11 * out_cy)
    zero = np.zeros_like(angle)
    matrices = np.stack([i00, i01, off_x, i10, i11, off_y, zero, zero], axis=1).astype(np.float32)
    return matrices[0] if batch is None else matrices


def _border(fill_mode: str) -> int:
    import cv2

    if fill_mode not in FILL_MODES:
        raise ValueError(f"AugmentConfig.fill_mode must be one of {sorted(FILL_MODES)}, "
                         f"got {fill_mode!r}")
    return getattr(cv2, FILL_MODES[fill_mode])


def _warp(images: np.ndarray, chosen: np.ndarray, seed, cfg: AugmentConfig) -> np.ndarray:
    """Resample the ``chosen`` images (bilinear) through their random affine transforms."""
    import cv2

    b, h, w = images.shape[:3]
    border = _border(cfg.fill_mode)
    matrices = affine_matrix(seed, h, w, cfg, batch=b)  # drawn for all: draws do not depend
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP    # on which images are chosen
    for i in np.flatnonzero(chosen):
        images[i] = cv2.warpAffine(images[i], matrices[i, :6].reshape(2, 3), (w, h),
                                   flags=flags, borderMode=border, borderValue=(0, 0, 0))
    return images


def _downscale(images: np.ndarray, chosen: np.ndarray, factor: float) -> np.ndarray:
    """Shrink the ``chosen`` images by ``factor`` (area averaging), then enlarge them back
    (bilinear): the detail a lower capture resolution loses."""
    import cv2

    h, w = images.shape[1:3]
    small = (int(np.ceil(w * factor)), int(np.ceil(h * factor)))
    for i in np.flatnonzero(chosen):
        low = cv2.resize(images[i], small, interpolation=cv2.INTER_AREA)
        images[i] = cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR)
    return images


# --------------------------------------------------------------------------- colour

def _adjust_contrast(x: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """As ``tf.image.adjust_contrast``: about each channel's mean, one factor per image
    (``(x - mean) f + mean``, computed as ``x f + mean (1 - f)``: one pass fewer)."""
    b, h, w, c = x.shape
    mean = np.einsum("bpc->bc", x.reshape(b, h * w, c)).reshape(b, 1, 1, c) / np.float32(h * w)
    f = _per_image(factor)
    return x * f + mean * (1 - f)


def _adjust_saturation(x: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``tf.image.adjust_saturation`` with one factor per image, without the HSV round trip.

    With hue and value (the channel maximum) fixed, every channel is ``v - s * k`` for a
    hue-dependent ``k``; scaling the saturation ``s`` by ``f`` (capped at ``s = 1``) is therefore
    ``v - f_eff * (v - c)`` with ``f_eff = min(f, v / (v - min))``.
    """
    r, g, b = x[..., 0:1], x[..., 1:2], x[..., 2:3]
    v = np.maximum(np.maximum(r, g), b)
    spread = v - np.minimum(np.minimum(r, g), b)
    cap = np.divide(v, spread, out=np.zeros_like(v), where=spread > 0)
    return v - np.minimum(_per_image(factor), cap) * (v - x)


def _rgb_to_hsv(x: np.ndarray) -> np.ndarray:
    """``tf.image.rgb_to_hsv``: hue, saturation and value, each in [0, 1]."""
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = np.maximum(np.maximum(r, g), b)
    spread = v - np.minimum(np.minimum(r, g), b)
    s = np.divide(spread, v, out=np.zeros_like(v), where=v > 0)
    norm = np.divide(1.0, 6.0 * spread, out=np.zeros_like(v), where=spread > 0)
    hue = np.where(r == v, norm * (g - b),
                   np.where(g == v, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0))
    hue = np.where(spread > 0, hue, 0.0)
    return np.stack([np.where(hue < 0, hue + 1.0, hue), s, v], axis=-1).astype(np.float32)


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """``tf.image.hsv_to_rgb``."""
    h, s, v = hsv[..., 0:1] * 6.0, hsv[..., 1:2], hsv[..., 2:3]
    channels = np.concatenate([np.abs(h - 3.0) - 1.0, 2.0 - np.abs(h - 2.0),
                               2.0 - np.abs(h - 4.0)], axis=-1)
    return (((1.0 - s) + s * np.clip(channels, 0.0, 1.0)) * v).astype(np.float32)


def _adjust_hue(x: np.ndarray, delta: np.ndarray) -> np.ndarray:
    hsv = _rgb_to_hsv(x)
    hsv[..., 0] = np.mod(hsv[..., 0] + np.asarray(delta, np.float32)[:, None, None], 1.0)
    return _hsv_to_rgb(hsv)


def _colour_ops(seed, b: int, cfg: AugmentConfig) -> list:
    """The colour operations switched on (a zero-width range means off), each with its
    strengths drawn for the ``b`` images of a batch."""
    ops = []
    if cfg.brightness > 0:
        delta = _rng(seed, _BRIGHTNESS).uniform(-cfg.brightness, cfg.brightness, b)
        ops.append(lambda x: x + _per_image(delta))
    if cfg.contrast[1] > cfg.contrast[0]:
        f = _rng(seed, _CONTRAST).uniform(cfg.contrast[0], cfg.contrast[1], b)
        ops.append(lambda x: _adjust_contrast(x, f))
    if cfg.saturation[1] > cfg.saturation[0]:
        sat = _rng(seed, _SATURATION).uniform(cfg.saturation[0], cfg.saturation[1], b)
        ops.append(lambda x: _adjust_saturation(x, sat))
    if cfg.hue > 0:
        hue = _rng(seed, _HUE).uniform(-cfg.hue, cfg.hue, b)
        ops.append(lambda x: _adjust_hue(x, hue))
    if cfg.channel_gain > 0:
        gain = _rng(seed, _GAIN).uniform(1.0 - cfg.channel_gain, 1.0 + cfg.channel_gain,
                                         (b, 1, 1, 3)).astype(np.float32)
        ops.append(lambda x: x * gain)
    return ops


def _colour(images: np.ndarray, seed, cfg: AugmentConfig) -> np.ndarray:
    """Brightness, contrast and saturation (and hue, and the channel gains) in a random
    order, clipping after each."""
    ops = _colour_ops(seed, images.shape[0], cfg)
    # a random order per batch (each image keeps its own strengths): without the clipping
    # these operations commute, so a per-image order would change little and cost 3x more
    for k in _rng(seed, _ORDER).permutation(len(ops)):
        images = ops[k](images).astype(np.float32, copy=False)  # a new array: clipped in place
        np.clip(images, 0.0, 1.0, out=images)
    return images


# --------------------------------------------------------------------------- augment

def _as_float(images) -> np.ndarray:
    """uint8 (any integer type) -> float32 in [0, 1]; float -> a float32 copy."""
    images = np.asarray(images)
    if np.issubdtype(images.dtype, np.integer):
        return images.astype(np.float32) * np.float32(1.0 / np.iinfo(images.dtype).max)
    return images.astype(np.float32, copy=True)


def augment(images, seed=DEFAULT_SEED, config: AugmentConfig | None = None) -> np.ndarray:
    """Augment a batch (B, H, W, 3) or one image (H, W, 3), uint8 or float in [0, 1]; returns
    float32 in [0, 1] (a NumPy array). Every image of a batch draws its own parameters.

    Geometry first (one affine resampling with ``cv2.warpAffine``: rotation, shear, scale,
    shift, crop jitter), then the capture resolution (down then up again, one factor per
    batch), then brightness/contrast/saturation (hue, channel gains) in a random order (one
    order per batch, clipping after each), then Gaussian and salt-and-pepper noise, then
    clipping. ``seed`` is an int or a sequence of ints (the pipeline passes ``(seed, key)``
    with a new key per batch); the result is a function of the images and the seed alone.
    """
    cfg = config or AugmentConfig()
    root = _seed_sequence(seed)
    images = _as_float(images)
    if images.ndim not in (3, 4) or images.shape[-1] != 3:
        raise ValueError(f"augment: expected images (B, H, W, 3) or (H, W, 3), got shape "
                         f"{images.shape}")
    single = images.ndim == 3
    if single:
        images = images[None]
    b = images.shape[0]
    coin = _rng(root, _COIN).random((4, b))
    if cfg.affine_prob > 0:
        images = _warp(images, coin[0] < cfg.affine_prob, _child(root, _AFFINE), cfg)
    if cfg.downscale_prob > 0 and cfg.downscale[0] < 1:
        factor = _rng(root, _DOWNSCALE).uniform(cfg.downscale[0], cfg.downscale[1])
        images = _downscale(images, coin[3] < cfg.downscale_prob, factor)
    images = _colour(images, _child(root, _COLOUR), cfg)
    images = _noise(images, coin, root, cfg)
    np.clip(images, 0.0, 1.0, out=images)
    return images[0] if single else images


def _noise(images: np.ndarray, coin: np.ndarray, root, cfg: AugmentConfig) -> np.ndarray:
    """Gaussian noise (std drawn in [0, noise_std]) on the images whose coin says so, then
    salt and pepper (``salt_pepper_amount`` of the pixels set to black or white)."""
    b = images.shape[0]
    if cfg.noise_prob > 0 and cfg.noise_std > 0:
        std = _rng(root, _NOISE_STD).uniform(0.0, cfg.noise_std, b)
        chosen = np.flatnonzero(coin[1] < cfg.noise_prob)
        if chosen.size:
            noise = _rng(root, _NOISE).standard_normal((chosen.size, *images.shape[1:]),
                                                       dtype=np.float32)
            images[chosen] += _per_image(std[chosen]) * noise
    if cfg.salt_pepper_prob > 0 and cfg.salt_pepper_amount > 0:
        chosen = np.flatnonzero(coin[2] < cfg.salt_pepper_prob)
        if chosen.size:
            u = _rng(root, _SALT_PEPPER).random((chosen.size, *images.shape[1:3], 1),
                                                dtype=np.float32)
            half = cfg.salt_pepper_amount / 2
            images[chosen] = np.where(u < half, 0.0, np.where(u > 1 - half, 1.0,
                                                              images[chosen]))
    return images
