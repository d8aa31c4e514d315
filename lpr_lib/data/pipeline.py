"""The ``tf.data`` input pipeline: decode, resize, augment, whiten, shuffle, batch, prefetch.

One function, :func:`preprocess`, turns a decoded image into the model's input; training,
evaluation, prediction and the exported model all call it, so that they cannot disagree.
:func:`augment` is the seed's augmentation plus the geometric jitter real crops need. Every
random draw is *stateless*, keyed by (seed, index of the image in the stream): the same seed
gives the same batches whatever the number of parallel workers.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import tensorflow as tf

from lpr_lib.data.formats import (TFRECORD_SUFFIXES, DataError, Problem, Sample, label_problem,
                                  load_samples, read_image)
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
    scale: tuple[float, float] = (0.92, 1.05)
    shift: tuple[float, float] = (0.03, 0.03)  # max shift as a share of (H, W)
    crop_jitter: float = 0.04  # each side moves in or out by up to this share
    fill_mode: str = "nearest"  # how pixels outside the crop are filled

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AugmentConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown AugmentConfig field(s): {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    @classmethod
    def none(cls) -> "AugmentConfig":
        """No augmentation at all (every probability and strength zero)."""
        return cls(brightness=0.0, contrast=(1.0, 1.0), saturation=(1.0, 1.0), noise_prob=0.0,
                   salt_pepper_prob=0.0, affine_prob=0.0)


def _seeds(seed, n: int) -> tf.Tensor:
    """``n`` independent stateless seeds (n, 2) from one seed: an int or a (2,) tensor."""
    if isinstance(seed, (int, np.integer)):
        seed = tf.constant([int(seed), 0], tf.int64)
    return tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=n)


def _uniform(seed, low, high, shape=()):
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high)


def affine_matrix(seed, height, width, cfg: AugmentConfig) -> tf.Tensor:
    """A random affine transform (the 8 numbers of ``ImageProjectiveTransformV3``) mapping
    output pixels to input pixels: rotation, shear, scale and shift about the centre, with an
    independent jitter of each side of the crop."""
    s = _seeds(seed, 6)
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    angle = _uniform(s[0], -1.0, 1.0) * cfg.rotation_deg * np.pi / 180
    shear = _uniform(s[1], -1.0, 1.0) * cfg.shear
    zoom = _uniform(s[2], cfg.scale[0], cfg.scale[1])
    # crop jitter: left, top, right, bottom margins in [-j, j]; changes scale and centre per axis
    m = _uniform(s[3], -cfg.crop_jitter, cfg.crop_jitter, (4,))
    sx = zoom / (1.0 - m[0] - m[2])  # output is this much larger than the input crop
    sy = zoom / (1.0 - m[1] - m[3])
    cx_in = w * (0.5 + (m[0] - m[2]) / 2)  # centre of the jittered crop in the input
    cy_in = h * (0.5 + (m[1] - m[3]) / 2)
    shift = _uniform(s[4], -1.0, 1.0, (2,)) * tf.constant(cfg.shift, tf.float32) * tf.stack([h, w])
    cos, sin = tf.cos(angle), tf.sin(angle)
    # inverse map: input = centre_in + A^-1 (output - centre_out - shift)
    a = tf.reshape(tf.stack([cos, -sin, sin, cos]), (2, 2))
    a = tf.matmul(a, tf.reshape(tf.stack([1.0, shear, 0.0, 1.0]), (2, 2)))
    a = a * tf.reshape(tf.stack([sx, sy]), (1, 2))  # columns scaled: x by sx, y by sy
    inv = tf.linalg.inv(a)
    out_c = tf.stack([w / 2 + shift[1], h / 2 + shift[0]])
    offset = tf.stack([cx_in, cy_in]) - tf.linalg.matvec(inv, out_c)
    return tf.stack([inv[0, 0], inv[0, 1], offset[0], inv[1, 0], inv[1, 1], offset[1], 0.0, 0.0])


def _transform(image, matrix, fill_mode):
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=matrix[None], output_shape=tf.shape(image)[:2],
        fill_value=0.0, interpolation="BILINEAR", fill_mode=fill_mode.upper())
    return out[0]


def _colour(image, seed, cfg: AugmentConfig):
    """Brightness, contrast and saturation (and hue), in a random order."""
    s = _seeds(seed, 5)
    ops = []  # only the operations switched on (a zero-width range means off)
    if cfg.brightness > 0:
        ops.append(lambda x: tf.image.stateless_random_brightness(x, cfg.brightness, s[0]))
    if cfg.contrast[1] > cfg.contrast[0]:
        ops.append(lambda x: tf.image.stateless_random_contrast(x, *cfg.contrast, s[1]))
    if cfg.saturation[1] > cfg.saturation[0]:
        ops.append(lambda x: tf.image.stateless_random_saturation(x, *cfg.saturation, s[2]))
    if cfg.hue > 0:
        ops.append(lambda x: tf.image.stateless_random_hue(x, cfg.hue, s[3]))
    if not ops:
        return image
    order = tf.argsort(tf.random.stateless_uniform((len(ops),), s[4]))
    for step in range(len(ops)):
        image = tf.switch_case(order[step], [lambda op=op: op(image) for op in ops])
        image = tf.clip_by_value(image, 0.0, 1.0)
    return image


def augment(image, seed=DEFAULT_SEED, config: AugmentConfig | None = None) -> tf.Tensor:
    """Augment one image (H, W, 3), uint8 or float in [0, 1]; returns float32 in [0, 1].

    Geometry first (one affine resampling: rotation, shear, scale, shift, crop jitter), then
    brightness/contrast/saturation in random order, then Gaussian and salt-and-pepper noise,
    then clipping. ``seed`` is an int or a (2,) integer tensor; the result is a function of
    the image and the seed alone (stateless random ops).
    """
    cfg = config or AugmentConfig()
    image = tf.image.convert_image_dtype(tf.convert_to_tensor(image), tf.float32)
    s = _seeds(seed, 7)
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    coin = tf.random.stateless_uniform((3,), s[0])
    if cfg.affine_prob > 0:
        image = tf.cond(coin[0] < cfg.affine_prob,
                        lambda: _transform(image, affine_matrix(s[1], height, width, cfg),
                                           cfg.fill_mode),
                        lambda: image)
    image = _colour(image, s[2], cfg)
    if cfg.noise_prob > 0 and cfg.noise_std > 0:
        std = _uniform(s[3], 0.0, cfg.noise_std)
        noisy = image + std * tf.random.stateless_normal(tf.shape(image), s[4])
        image = tf.where(coin[1] < cfg.noise_prob, noisy, image)
    if cfg.salt_pepper_prob > 0 and cfg.salt_pepper_amount > 0:
        u = tf.random.stateless_uniform(tf.shape(image)[:2], s[5])[..., None]
        amount = cfg.salt_pepper_amount
        peppered = tf.where(u < amount / 2, 0.0, tf.where(u > 1 - amount / 2, 1.0, image))
        image = tf.where(coin[2] < cfg.salt_pepper_prob, peppered, image)
    return tf.clip_by_value(image, 0.0, 1.0)


# --------------------------------------------------------------------------- datasets

_TF_DECODABLE = ("labelfile", "tsv", "filename")


def _decoded(samples: list[Sample], image_size) -> tf.data.Dataset:
    """(uint8 image at image_size, int32 labels) for every sample (files first, then encoded
    bytes, then images prepared in memory).

    Files are read and decoded by ``tf.io`` in parallel; CCPD scenes (which need the
    perspective warp) and in-memory images are prepared once with NumPy/OpenCV.
    """
    size = tuple(int(v) for v in image_size)
    parts, files, encoded, other = [], [], [], []
    for s in samples:
        if s.image is None and s.data is None and s.format in _TF_DECODABLE:
            files.append(s)
        elif s.image is None and s.data is not None:
            encoded.append(s)
        else:
            other.append(s)
    if files:
        ds = tf.data.Dataset.from_tensor_slices(
            ([str(s.path) for s in files], np.stack([s.labels for s in files])))
        parts.append(ds.map(lambda p, y: (decode_image(tf.io.read_file(p), size), y),
                            num_parallel_calls=AUTOTUNE))
    if encoded:
        ds = tf.data.Dataset.from_tensor_slices(
            ([s.data for s in encoded], np.stack([s.labels for s in encoded])))
        parts.append(ds.map(lambda b, y: (decode_image(b, size), y), num_parallel_calls=AUTOTUNE))
    if other:
        images = np.stack([read_image(s, size) for s in other])  # warps CCPD plates to size
        parts.append(tf.data.Dataset.from_tensor_slices(
            (images, np.stack([s.labels for s in other]))))
    if not parts:
        raise ValueError("make_dataset: no samples")
    ds = parts[0]
    for p in parts[1:]:
        ds = ds.concatenate(p)
    return ds


def _finish(ds, batch_size, image_size, whiten, augment_config, seed, drop_remainder):
    """Augment (seeded by the image's index in the stream), preprocess, batch, prefetch."""
    if augment_config is not None:
        base = tf.constant([int(seed), 0], tf.int64)

        def aug(i, example):
            image, labels = example
            return augment(image, base + tf.stack([tf.constant(0, tf.int64), i]),
                           augment_config), labels

        ds = ds.enumerate().map(aug, num_parallel_calls=AUTOTUNE)
    ds = ds.map(lambda x, y: (preprocess(x, image_size, whiten), y), num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(AUTOTUNE)


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
                 check: bool = True) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of ``(images float32 (B, H, W, 3), labels int32 (B, 8))``.

    ``source`` is anything :func:`load_samples` reads (a path, several paths) or a list of
    samples. Images are decoded and resized once (and cached in memory when ``cache`` is true,
    or in a file when ``cache`` is a path), then shuffled, augmented (``augment``: ``True`` for
    the default :class:`AugmentConfig`, or a config), preprocessed (:func:`preprocess`), batched
    and prefetched. TFRecord files are streamed, not loaded. Shuffling and augmentation depend
    on ``seed`` alone.
    """
    size = tuple(int(v) for v in image_size)
    cfg = _augment_config(augment)
    paths = [source] if isinstance(source, (str, Path)) else None
    if paths and Path(source).suffix.lower() in TFRECORD_SUFFIXES and Path(source).is_file():
        ds = read_tfrecord(source, size)
        count = None
    else:
        samples = load_samples(source, check=check)
        if not samples:
            raise ValueError(f"make_dataset: {source!r} holds no samples")
        ds = _decoded(samples, size)
        count = len(samples)
    if cache:
        ds = ds.cache(str(cache) if isinstance(cache, (str, Path)) else "")
    if shuffle:
        ds = ds.shuffle(min(count or 10_000, 50_000), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return _finish(ds, batch_size, size, whiten, cfg, seed, drop_remainder)


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
    """Write samples (or ``(uint8 image, labels)`` pairs, e.g. from an unbatched dataset) to a
    TFRecord file; return the number written.

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
                    encoded = Path(s.path).read_bytes()
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

                text = labels_to_text(labels)
                writer.write(_example(_png(image), labels, text, "array", f"{n}"))
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


def iterate_images(samples: Iterable[Sample], size=None) -> Iterator[np.ndarray]:
    """uint8 images of samples, one by one (for figures)."""
    for s in samples:
        yield read_image(s, size)


__all__ = ["AugmentConfig", "augment", "affine_matrix", "decode_image", "preprocess",
           "make_dataset", "synthetic_dataset", "write_tfrecord", "read_tfrecord",
           "DataError"]
