"""The TensorFlow-free input path: a ``keras.utils.PyDataset`` that trains on every backend.

:class:`PlateDataset` serves what :func:`lpr_lib.data.make_dataset` and
:func:`~lpr_lib.data.mixed_dataset` serve on TensorFlow, with NumPy and OpenCV alone: every
sample is decoded and resized once (held in memory as uint8), the order is shuffled anew each
epoch from the seed, several sources are mixed at their weights, each batch is augmented by
:func:`lpr_lib.data.augmentation.augment` (the augmentation the ``tf.data`` pipeline runs too) and
whitened per image as :func:`lpr_lib.data.preprocess` does. A batch is
``(images float32 (B, H, W, 3), {"chars": int32 (B, 8), "length": int32 (B,)})`` (and
``"kind"`` for a model with a kind head): the targets ``lpr_lib.train`` fits.

Batch ``i`` of epoch ``e`` is a function of ``(seed, e, i)`` alone, so that the dataset can be
read by several threads (``workers``) and a resumed run sees the batches the first one would
have (:class:`PinEpoch` tells the dataset the epoch ``model.fit`` is in).
:func:`preprocess_numpy` is the NumPy twin of :func:`lpr_lib.data.preprocess` (the same
antialiased bilinear resize, the same standardisation), for prediction without TensorFlow.

    ds = make_pydataset("data_samples", batch_size=32, augment=True)
    images, targets = ds[0]
"""
from __future__ import annotations

import functools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np

from lpr_lib.data.augmentation import _as_float, _augment_config, augment
from lpr_lib.data.formats import Sample, read_image
from lpr_lib.data.loading import load_samples
from lpr_lib.plates import DEFAULT_SIZE, MAX_LEN, kind_indices
from lpr_lib.repro import DEFAULT_SEED

__all__ = ["PlateDataset", "PinEpoch", "make_pydataset", "mixed_pydataset",
           "preprocess_numpy", "resize_images", "standardize", "decode_samples"]

# tags that keep the seeded streams apart: (seed, tag, ...)
_SHUFFLE, _MIX, _AUGMENT = 1, 2, 3
#: batches whose mixing draws are made together (one random call per block)
_MIX_BLOCK = 256
#: formats whose files the ``tf.data`` pipeline decodes and resizes itself (antialiased
#: bilinear); other samples (in-memory images, CCPD scenes) come from ``read_image`` at size
_DECODED_HERE = ("labelfile", "tsv", "filename")


# --------------------------------------------------------------------------- preprocessing

@functools.lru_cache(maxsize=64)
def _spans(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each output pixel's span of input pixels starts, and its weights (n_out, span),
    for ``tf.image.resize(..., "bilinear", antialias=True)`` along one axis, computed as
    TensorFlow's ``ScaleAndTranslate`` kernel computes them (float32, the same order): a
    triangle kernel, widened by the shrinking factor when shrinking, sampled at the pixel
    centres, each span's weights normalised to sum 1."""
    f32 = np.float32
    inv_scale = f32(1.0 / float(f32(n_out) / f32(n_in)))
    kernel_scale = max(inv_scale, f32(1.0))
    span = min(2 * math.ceil(float(kernel_scale)) + 1, n_in)
    centres = (np.arange(n_out, dtype=f32) + f32(0.5)) * inv_scale
    starts = np.clip(np.ceil(centres - kernel_scale - f32(0.5)), 0, n_in - 1).astype(np.int64)
    ends = np.clip(np.floor(centres + kernel_scale - f32(0.5)), 0, n_in - 1).astype(np.int64) + 1
    sources = starts[:, None] + np.arange(span)[None, :]
    distance = np.abs(((sources.astype(f32) + f32(0.5)) - centres[:, None])
                      * (f32(1.0) / kernel_scale))
    weights = np.where((distance < 1) & (sources < ends[:, None]), f32(1.0) - distance, f32(0.0))
    total = np.zeros(n_out, f32)
    for i in range(span):  # summed in order, as the kernel does
        total += weights[:, i]
    return starts, (weights * (f32(1.0) / total)[:, None]).astype(f32)


def _gather(images: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Resample ``images`` along ``axis`` to ``n_out`` pixels (one pass of the resize)."""
    n_in = images.shape[axis]
    starts, weights = _spans(n_in, n_out)
    shape = [1] * images.ndim
    shape[axis] = n_out
    out = np.zeros(images.shape[:axis] + (n_out,) + images.shape[axis + 1:], np.float32)
    for i in range(weights.shape[1]):
        taken = np.take(images, np.minimum(starts + i, n_in - 1), axis=axis)
        out += weights[:, i].reshape(shape) * taken
    return out


def resize_images(images: np.ndarray, size) -> np.ndarray:
    """Resize float images (H, W, C) or (B, H, W, C) to ``size`` = (H', W') as
    ``tf.image.resize(images, size, "bilinear", antialias=True)`` does (columns first, then
    rows; equal to float32 rounding)."""
    images = np.asarray(images, np.float32)
    return _gather(_gather(images, int(size[1]), images.ndim - 2), int(size[0]), images.ndim - 3)


def standardize(images: np.ndarray) -> np.ndarray:
    """``tf.image.per_image_standardization``: each image (the last three axes) to zero mean
    and unit variance, ``(x - mean) / max(std, 1 / sqrt(H * W * C))``; float32."""
    x = np.asarray(images, np.float32)
    axes = (-3, -2, -1)
    n = int(np.prod(x.shape[-3:]))
    mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
    std = np.sqrt(np.square(x - mean).mean(axis=axes, keepdims=True))
    return ((x - mean) / np.maximum(std, 1.0 / np.sqrt(n))).astype(np.float32)


def preprocess_numpy(image, image_size=DEFAULT_SIZE, whiten: bool = True) -> np.ndarray:
    """The model's input from a decoded image (H, W, 3) or a batch (B, H, W, 3), without
    TensorFlow: what :func:`lpr_lib.data.preprocess` computes, as a NumPy array.

    uint8 images are scaled to [0, 1]; float images are taken to be in [0, 1] already. The
    image is resized (bilinear, antialiased) to ``image_size`` = (H, W), then, with ``whiten``,
    standardised per image (:func:`standardize`), else clipped to [0, 1].
    """
    x = _as_float(image)
    if x.ndim not in (3, 4) or x.shape[-1] != 3:
        raise ValueError(f"preprocess: expected an RGB image (H, W, 3) or a batch "
                         f"(B, H, W, 3), got shape {x.shape}")
    size = tuple(int(v) for v in image_size)
    if tuple(x.shape[-3:-1]) != size:
        x = resize_images(x, size)
    return standardize(x) if whiten else np.clip(x, 0.0, 1.0)


# --------------------------------------------------------------------------- decoding

def _decode(sample: Sample, size: tuple[int, int]) -> np.ndarray:
    """One sample as uint8 RGB at ``size``, as the ``tf.data`` pipeline decodes it: image
    files and image bytes resized as ``tf.image.resize`` does (then rounded), in-memory images
    and CCPD plates by ``read_image`` at that size."""
    if sample.image is None and (sample.data is not None or sample.format in _DECODED_HERE):
        image = read_image(sample)
        if image.shape[:2] == size:
            return np.ascontiguousarray(image, np.uint8)
        resized = resize_images(image.astype(np.float32), size)
        return np.clip(np.round(resized), 0, 255).astype(np.uint8)
    return np.asarray(read_image(sample, size), np.uint8)


def decode_samples(samples: list[Sample], image_size=DEFAULT_SIZE,
                   threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 images (N, H, W, 3), int32 labels (N, 8))`` of ``samples``, in their order,
    decoded in parallel threads. A file that cannot be read raises
    :class:`~lpr_lib.data.DataError` naming it."""
    size = tuple(int(v) for v in image_size)
    threads = threads or min(8, os.cpu_count() or 1)
    images = np.empty((len(samples), *size, 3), np.uint8)  # filled in place: one copy in memory
    with ThreadPoolExecutor(max(1, threads)) as pool:
        for i, image in enumerate(pool.map(lambda s: _decode(s, size), samples)):
            images[i] = image
    labels = np.stack([np.asarray(s.labels, np.int32) for s in samples])
    return images, labels


# --------------------------------------------------------------------------- the dataset

@functools.lru_cache(maxsize=64)
def _permutation(seed: int, source: int, n_pass: int, n: int, shuffle: bool) -> np.ndarray:
    """The order of pass ``n_pass`` over the ``n`` images of source ``source``."""
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([seed % 2**64, _SHUFFLE, source, n_pass]).permutation(n)


@functools.lru_cache(maxsize=8)
def _mix_block(seed: int, block: int, probs: tuple[float, ...], batch: int) -> np.ndarray:
    """Which source each image of the batches of mixing block ``block`` is drawn from:
    (``_MIX_BLOCK``, batch) source indices, drawn with probabilities ``probs``."""
    rng = np.random.default_rng([seed % 2**64, _MIX, block])
    return rng.choice(len(probs), size=(_MIX_BLOCK, batch), p=np.asarray(probs))


def default_workers() -> int:
    """Threads that prepare batches ahead of the training step: ``LPR_DATA_WORKERS``, else
    half the cores (at most 8; 1 means batches are prepared in the training loop itself)."""
    value = os.environ.get("LPR_DATA_WORKERS")
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ValueError(f"LPR_DATA_WORKERS must be a whole number, not {value!r}") from None
    return max(1, min(8, (os.cpu_count() or 1) // 2))


class PlateDataset(keras.utils.PyDataset):
    """Batches of plates from decoded images, for ``model.fit`` on any Keras backend.

    ``sources``: a list of ``(uint8 images (N, H, W, 3), int32 labels (N, 8))``, each drawn
    with probability ``weights[k] / sum(weights)`` per image (default: equal weights). A
    dataset with one source and ``repeat=False`` goes through it once an epoch (in a new
    order each epoch with ``shuffle``; the last batch is short unless ``drop_remainder``);
    otherwise every source is an endless stream of shuffled passes and an epoch is ``steps``
    full batches (default: the images of all sources once). ``augment``: ``True``, a mapping of
    :class:`~lpr_lib.data.AugmentConfig` fields or a config; ``whiten`` as
    :func:`preprocess_numpy`. ``kind_head`` adds the ``"kind"`` target (the plate kind's index
    in :data:`lpr_lib.plates.KINDS`). ``workers`` > 1 prepares batches in that many threads.
    """

    def __init__(self, sources, weights=None, batch_size: int = 64, whiten: bool = True,
                 augment=False, shuffle: bool = True, seed: int = DEFAULT_SEED,
                 repeat: bool = False, steps: int | None = None, drop_remainder: bool = False,
                 kind_head: bool = False, workers: int | None = None, max_queue_size: int = 8):
        super().__init__(workers=workers or default_workers(), use_multiprocessing=False,
                         max_queue_size=max_queue_size)
        if not sources:
            raise ValueError("PlateDataset: no sources")
        self.images = [np.asarray(x) for x, _ in sources]
        self.labels = [np.asarray(y, np.int32) for _, y in sources]
        for x, y in zip(self.images, self.labels):
            if (x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3 or len(x) == 0
                    or y.shape != (len(x), MAX_LEN)):
                raise ValueError(f"PlateDataset: a source must be uint8 images (N, H, W, 3) and "
                                 f"labels (N, {MAX_LEN}), N > 0; got {x.dtype} {x.shape} and "
                                 f"{y.shape}")
        shapes = {x.shape[1:] for x in self.images}
        if len(shapes) > 1:
            raise ValueError(f"PlateDataset: the sources' images differ in size: {sorted(shapes)}")
        weights = [1.0] * len(sources) if weights is None else [float(w) for w in weights]
        if len(weights) != len(sources) or not all(w > 0 for w in weights):
            raise ValueError(f"PlateDataset: weights must be one positive number per source, "
                             f"got {weights!r}")
        self.probs = tuple(w / sum(weights) for w in weights)
        self.batch_size, self.whiten, self.shuffle = int(batch_size), whiten, shuffle
        self.seed, self.augment_config = int(seed), _augment_config(augment)
        self.stream = repeat or len(sources) > 1
        self.drop_remainder = drop_remainder or self.stream
        self.kind_head = kind_head
        #: the epoch the next batches belong to: counted by ``on_epoch_end``, set by
        #: :class:`PinEpoch` during ``model.fit`` (``lpr_lib.train`` adds it)
        self.epoch = 0
        n = sum(len(x) for x in self.images)
        if self.stream:
            self.steps = int(steps) if steps else max(1, n // self.batch_size)
        elif self.drop_remainder:
            self.steps = n // self.batch_size
        else:
            self.steps = -(-n // self.batch_size)
        if self.steps < 1:
            raise ValueError(f"PlateDataset: {n} images make no full batch of {batch_size}")
        self._starts = [np.zeros(len(sources), np.int64)]  # images drawn before each mix block
        self._lock = threading.Lock()
        self._kinds: list[np.ndarray] | None = None

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.images[0].shape[1:3])

    def __len__(self) -> int:
        return self.steps

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def __getitem__(self, index: int):
        if not 0 <= index < self.steps:
            raise IndexError(f"PlateDataset: batch {index} of {self.steps}")
        epoch = self.epoch
        source, rows = self.indices(epoch, index)
        images = np.empty((len(rows), *self.images[0].shape[1:]), np.uint8)
        labels = np.empty((len(rows), MAX_LEN), np.int32)
        for k in np.unique(source):
            at = source == k
            images[at], labels[at] = self.images[k][rows[at]], self.labels[k][rows[at]]
        if self.augment_config is not None:
            images = augment(images, (self.seed, _AUGMENT, epoch, index), self.augment_config)
        x = preprocess_numpy(images, self.image_size, self.whiten)
        return x, self.targets(labels, source, rows)

    def targets(self, labels: np.ndarray, source: np.ndarray, rows: np.ndarray) -> dict:
        """What ``lpr_lib.train``'s model is fitted to: the characters, the length (8 or 7
        characters: 1 or 0) and, with ``kind_head``, the plate kind."""
        y = {"chars": labels, "length": (labels[:, MAX_LEN - 1] >= 0).astype(np.int32)}
        if self.kind_head:
            kinds = self._kind_table()
            y["kind"] = np.array([kinds[k][r] for k, r in zip(source, rows)], np.int32)
        return y

    def _kind_table(self) -> list[np.ndarray]:
        if self._kinds is None:
            self._kinds = [kind_indices(y) for y in self.labels]
        return self._kinds

    # ------------------------------------------------------------ which images
    def indices(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(source, row)`` of each image of batch ``index`` of ``epoch``."""
        if not self.stream:
            n = len(self.images[0])
            order = _permutation(self.seed, 0, epoch, n, self.shuffle)
            rows = order[index * self.batch_size:(index + 1) * self.batch_size]
            return np.zeros(len(rows), np.int64), rows
        step = epoch * self.steps + index  # batches since the start of the stream
        if len(self.images) == 1:
            source = np.zeros(self.batch_size, np.int64)
            positions = step * self.batch_size + np.arange(self.batch_size)
        else:
            source, positions = self._mixed_positions(step)
        rows = np.empty(self.batch_size, np.int64)
        for k in np.unique(source):
            at = source == k
            rows[at] = self._rows(int(k), positions[at])
        return source, rows

    def _mixed_positions(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """The source of each image of a mixed batch, and its position in its source's
        stream (how many images that source gave before it)."""
        block, offset = divmod(step, _MIX_BLOCK)
        choices = _mix_block(self.seed, block, self.probs, self.batch_size)
        source = choices[offset]
        before = self._block_start(block) + np.bincount(choices[:offset].ravel(),
                                                        minlength=len(self.probs))
        positions = np.empty(self.batch_size, np.int64)
        for k in range(len(self.probs)):
            at = source == k
            positions[at] = before[k] + np.arange(int(at.sum()))
        return source, positions

    def _block_start(self, block: int) -> np.ndarray:
        with self._lock:
            while len(self._starts) <= block:
                done = len(self._starts) - 1
                counts = np.bincount(_mix_block(self.seed, done, self.probs,
                                                self.batch_size).ravel(),
                                     minlength=len(self.probs))
                self._starts.append(self._starts[done] + counts)
            return self._starts[block]

    def _rows(self, source: int, positions: np.ndarray) -> np.ndarray:
        """Rows of ``source`` at ``positions`` of its endless stream of shuffled passes."""
        n = len(self.images[source])
        passes, within = np.divmod(positions, n)
        rows = np.empty(len(positions), np.int64)
        for p in np.unique(passes):
            at = passes == p
            rows[at] = _permutation(self.seed, source, int(p), n, self.shuffle)[within[at]]
        return rows


class PinEpoch(keras.callbacks.Callback):
    """Tells a :class:`PlateDataset` which epoch ``model.fit`` is starting, so that its
    batches follow the run's epochs (a resumed run's too) whatever else calls
    ``on_epoch_end`` (Keras does once before the first epoch, after peeking at a batch)."""

    def __init__(self, dataset: PlateDataset):
        super().__init__()
        self.dataset = dataset

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.epoch = int(epoch)


# --------------------------------------------------------------------------- builders

def _source_arrays(source, size, check, caller: str) -> tuple[np.ndarray, np.ndarray]:
    """One source's decoded images and labels; ``caller`` names the builder in the error."""
    samples = load_samples(source, check=bool(check))
    if not samples:
        raise ValueError(f"{caller}: {_name(source)} holds no samples")
    return decode_samples(samples, size)


def _name(source) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return f"a list of {len(source)} samples" if isinstance(source, list) else repr(source)


def make_pydataset(source, batch_size: int = 64, image_size=DEFAULT_SIZE, whiten: bool = True,
                   augment=False, shuffle: bool = True, seed: int = DEFAULT_SEED,
                   repeat: bool = False, drop_remainder: bool = False, check=True,
                   steps: int | None = None, kind_head: bool = False,
                   workers: int | None = None) -> PlateDataset:
    """:func:`lpr_lib.data.make_dataset`'s batches without TensorFlow: a :class:`PlateDataset`.

    ``source`` is anything :func:`~lpr_lib.data.load_samples` reads, or a list of samples;
    every image is decoded once (a file that cannot be decoded raises
    :class:`~lpr_lib.data.DataError` naming it, before training); ``check`` is passed to
    ``load_samples`` (``"labels"`` counts as true). With ``repeat``, an epoch is ``steps``
    batches (default one pass) of an endless shuffled stream; TFRecord files need TensorFlow.
    """
    size = tuple(int(v) for v in image_size)
    arrays = _source_arrays(source, size, check, "make_pydataset")
    return PlateDataset([arrays], batch_size=batch_size, whiten=whiten, augment=augment,
                        shuffle=shuffle, seed=seed, repeat=repeat, steps=steps,
                        drop_remainder=drop_remainder, kind_head=kind_head, workers=workers)


def mixed_pydataset(parts, batch_size: int = 64, image_size=DEFAULT_SIZE, whiten: bool = True,
                    augment=False, seed: int = DEFAULT_SEED, check=True,
                    steps: int | None = None, kind_head: bool = False,
                    workers: int | None = None) -> PlateDataset:
    """:func:`lpr_lib.data.mixed_dataset`'s stream without TensorFlow: several sources mixed
    at weights in every batch, each an endless stream of shuffled passes (a small set of real
    crops is seen many times, each time augmented anew).

    ``parts`` is a list of ``(source, weight)`` or ``(source, weight, check)``; each image of a
    batch comes from source *i* with probability ``weight_i / sum``. An epoch is ``steps``
    batches (default: the images of all sources once).
    """
    size = tuple(int(v) for v in image_size)
    if not parts:
        raise ValueError("mixed_dataset: no sources")
    arrays, weights = [], []
    for source, weight, *own in parts:
        if not weight > 0:
            raise ValueError(f"mixed_dataset: {_name(source)} has weight {weight!r}; weights "
                             "must be > 0")
        arrays.append(_source_arrays(source, size, own[0] if own else check, "mixed_dataset"))
        weights.append(float(weight))
    return PlateDataset(arrays, weights, batch_size=batch_size, whiten=whiten, augment=augment,
                        seed=seed, repeat=True, steps=steps, kind_head=kind_head,
                        workers=workers)
