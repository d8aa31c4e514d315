"""The model's input on TensorFlow: decode an image file's bytes, and preprocess.

One function, :func:`preprocess`, turns a decoded image into the model's input; training,
evaluation, prediction and the exported model all call it (on TensorFlow's backend), so that
they cannot disagree. The TensorFlow-free path has its NumPy twin,
:func:`lpr_lib.data.pydataset.preprocess_numpy`, tested against it. :func:`decode_image` is how
the ``tf.data`` pipeline (:mod:`lpr_lib.data.pipeline`) and TFRecord files
(:mod:`lpr_lib.data.tfrecord`) turn image bytes into uint8 plates at the input size.
"""
from __future__ import annotations

import tensorflow as tf

from lpr_lib.plates import DEFAULT_SIZE

__all__ = ["preprocess", "decode_image"]


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
    cached dataset stays small). JPEGs are decoded with the accurate inverse DCT, as Pillow,
    OpenCV and so :mod:`lpr_lib.data.inputs` (what ``lpr predict`` and ``lpr eval`` read)
    decode them: TensorFlow's default, faster one differs by up to a dozen levels."""
    image = tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(data, channels=3, expand_animations=False))
    image.set_shape([None, None, 3])
    image = tf.image.resize(image, image_size, method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
