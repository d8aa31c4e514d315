"""The model's input from a decoded crop: the one function reading and evaluating share.

    x = model_input(rgb_uint8, (48, 144), whiten=True)   # float32 (48, 144, 3)

A crop becomes the model's input in two steps, on every backend and in every command
(``lpr predict``, ``lpr eval``, the exports' parity checks, the benchmarks):

1. :func:`to_model_size`: the decoded uint8 RGB crop resized to the model's input size as the
   training pipelines resize (and cache) every plate: ``tf.image.resize(..., "bilinear",
   antialias=True)`` computed in NumPy (:func:`lpr_lib.data.pydataset.resize_images`), rounded
   back to uint8;
2. :func:`model_input`: scaled to [0, 1], then standardised per image (``whiten``) as
   ``tf.image.per_image_standardization`` does.

Files are decoded by Pillow (:func:`lpr_lib.data.formats.decode_rgb`); for JPEG that is
libjpeg's accurate integer IDCT (``JDCT_ISLOW``), which OpenCV and TensorFlow's
``decode_jpeg(dct_method="INTEGER_ACCURATE")`` compute bit for bit too. TensorFlow's
``tf.io.decode_image`` uses its *fast* IDCT instead (pixels up to 13 levels apart on the
94x24 test crops): that is why ``lpr eval`` (which decoded with ``tf.data``) and ``lpr
predict`` once scored the same crops differently (issue 31).

NumPy and OpenCV: a 94x24 test crop is enlarged by ``cv2.resize`` (bilinear: when enlarging,
antialiasing changes nothing) and a larger one shrunk by the NumPy twin of TensorFlow's
antialiased kernel; either way within one level of TensorFlow's resize after rounding (the
tests check it), and about ten times faster than the same steps as eager TensorFlow ops on
one thread.
"""
from __future__ import annotations

import numpy as np

from lpr_lib.plates import DEFAULT_SIZE

__all__ = ["to_model_size", "model_input", "model_inputs"]


def _as_255(image) -> np.ndarray:
    """An RGB image as float32 on the 0..255 scale: uint8 as it is, other integer types
    scaled from their range, float images taken to be in [0, 1]."""
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(np.float32) * np.float32(255.0 / np.iinfo(a.dtype).max)
    return np.clip(a.astype(np.float32), 0.0, 1.0) * np.float32(255.0)


def to_model_size(image, image_size=DEFAULT_SIZE) -> np.ndarray:
    """A decoded RGB crop (H, W, 3) as uint8 at ``image_size`` = (height, width): resized
    bilinearly with antialiasing (``tf.image.resize``'s kernel, in NumPy) and rounded, as the
    training pipelines hold every plate. An image already at that size is only converted."""
    from lpr_lib.data.pydataset import resize_images

    size = tuple(int(v) for v in image_size)
    a = np.asarray(image)
    if a.dtype == np.uint8 and a.shape[:2] == size and a.ndim == 3 and a.shape[-1] == 3:
        return np.ascontiguousarray(a)
    x = _as_255(a)
    if x.shape[:2] != size and x.shape[0] <= size[0] and x.shape[1] <= size[1]:
        import cv2  # enlarging: antialiasing changes nothing, and OpenCV's bilinear (half-pixel
        # centres, edges replicated) is TensorFlow's within 0.003 of a level, 10x faster
        x = cv2.resize(x, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    elif x.shape[:2] != size:
        x = resize_images(x, size)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def model_inputs(images, whiten: bool = True) -> np.ndarray:
    """uint8 plates already at the model's size, one (H, W, 3) or a batch (B, H, W, 3), as
    the model's float32 input: scaled to [0, 1], then standardised per image when
    ``whiten`` (``(x - mean) / max(std, 1 / sqrt(H * W * 3))``)."""
    from lpr_lib.data.pydataset import standardize

    x = np.asarray(images, np.float32) * np.float32(1.0 / 255.0)
    return standardize(x) if whiten else x


def model_input(image, image_size=DEFAULT_SIZE, whiten: bool = True) -> np.ndarray:
    """The model's input (float32 (H, W, 3)) from a decoded RGB crop of any size:
    :func:`to_model_size`, then :func:`model_inputs`."""
    return model_inputs(to_model_size(image, image_size), whiten)
