"""Datasets and the input pipeline.

Four formats load into one list of :class:`Sample` and from there into one
``tf.data`` pipeline of ``(images float32 (B, H, W, 3), labels int32 (B, 8))``:

* the seed's label file: ``image_name idx idx ...`` (class indices, ``-1`` for absent positions);
* a folder with ``labels.tsv`` (``file  plate  source``), or a folder of crops named by plate text
  (``皖AY766D.jpg``, ``苏E1500Q_3.jpg``);
* a CCPD folder, whose file names encode the plate's corners and characters (the plate is
  perspective-warped out of the scene);
* TFRecord files written by :func:`write_tfrecord`.

Submodules: :mod:`~lpr_lib.data.formats` (readers, writers, the split by plate text),
:mod:`~lpr_lib.data.pipeline` (preprocessing, augmentation, ``tf.data``),
:mod:`~lpr_lib.data.check` (``lpr check``), :mod:`~lpr_lib.data.stats` (``lpr stats``) and
:mod:`~lpr_lib.data.bench` (the pipeline benchmark) and :mod:`~lpr_lib.data.viz` (figures).
TensorFlow is imported only when a pipeline function is first used, so that ``lpr check``
answers quickly.
"""
from __future__ import annotations

import importlib

from lpr_lib.data.formats import (  # noqa: F401
    CCPD_ADS, CCPD_ALPHABETS, CCPD_PROVINCES, IMAGE_SUFFIXES, TFRECORD_SUFFIXES, DataError,
    Sample, detect_format, load_samples, parse_ccpd_name, read_image, read_label_file,
    split_by_plate, warp_plate, write_label_file,
)

_LAZY = {
    "preprocess": "pipeline", "augment": "pipeline", "AugmentConfig": "pipeline",
    "make_dataset": "pipeline", "mixed_dataset": "pipeline", "synthetic_dataset": "pipeline",
    "decode_image": "pipeline",
    "write_tfrecord": "pipeline", "read_tfrecord": "pipeline",
    "check_dataset": "check", "CheckReport": "check", "Problem": "check", "cli_check": "check",
    "class_statistics": "stats", "plot_class_statistics": "stats", "cli_stats": "stats",
    "province_counts": "stats", "summary": "stats",
    "benchmark_pipeline": "bench",
}
_SUBMODULES = ("formats", "pipeline", "check", "stats", "bench", "viz")

__all__ = ["Sample", "DataError", "load_samples", "read_image", "split_by_plate",
           "parse_ccpd_name", "detect_format", "read_label_file", "write_label_file", "warp_plate",
           *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f"lpr_lib.data.{_LAZY[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"lpr_lib.data.{name}")
    raise AttributeError(f"module 'lpr_lib.data' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
