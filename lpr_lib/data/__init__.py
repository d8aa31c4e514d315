"""Datasets and the input pipelines.

Four formats load into one list of :class:`Sample` and from there into batches of
``(images float32 (B, H, W, 3), labels int32 (B, 8))``:

* the seed's label file: ``image_name idx idx ...`` (class indices, ``-1`` for absent positions);
* a folder with ``labels.tsv`` (``file  plate  source``), or a folder of crops named by plate text
  (``皖AY766D.jpg``, ``苏E1500Q_3.jpg``);
* a CCPD folder, whose file names encode the plate's corners and characters (the plate is
  perspective-warped out of the scene);
* TFRecord files written by :func:`write_tfrecord` (these need TensorFlow).

Submodules, one job each: :mod:`~lpr_lib.data.formats` (readers, writers, the split by plate
text; NumPy/Pillow/OpenCV, never TensorFlow), :mod:`~lpr_lib.data.loading`
(:func:`load_samples`, the one way in for every format), :mod:`~lpr_lib.data.augmentation`
(the augmentation, NumPy/OpenCV, for every backend), :mod:`~lpr_lib.data.preprocessing`
(decoding and :func:`preprocess` on TensorFlow), :mod:`~lpr_lib.data.pipeline` (the
``tf.data`` datasets, TensorFlow's backend), :mod:`~lpr_lib.data.tfrecord` (TFRecord files),
:mod:`~lpr_lib.data.pydataset` (the TensorFlow-free input path, a ``keras.utils.PyDataset``,
used on the other backends), :mod:`~lpr_lib.data.check` (``lpr check``),
:mod:`~lpr_lib.data.stats` (``lpr stats``), :mod:`~lpr_lib.data.bench` (the pipeline
benchmark) and :mod:`~lpr_lib.data.viz` (figures). TensorFlow is imported only when a
TensorFlow function is first used, so that ``lpr check`` answers quickly and the other
backends never need it.
"""
from __future__ import annotations

import importlib

from lpr_lib.data.formats import (  # noqa: F401
    CCPD_ADS, CCPD_ALPHABETS, CCPD_PROVINCES, IMAGE_SUFFIXES, TFRECORD_SUFFIXES, DataError,
    Sample, detect_format, parse_ccpd_name, read_image, read_label_file, split_by_plate,
    warp_plate, write_label_file,
)
from lpr_lib.data.loading import load_samples  # noqa: F401

# NumPy/OpenCV only: imported at once (no TensorFlow)
from lpr_lib.data.augmentation import AugmentConfig, affine_matrix, augment  # noqa: F401

_LAZY = {
    "preprocess": "preprocessing", "decode_image": "preprocessing",
    "make_dataset": "pipeline", "mixed_dataset": "pipeline", "synthetic_dataset": "pipeline",
    "write_tfrecord": "tfrecord", "read_tfrecord": "tfrecord",
    "check_dataset": "check", "CheckReport": "check", "Problem": "check", "cli_check": "check",
    "class_statistics": "stats", "plot_class_statistics": "stats", "cli_stats": "stats",
    "province_counts": "stats", "summary": "stats",
    "benchmark_pipeline": "bench",
    "PlateDataset": "pydataset", "make_pydataset": "pydataset", "mixed_pydataset": "pydataset",
    "preprocess_numpy": "pydataset",
}
_SUBMODULES = ("formats", "loading", "preprocessing", "pipeline", "tfrecord", "pydataset",
               "check", "stats", "bench", "viz")
#: the submodules that import TensorFlow at the top
_TENSORFLOW = ("preprocessing", "pipeline", "tfrecord")

__all__ = ["Sample", "DataError", "load_samples", "read_image", "split_by_plate",
           "parse_ccpd_name", "detect_format", "read_label_file", "write_label_file", "warp_plate",
           "AugmentConfig", "augment", "affine_matrix", *_LAZY]


def _import(submodule: str, name: str):
    """Import ``lpr_lib.data.<submodule>``; a TensorFlow submodule without TensorFlow is an
    error that says what to use instead."""
    from lpr_lib._tf import TensorFlowRequired

    try:
        return importlib.import_module(f"lpr_lib.data.{submodule}")
    except ImportError as err:
        if submodule not in _TENSORFLOW or err.name not in (None, "tensorflow"):
            raise
        raise TensorFlowRequired(
            f"lpr_lib.data.{name} is part of the tf.data pipeline, which needs TensorFlow "
            "(pip install tensorflow); without it use lpr_lib.data.make_pydataset / "
            "mixed_pydataset / preprocess_numpy") from None


def __getattr__(name):
    if name in _LAZY:
        module = _import(_LAZY[name], name)
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return _import(name, name)
    raise AttributeError(f"module 'lpr_lib.data' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
