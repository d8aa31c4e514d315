"""The ``tf.data`` input pipeline: decode, resize, augment, whiten, shuffle, batch, prefetch.

One function, :func:`preprocess`, turns a decoded image into the model's input; training,
evaluation, prediction and the exported model all call it, so that they cannot disagree (the
TensorFlow-free path, :mod:`lpr_lib.data.pydataset`, has its NumPy twin, tested against it).
The augmentation is :func:`lpr_lib.data.augmentation.augment`, NumPy and OpenCV, called per batch
through ``tf.numpy_function``: the one definition every backend uses. Its draws are keyed by
(seed, a per-batch key from a seeded stream): the same seed gives the same batches whatever
the number of parallel workers, and every epoch draws new ones.
"""
from __future__ import annotations

from pathlib import Path
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from lpr_lib.data.augmentation import (  # noqa: F401  (re-exported: the pipeline's names)
    AugmentConfig, _augment_config, affine_matrix, augment)
from lpr_lib.data.formats import (DEFAULT_SIZE, TFRECORD_SUFFIXES, DataError, Problem, Sample,
                                  label_problem, load_samples, read_bytes, read_image)
from lpr_lib.plates import MAX_LEN, text_to_labels
from lpr_lib.repro import DEFAULT_SEED

AUTOTUNE = tf.data.AUTOTUNE


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
