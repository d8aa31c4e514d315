"""The ``tf.data`` input pipeline: decode, resize, augment, whiten, shuffle, batch, prefetch.

:func:`make_dataset` (one dataset, in order or shuffled), :func:`mixed_dataset` (several
sources at weights, without end) and :func:`synthetic_dataset` (rendered plates) all end in
the same steps: batch, augment, :func:`~lpr_lib.data.preprocessing.preprocess` (the one
function training, evaluation, prediction and the exported model share), prefetch.
The augmentation is :func:`lpr_lib.data.augmentation.augment`, NumPy and OpenCV, called per batch
through ``tf.numpy_function``: the one definition every backend uses. Its draws are keyed by
(seed, a per-batch key from a seeded stream): the same seed gives the same batches whatever
the number of parallel workers, and every epoch draws new ones. TFRecord sources are streamed
by :mod:`lpr_lib.data.tfrecord`; the TensorFlow-free path is :mod:`lpr_lib.data.pydataset`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from lpr_lib.data.augmentation import AugmentConfig, _augment_config, augment
from lpr_lib.data.check import check_image
from lpr_lib.data.formats import TFRECORD_SUFFIXES, DataError, Sample, read_bytes, read_image
from lpr_lib.data.loading import load_samples
from lpr_lib.data.preprocessing import decode_image, preprocess
from lpr_lib.data.tfrecord import read_tfrecord
from lpr_lib.plates import DEFAULT_SIZE, MAX_LEN, text_to_labels
from lpr_lib.repro import DEFAULT_SEED

AUTOTUNE = tf.data.AUTOTUNE


# --------------------------------------------------------------------------- augmentation

def _augment_batch(images: tf.Tensor, key: tf.Tensor, seed: int,
                   config: AugmentConfig) -> tf.Tensor:
    """:func:`lpr_lib.data.augmentation.augment` (NumPy/OpenCV) on one batch inside ``tf.data``,
    keyed by ``(seed, key)``; float32 in [0, 1] of the batch's shape."""

    def run(batch, k):
        return augment(batch, (seed, int(k)), config)

    out = tf.numpy_function(run, [images, key], tf.float32, stateful=False)
    out.set_shape(images.shape)
    return out


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
        # between runs only when the seed does); the augmentation's draws are keyed by (seed, key)
        keys = tf.data.Dataset.random(seed=int(seed), rerandomize_each_iteration=True)

        def aug(key, batch):
            images, labels = batch
            return _augment_batch(images, key, int(seed), augment_config), labels

        ds = tf.data.Dataset.zip((keys, ds)).map(aug, num_parallel_calls=AUTOTUNE)
    ds = ds.map(lambda x, y: (preprocess(x, image_size, whiten), y), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


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


__all__ = ["make_dataset", "mixed_dataset", "synthetic_dataset"]
