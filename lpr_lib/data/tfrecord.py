"""TFRecord files: write plates into one, stream them out of one (these need TensorFlow).

A record holds the image's encoded bytes (JPEG/PNG files as they are, no re-compression;
in-memory images and CCPD plates as PNG), the eight label indices, the plate text, its
source and a name. :func:`read_tfrecord` streams ``(uint8 image, int32 labels)`` into the
``tf.data`` pipeline; :func:`tfrecord_entries` yields the file's samples, so that
:func:`lpr_lib.data.load_samples` and ``lpr check`` read TFRecord files as they read every
other format.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf

from lpr_lib.data.formats import (TFRECORD_SUFFIXES, Problem, Sample, label_problem, read_bytes,
                                  read_image)
from lpr_lib.data.preprocessing import decode_image
from lpr_lib.plates import DEFAULT_SIZE, MAX_LEN, labels_to_text, text_to_labels

__all__ = ["write_tfrecord", "read_tfrecord", "tfrecord_entries"]


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

    return tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE)


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
