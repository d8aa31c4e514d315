"""One way in: any dataset path (or several) -> a list of :class:`~lpr_lib.data.formats.Sample`.

:func:`load_samples` is the entry point the pipelines, the trainer and the evaluator use, and
:func:`iter_entries` the one the checker uses (it sees every problem, not only the first).
They know every format: the label file, ``labels.tsv``, crops named by plate text and CCPD
folders are read by :mod:`lpr_lib.data.formats` (NumPy, Pillow, OpenCV), TFRecord files by
:mod:`lpr_lib.data.tfrecord`, which is imported only for a TFRecord source: without
TensorFlow the other formats load as before, and a TFRecord file is an error that says so.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lpr_lib.data.formats import (Problem, Sample, collect_samples, detect_format,
                                  format_entries, incomplete_reason)

__all__ = ["iter_entries", "load_samples"]


def iter_entries(source, check: bool = True) -> Iterator[Sample | Problem]:
    """Every sample (and every problem found while parsing) of a dataset path, in file order."""
    path = Path(source)
    fmt = detect_format(path)
    reason = incomplete_reason(path)
    if reason:
        yield Problem("incomplete", str(path), reason)
    if fmt == "tfrecord":
        yield from _tfrecord_entries(path, check)
    else:
        yield from format_entries(path, fmt, check)


def _tfrecord_entries(path: Path, check: bool) -> Iterator[Sample | Problem]:
    """A TFRecord file's samples (read by TensorFlow: a clear error without it)."""
    try:
        from lpr_lib.data.tfrecord import tfrecord_entries
    except ImportError as err:
        if err.name not in (None, "tensorflow"):
            raise
        from lpr_lib._tf import TensorFlowRequired

        raise TensorFlowRequired(f"{path}: reading TFRecord files needs TensorFlow (pip install "
                                 "tensorflow); or give the images as a folder or label file")\
            from None
    yield from tfrecord_entries(path, check)


def load_samples(source, check: bool = True) -> list[Sample]:
    """Load a dataset, or several (a list of paths or samples), into a list of :class:`Sample`.

    ``source`` is a seed label file (or a folder with ``labels.txt``), a ``labels.tsv`` file (or
    its folder), a folder of crops named by plate text, a CCPD folder, or a TFRecord file.
    With ``check=True`` every listed image must exist and every label must be a valid plate
    (GA 36 rules); the first problem raises :class:`~lpr_lib.data.formats.DataError` (a
    ``ValueError``) naming the file and line. ``check=False`` accepts any text in the alphabet
    of length 1..8 and does not look for the image files (for deliberately noisy data; use
    ``lpr check`` to see everything that is wrong at once). A missing path raises
    :class:`FileNotFoundError`.
    """
    if isinstance(source, Sample):
        return [source]
    if isinstance(source, (list, tuple)):
        out = []
        for item in source:
            out.extend(load_samples(item, check) if not isinstance(item, Sample) else [item])
        return out
    return collect_samples(iter_entries(source, check))
