"""The ``tf.data`` input pipeline: decode, resize, augment, whiten, shuffle, batch, prefetch.

One function, :func:`preprocess`, turns a decoded image into the model's input; training,
evaluation, prediction and the exported model all call it, so that they cannot disagree.
:func:`augment` is the seed's augmentation plus the geometric jitter real crops need. Every
random draw is *stateless*, keyed by (seed, a per-batch key from a seeded stream): the same seed
gives the same batches whatever the number of parallel workers, and every epoch draws new ones.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from lpr_lib.data.formats import (TFRECORD_SUFFIXES, DataError, Problem, Sample, label_problem,
                                  load_samples, read_bytes, read_image)
from lpr_lib.plates import MAX_LEN, text_to_labels
from lpr_lib.repro import DEFAULT_SEED

AUTOTUNE = tf.data.AUTOTUNE
DEFAULT_SIZE = (48, 144)


# --------------------------------------------------------------------------- preprocessing

def preprocess(image, image_size=DEFAULT_SIZE, whiten: bool = True) -> tf.Tensor:
    """The model's input from a decoded image (H, W, 3) or a batch (B, H, W, 3).

    uint8 images are scaled to [0, 1]; float images are taken to be in [0, 1] already. The image
    is resized (bilinear) to ``image_size`` = (H, W), then, with ``whiten``, standardised per image
    to zero mean and unit variance (``tf.image.per_image_standardization``), else left in [0, 1].
    Whitening removes each crop's brightness and contrast, which vary far more between real
    photographs than between the characters we want the network to tell apart.
    """
    image = tf.convert_to_tensor(image)
    image = tf.image.convert_image_dtype(image, tf.float32)  # uint8 -> [0, 1]; float unchanged
    size = tuple(int(v) for v in image_size)
    if tuple(image.shape[-3:-1]) != size:
        image = tf.image.resize(image, size, method="bilinear", antialias=True)
    if whiten:
        return tf.image.per_image_standardization(image)
    return tf.clip_by_value(image, 0.0, 1.0)


def decode_image(data: tf.Tensor, image_size=DEFAULT_SIZE) -> tf.Tensor:
    """Decode JPEG/PNG/BMP bytes to uint8 RGB and resize to ``image_size`` (kept uint8, so that a
    cached dataset stays small)."""
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    image = tf.image.resize(image, image_size, method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


# --------------------------------------------------------------------------- augmentation

@dataclass
class AugmentConfig:
    """Strengths of every augmentation; a probability of 0 (or a strength of 0) turns one off.

    Intensities are in units of the [0, 1] image. Geometry (rotation, shear, scale, shift and the
    per-side crop jitter) is composed into one affine transform, so the image is resampled once.
    """

    # the seed's photometric augmentation, applied in a random order
    brightness: float = 0.25  # max additive delta
    contrast: tuple[float, float] = (0.6, 1.4)
    saturation: tuple[float, float] = (0.5, 1.5)
    hue: float = 0.0  # off by default: plate colour tells the kind of plate
    # the seed's noise
    noise_prob: float = 0.5
    noise_std: float = 0.04  # Gaussian noise, std (drawn uniformly in [0, noise_std])
    salt_pepper_prob: float = 0.3
    salt_pepper_amount: float = 0.02  # share of pixels set to black or white
    # geometry, for real crops whose plate is never perfectly framed
    affine_prob: float = 0.8
    rotation_deg: float = 4.0
    shear: float = 0.1  # horizontal shear (x += shear * y)
    # vertical shear (y += shear_y * x): the character row slants while verticals stay upright,
    # as in a detector's axis-aligned box around a plate seen from one side (rectified crops,
    # such as those warped out of a CCPD scene by their four corners, never show it)
    shear_y: float = 0.0
    scale: tuple[float, float] = (0.92, 1.05)
    shift: tuple[float, float] = (0.03, 0.03)  # max shift as a share of (H, W)
    crop_jitter: float = 0.04  # each side moves in or out by up to this share
    fill_mode: str = "nearest"  # how pixels outside the crop are filled
    # capture resolution: shrink by a factor in ``downscale`` (one per batch), then enlarge back;
    # a sharp 136x36 crop then looks like a 94x24 one from a parking-lot camera
    downscale_prob: float = 0.3
    downscale: tuple[float, float] = (0.45, 0.9)
    # white balance: each channel scaled by its own factor in [1 - g, 1 + g] (a camera's colour
    # cast; small enough that a blue plate stays blue)
    channel_gain: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AugmentConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown AugmentConfig field(s): {sorted(unknown)}")
        defaults = asdict(cls())
        values = {}
        for key, value in data.items():
            default = defaults[key]
            if isinstance(default, tuple):
                ok = (isinstance(value, (list, tuple)) and len(value) == len(default)
                      and all(_is_number(v) for v in value))
                value = tuple(float(v) for v in value) if ok else value
            elif isinstance(default, str):
                ok = isinstance(value, str)
            else:
                ok = _is_number(value)
                value = float(value) if ok else value
            if not ok:
                raise ValueError(f"AugmentConfig.{key} must be like {default!r}, got {value!r}")
            values[key] = value
        return cls(**values)

    @classmethod
    def none(cls) -> AugmentConfig:
        """No augmentation at all (every probability and strength zero)."""
        return cls(brightness=0.0, contrast=(1.0, 1.0), saturation=(1.0, 1.0), noise_prob=0.0,
                   salt_pepper_prob=0.0, affine_prob=0.0, downscale_prob=0.0)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _seeds(seed, n: int) -> tf.Tensor:
    """``n`` independent stateless seeds (n, 2) from one seed: an int or a (2,) tensor."""
    if isinstance(seed, (int, np.integer)):
        seed = tf.constant([int(seed), 0], tf.int64)
    return tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=n)


def _uniform(seed, low, high, shape):
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high)


def _per_image(x):
    """(B,) -> (B, 1, 1, 1), to broadcast one value per image."""
    return x[:, None, None, None]


def affine_matrix(seed, height, width, cfg: AugmentConfig, batch: int | None = None) -> tf.Tensor:
    """Random affine transforms (the 8 numbers of ``ImageProjectiveTransformV3``, mapping output
    pixels to input pixels): rotation, shear, scale and shift about the centre, with an
    independent jitter of each side of the crop. Shape (8,), or (batch, 8) for a batch."""
    b = 1 if batch is None else batch
    s = _seeds(seed, 5)
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    angle = _uniform(s[0], -1.0, 1.0, (b,)) * cfg.rotation_deg * np.pi / 180
    shear = _uniform(s[1], -1.0, 1.0, (b,)) * cfg.shear
    # its own stream folded from s[1], so that shear_y=0 draws exactly what it drew before
    shear_y = _uniform(tf.random.experimental.stateless_fold_in(s[1], 1), -1.0, 1.0,
                       (b,)) * cfg.shear_y
    zoom = _uniform(s[2], cfg.scale[0], cfg.scale[1], (b,))
    # crop jitter: left, top, right, bottom margins in [-j, j]; changes scale and centre per axis
    m = _uniform(s[3], -cfg.crop_jitter, cfg.crop_jitter, (4, b))
    sx = zoom / (1.0 - m[0] - m[2])  # the output is this much larger than the jittered crop
    sy = zoom / (1.0 - m[1] - m[3])
    cx_in = w * (0.5 + (m[0] - m[2]) / 2)  # centre of the jittered crop in the input
    cy_in = h * (0.5 + (m[1] - m[3]) / 2)
    shift = _uniform(s[4], -1.0, 1.0, (2, b))
    out_cx = w / 2 + shift[1] * cfg.shift[1] * w
    out_cy = h / 2 + shift[0] * cfg.shift[0] * h
    # forward map A = R(angle) @ [[1, shear], [shear_y, 1]] @ diag(sx, sy); the transform
    # needs its inverse: input = centre_in + A^-1 (output - centre_out)
    cos, sin = tf.cos(angle), tf.sin(angle)
    a00, a01 = (cos - sin * shear_y) * sx, (cos * shear - sin) * sy
    a10, a11 = (sin + cos * shear_y) * sx, (sin * shear + cos) * sy
    det = a00 * a11 - a01 * a10
    i00, i01, i10, i11 = a11 / det, -a01 / det, -a10 / det, a00 / det
    off_x = cx_in - (i00 * out_cx + i01 * out_cy)
    off_y = cy_in - (i10 * out_cx + i11 * out_cy)
    zero = tf.zeros_like(angle)
    matrices = tf.stack([i00, i01, off_x, i10, i11, off_y, zero, zero], axis=1)
    return matrices[0] if batch is None else matrices


def _adjust_saturation(images, factor):
    """``tf.image.adjust_saturation`` with one factor per image, without the HSV round trip.

    With hue and value (the channel maximum) fixed, every channel is ``v - s * k`` for a
    hue-dependent ``k``; scaling the saturation ``s`` by ``f`` (capped at ``s = 1``) is therefore
    ``v - f_eff * (v - c)`` with ``f_eff = min(f, v / (v - min))``.
    """
    v = tf.reduce_max(images, axis=-1, keepdims=True)
    spread = v - tf.reduce_min(images, axis=-1, keepdims=True)
    f = tf.minimum(_per_image(factor), tf.math.divide_no_nan(v, spread))
    return v - f * (v - images)


def _adjust_hue(images, delta):
    hsv = tf.image.rgb_to_hsv(images)
    hue = tf.math.floormod(hsv[..., :1] + _per_image(delta), 1.0)
    return tf.image.hsv_to_rgb(tf.concat([hue, hsv[..., 1:]], axis=-1))


def _colour(images, seed, cfg: AugmentConfig):
    """Brightness, contrast and saturation (and hue, and the channel gains) in a random
    order, clipping after each."""
    b = tf.shape(images)[0]
    s = _seeds(seed, 5)
    ops = []  # only the operations switched on (a zero-width range means off)
    if cfg.brightness > 0:
        delta = _uniform(s[0], -cfg.brightness, cfg.brightness, (b,))
        ops.append(lambda x: x + _per_image(delta))
    if cfg.contrast[1] > cfg.contrast[0]:
        f = _uniform(s[1], cfg.contrast[0], cfg.contrast[1], (b,))

        def contrast(x):  # as tf.image.adjust_contrast: about each channel's mean
            mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
            return (x - mean) * _per_image(f) + mean

        ops.append(contrast)
    if cfg.saturation[1] > cfg.saturation[0]:
        sat = _uniform(s[2], cfg.saturation[0], cfg.saturation[1], (b,))
        ops.append(lambda x: _adjust_saturation(x, sat))
    if cfg.hue > 0:
        hue = _uniform(s[3], -cfg.hue, cfg.hue, (b,))
        ops.append(lambda x: _adjust_hue(x, hue))
    if cfg.channel_gain > 0:  # its own stream, so that the other draws stay as they were
        gain = _uniform(tf.random.experimental.stateless_fold_in(s[0], 1),
                        1.0 - cfg.channel_gain, 1.0 + cfg.channel_gain, (b, 1, 1, 3))
        ops.append(lambda x: x * gain)
    if not ops:
        return images
    # a random order per batch (each image keeps its own strengths): without the clipping
    # these operations commute, so a per-image order would change little and cost 3x more
    order = tf.argsort(tf.random.stateless_uniform((len(ops),), s[4]))
    for step in range(len(ops)):
        images = tf.switch_case(order[step], [lambda op=op, x=images: op(x) for op in ops])
        images = tf.clip_by_value(images, 0.0, 1.0)
    return images


def augment(images, seed=DEFAULT_SEED, config: AugmentConfig | None = None) -> tf.Tensor:
    """Augment a batch (B, H, W, 3) or one image (H, W, 3), uint8 or float in [0, 1]; returns
    float32 in [0, 1]. Every image of a batch draws its own parameters.

    Geometry first (one affine resampling: rotation, shear, scale, shift, crop jitter), then
    the capture resolution (down then up again, one factor per batch), then
    brightness/contrast/saturation in a random order (one order per batch), then Gaussian and
    salt-and-pepper noise, then clipping. ``seed`` is an int or a (2,) integer tensor; the
    result is a function of the images and the seed alone (stateless random ops). Vectorised
    over the batch: the pipeline augments whole batches, several times faster than image by
    image.
    """
    cfg = config or AugmentConfig()
    images = tf.image.convert_image_dtype(tf.convert_to_tensor(images), tf.float32)
    single = images.shape.rank == 3
    if single:
        images = images[None]
    s = _seeds(seed, 7)
    shape = tf.shape(images)
    b, height, width = shape[0], shape[1], shape[2]
    coin = tf.random.stateless_uniform((4, b), s[0])
    if cfg.affine_prob > 0:
        moved = tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=affine_matrix(s[1], height, width, cfg, batch=b),
            output_shape=shape[1:3], fill_value=0.0, interpolation="BILINEAR",
            fill_mode=cfg.fill_mode.upper())
        images = tf.where(_per_image(coin[0] < cfg.affine_prob), moved, images)
    if cfg.downscale_prob > 0 and cfg.downscale[0] < 1:
        f = _uniform(s[6], cfg.downscale[0], cfg.downscale[1], ())
        small = tf.cast(tf.math.ceil(tf.cast(shape[1:3], tf.float32) * f), tf.int32)
        low = tf.image.resize(tf.image.resize(images, small, method="area"), shape[1:3],
                              method="bilinear")
        images = tf.where(_per_image(coin[3] < cfg.downscale_prob), low, images)
    images = _colour(images, s[2], cfg)
    if cfg.noise_prob > 0 and cfg.noise_std > 0:
        std = _uniform(s[3], 0.0, cfg.noise_std, (b,)) * tf.cast(coin[1] < cfg.noise_prob,
                                                                  tf.float32)
        images = images + _per_image(std) * tf.random.stateless_normal(shape, s[4])
    if cfg.salt_pepper_prob > 0 and cfg.salt_pepper_amount > 0:
        amount = cfg.salt_pepper_amount * tf.cast(coin[2] < cfg.salt_pepper_prob, tf.float32)
        u = tf.random.stateless_uniform(tf.concat([shape[:3], [1]], 0), s[5])
        half = _per_image(amount) / 2
        images = tf.where(u < half, 0.0, tf.where(u > 1 - half, 1.0, images))
    images = tf.clip_by_value(images, 0.0, 1.0)
    return images[0] if single else images


# --------------------------------------------------------------------------- datasets

_TF_DECODABLE = ("labelfile", "tsv", "filename")


def _decoded(samples: list[Sample], image_size) -> tf.data.Dataset:
    """(uint8 image at image_size, int32 labels) for every sample, in the samples' order.

    Files are read and decoded by ``tf.io`` in parallel, TFRecord images are decoded from
    their bytes; CCPD scenes (which need the perspective warp) and in-memory images are
    prepared once with NumPy/OpenCV and held in memory.
    """
    size = tuple(int(v) for v in image_size)
    kinds, paths, blobs, slots, memory = [], [], [], [], []
    for s in samples:
        if s.image is None and s.data is None and s.format in _TF_DECODABLE:
            kinds.append(0), paths.append(str(s.path)), blobs.append(b""), slots.append(0)
        elif s.image is None and s.data is not None:
            kinds.append(1), paths.append(""), blobs.append(s.data), slots.append(0)
        else:  # read_image warps CCPD plates to size
            kinds.append(2), paths.append(""), blobs.append(b""), slots.append(len(memory))
            memory.append(read_image(s, size))
    if not samples:
        raise ValueError("make_dataset: no samples")
    held = tf.constant(np.stack(memory) if memory else np.zeros((1, *size, 3), np.uint8))

    def load(kind, path, blob, slot, labels):
        data = tf.cond(kind == 0, lambda: tf.io.read_file(path), lambda: blob)
        image = tf.cond(kind == 2, lambda: tf.gather(held, slot),
                        lambda: decode_image(data, size))
        return tf.ensure_shape(image, (*size, 3)), labels

    ds = tf.data.Dataset.from_tensor_slices((np.array(kinds, np.int32), paths, blobs,
                                             np.array(slots, np.int32),
                                             np.stack([s.labels for s in samples])))
    return ds.map(load, num_parallel_calls=AUTOTUNE)


def _verify_images(samples: list[Sample]) -> None:
    """Raise :class:`DataError` for the first image that ``tf.io`` would fail to decode."""
    from lpr_lib.data.check import check_image

    for s in samples:
        if s.image is not None or s.format == "ccpd":
            continue  # decoded in memory (read_image raises with the file's name)
        data = s.data if s.data is not None else read_bytes(s.path, "unreadable-image")
        bad = check_image(data, str(s.path) if s.path is not None else s.where)
        if bad:
            raise DataError(bad)


def _finish(ds, batch_size, image_size, whiten, augment_config, seed, drop_remainder):
    """Batch, augment (a fresh key per batch and epoch, from ``seed``), preprocess, prefetch."""
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if augment_config is not None:
        # one random key per batch, from a seeded stream that differs between epochs (and
        # between runs only when the seed does); the stateless ops are keyed by (seed, key)
        keys = tf.data.Dataset.random(seed=int(seed), rerandomize_each_iteration=True)

        def aug(key, batch):
            images, labels = batch
            return augment(images, tf.stack([tf.constant(int(seed), tf.int64), key]),
                           augment_config), labels

        ds = tf.data.Dataset.zip((keys, ds)).map(aug, num_parallel_calls=AUTOTUNE)
    ds = ds.map(lambda x, y: (preprocess(x, image_size, whiten), y), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def _augment_config(augment) -> AugmentConfig | None:
    if augment is True:
        return AugmentConfig()
    if augment in (False, None):
        return None
    if isinstance(augment, dict):
        return AugmentConfig.from_dict(augment)
    return augment


def make_dataset(source, batch_size: int = 64, image_size=DEFAULT_SIZE, whiten: bool = True,
                 augment=False, shuffle: bool = True, seed: int = DEFAULT_SEED,
                 repeat: bool = False, cache=True, drop_remainder: bool = False,
                 check=True) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of ``(images float32 (B, H, W, 3), labels int32 (B, 8))``.

    ``source`` is anything :func:`load_samples` reads (a path, several paths) or a list of
    samples. Images are decoded and resized once (and cached in memory when ``cache`` is true,
    or in a file when ``cache`` is a path), then shuffled, augmented (``augment``: ``True`` for
    the default :class:`AugmentConfig`, or a config), preprocessed (:func:`preprocess`), batched
    and prefetched. TFRecord files are streamed, not loaded. Shuffling and augmentation depend
    on ``seed`` alone.

    ``check=True`` (the default) makes sure, before anything is built, that every label is a
    plate, every file exists and every image decodes, and raises :class:`DataError` naming the
    first bad file: a corrupt JPEG must not stop training at epoch 7. ``check="labels"`` skips
    decoding the images (faster for very large sets already passed by ``lpr check``);
    ``check=False`` also accepts noisy labels (see :func:`load_samples`). CCPD scenes are
    warped in memory up front; for a large CCPD set, write the warped plates to a TFRecord
    file once (:func:`write_tfrecord`) and train from that.
    """
    size = tuple(int(v) for v in image_size)
    cfg = _augment_config(augment)
    paths = [source] if isinstance(source, (str, Path)) else None
    if paths and Path(source).suffix.lower() in TFRECORD_SUFFIXES and Path(source).is_file():
        ds = read_tfrecord(source, size)
        count = None
    else:
        samples = load_samples(source, check=bool(check))
        if not samples:
            raise ValueError(f"make_dataset: {source!r} holds no samples")
        if check is True:
            _verify_images(samples)
        ds = _decoded(samples, size)
        count = len(samples)
    if cache:
        ds = ds.cache(str(cache) if isinstance(cache, (str, Path)) else "")
    if shuffle:
        ds = ds.shuffle(min(count or 10_000, 50_000), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return _finish(ds, batch_size, size, whiten, cfg, seed, drop_remainder)


def mixed_dataset(parts, batch_size: int = 64, image_size=DEFAULT_SIZE, whiten: bool = True,
                  augment=False, seed: int = DEFAULT_SEED, check=True) -> tf.data.Dataset:
    """An endless training stream that mixes several datasets at given weights.

    ``parts`` is a list of ``(source, weight)`` or ``(source, weight, check)`` (``check`` as
    :func:`make_dataset`'s, for that source alone; default the ``check`` argument): each source
    is anything :func:`load_samples` reads, or a list of samples; ``weight`` is its share of
    the images of every batch (on
    average: each image is drawn from source *i* with probability ``weight_i / sum``). Each
    source is decoded once, cached in memory, shuffled and repeated on its own, so a small set
    of real crops is seen many times, each time augmented anew, while a large synthetic set
    goes by once an epoch. Batches are then augmented and preprocessed as
    :func:`make_dataset` does.
    """
    size = tuple(int(v) for v in image_size)
    if not parts:
        raise ValueError("mixed_dataset: no sources")
    streams, weights = [], []
    for k, (source, weight, *own) in enumerate(parts):
        if not weight > 0:
            raise ValueError(f"mixed_dataset: {source!r} has weight {weight!r}; weights must "
                             "be > 0")
        part_check = own[0] if own else check
        samples = load_samples(source, check=bool(part_check))
        if not samples:
            raise ValueError(f"mixed_dataset: {source!r} holds no samples")
        if part_check is True:
            _verify_images(samples)
        ds = _decoded(samples, size).cache()
        ds = ds.shuffle(min(len(samples), 50_000), seed=seed + k, reshuffle_each_iteration=True)
        streams.append(ds.repeat())
        weights.append(float(weight))
    total = sum(weights)
    ds = streams[0] if len(streams) == 1 else tf.data.Dataset.sample_from_datasets(
        streams, [w / total for w in weights], seed=seed, rerandomize_each_iteration=True)
    return _finish(ds, batch_size, size, whiten, _augment_config(augment), seed, True)


def _fit(image, size) -> np.ndarray:
    import cv2

    image = np.asarray(image, dtype=np.uint8)
    if image.shape[:2] != size:
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return image


def synthetic_dataset(count: int | None = None, batch_size: int = 64, image_size=DEFAULT_SIZE,
                      whiten: bool = True, augment=False, seed: int = DEFAULT_SEED, config=None,
                      workers: int = 1, drop_remainder: bool = False) -> tf.data.Dataset:
    """Stream rendered plates: ``(images (B, H, W, 3), labels (B, 8))``, ``count`` plates or, with
    ``count=None``, without end.

    ``config`` is a ``SynthConfig`` (``None``: the default one at ``image_size``), from which a
    ``PlateGenerator(config, seed)`` renders plate number *i* from ``(seed, i)`` alone: every pass
    over a finite dataset gives the same plates, and ``workers`` > 1 renders in parallel streams
    (plates ``k, k + workers, ...``) that are interleaved back into the same order. ``config``
    may also be any object with a ``.sample() -> (uint8 image, text)`` method, used as it is
    (one stream; its own state decides the plates). Labels may be noisy on purpose (the
    generator's ``label_noise``), so texts are checked for alphabet and length only.
    """
    size = tuple(int(v) for v in image_size)
    cfg = _augment_config(augment)
    spec = (tf.TensorSpec((*size, 3), tf.uint8), tf.TensorSpec((MAX_LEN,), tf.int32))

    if config is not None and hasattr(config, "sample"):
        generator = config

        def stream():
            n = 0
            while count is None or n < count:
                image, text = generator.sample()
                yield _fit(image, size), text_to_labels(text, check=False)
                n += 1

        ds = tf.data.Dataset.from_generator(stream, output_signature=spec)
    else:
        from lpr_lib.synth import PlateGenerator, SynthConfig

        synth_cfg = config if config is not None else SynthConfig(size=size)
        workers = max(1, int(workers))

        def stream(k):
            gen, i = PlateGenerator(synth_cfg, seed), int(k)
            while count is None or i < count:
                record = gen.sample_at(i)
                yield _fit(record.image, size), text_to_labels(record.label, check=False)
                i += workers

        if workers == 1:
            ds = tf.data.Dataset.from_generator(stream, args=(0,), output_signature=spec)
        else:
            ds = tf.data.Dataset.range(workers).interleave(
                lambda k: tf.data.Dataset.from_generator(stream, args=(k,), output_signature=spec),
                cycle_length=workers, block_length=1, num_parallel_calls=workers,
                deterministic=True)
    if count is not None:
        ds = ds.apply(tf.data.experimental.assert_cardinality(count))
    return _finish(ds, batch_size, size, whiten, cfg, seed, drop_remainder)


# --------------------------------------------------------------------------- TFRecord

def _feature_bytes(v: bytes):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))


def _example(encoded: bytes, labels, text: str, source: str, name: str) -> bytes:
    return tf.train.Example(features=tf.train.Features(feature={
        "image": _feature_bytes(encoded),
        "labels": tf.train.Feature(int64_list=tf.train.Int64List(value=list(map(int, labels)))),
        "text": _feature_bytes(text.encode("utf-8")),
        "source": _feature_bytes(source.encode("utf-8")),
        "name": _feature_bytes(name.encode("utf-8")),
    })).SerializeToString()


_SPEC = {"image": tf.io.FixedLenFeature([], tf.string),
         "labels": tf.io.FixedLenFeature([MAX_LEN], tf.int64),
         "text": tf.io.FixedLenFeature([], tf.string, default_value=""),
         "source": tf.io.FixedLenFeature([], tf.string, default_value=""),
         "name": tf.io.FixedLenFeature([], tf.string, default_value="")}


def _png(image: np.ndarray) -> bytes:
    return tf.io.encode_png(tf.convert_to_tensor(image, tf.uint8)).numpy()


def write_tfrecord(data, path, image_size=None) -> int:
    """Write samples, or ``(uint8 images, labels)`` pairs (single or batched, e.g. from a
    ``tf.data.Dataset`` such as :func:`read_tfrecord`'s) to a TFRecord file; return the number
    of images written.

    JPEG/PNG files are stored as their original bytes (no re-compression); CCPD plates are
    warped and in-memory images stored as PNG. ``image_size`` resizes every image first (PNG).
    Written to a temporary name and renamed, so a failed write leaves no half file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tf.io.TFRecordWriter(str(tmp)) as writer:
        for item in data:
            if isinstance(item, Sample):
                s = item
                if (image_size is None and s.path is not None and s.format != "ccpd"
                        and s.image is None and s.data is None):
                    encoded = read_bytes(s.path, "unreadable-image")
                elif image_size is None and s.data is not None:
                    encoded = s.data
                else:
                    encoded = _png(read_image(s, image_size))
                writer.write(_example(encoded, s.labels, s.text, s.source, s.name))
            else:
                image, labels = (np.asarray(v) for v in item)
                if image.dtype != np.uint8:
                    raise ValueError(f"{path}: images must be uint8 RGB, not {image.dtype} "
                                     "(write before preprocessing)")
                from lpr_lib.plates import labels_to_text

                batch = zip(image, labels) if image.ndim == 4 else [(image, labels)]
                for img, lab in batch:
                    writer.write(_example(_png(img), lab, labels_to_text(lab), "array", f"{n}"))
                    n += 1
                continue
            n += 1
    tmp.replace(path)
    return n


def read_tfrecord(path, image_size=DEFAULT_SIZE) -> tf.data.Dataset:
    """Stream ``(uint8 image at image_size, int32 labels)`` from a TFRecord file (or files)."""
    files = [str(p) for p in (path if isinstance(path, (list, tuple)) else [path])]
    for f in files:
        if not Path(f).is_file():
            raise FileNotFoundError(f"{f}: no such TFRecord file")

    def parse(record):
        ex = tf.io.parse_single_example(record, _SPEC)
        return decode_image(ex["image"], image_size), tf.cast(ex["labels"], tf.int32)

    return tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=AUTOTUNE)


def tfrecord_entries(path: Path, check: bool = True) -> Iterator[Sample | Problem]:
    """Samples (image bytes held in memory) of a TFRecord file, or of every one in a folder."""
    files = (sorted(p for p in path.iterdir() if p.suffix.lower() in TFRECORD_SUFFIXES)
             if path.is_dir() else [path])
    for f in files:
        try:
            for i, record in enumerate(tf.data.TFRecordDataset(str(f)).as_numpy_iterator()):
                ex = tf.io.parse_single_example(record, _SPEC)
                text = ex["text"].numpy().decode("utf-8")
                labels = ex["labels"].numpy().astype(np.int32)
                if not text:
                    from lpr_lib.plates import labels_to_text

                    text = labels_to_text(labels)
                bad = label_problem(text, check)
                if bad:
                    yield Problem(bad[0], str(f), bad[1], i + 1)
                    continue
                yield Sample(path=None, text=text, labels=text_to_labels(text, check=False),
                             format="tfrecord", source=ex["source"].numpy().decode("utf-8"),
                             where=f"{f.name}#{i + 1}", data=ex["image"].numpy())
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as err:
            yield Problem("unreadable-image", str(f), f"corrupt TFRecord ({err.message})")
        except tf.errors.PermissionDeniedError:
            yield Problem("unreadable-file", str(f), "permission denied")
        except tf.errors.NotFoundError:
            yield Problem("missing-file", str(f), "not found")


__all__ = ["AugmentConfig", "augment", "affine_matrix", "decode_image", "preprocess",
           "make_dataset", "mixed_dataset", "synthetic_dataset", "write_tfrecord", "read_tfrecord",
           "DataError"]
