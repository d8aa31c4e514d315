"""The training pipeline decodes a JPEG as Pillow does (the accurate inverse DCT), so a model
trains on the pixels ``lpr predict`` and ``lpr eval`` later give it."""
import io

import numpy as np
from PIL import Image

from lpr_lib.data.preprocessing import decode_image


def _jpeg(rng, size=(24, 94)):
    image = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
    image[:, ::7] = 255  # edges, where the two inverse DCTs differ most
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=75)
    return buf.getvalue()


def test_jpegs_decode_as_pillow_decodes_them():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for _ in range(3):
        data = _jpeg(rng)
        pillow = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        ours = decode_image(tf.constant(data), pillow.shape[:2]).numpy()
        np.testing.assert_array_equal(ours, pillow)
        fast = tf.io.decode_image(data, channels=3).numpy()
        assert np.abs(fast.astype(int) - pillow).max() > 0  # the default decoder differs


def test_pngs_still_decode():
    import tensorflow as tf

    image = np.random.default_rng(1).integers(0, 256, size=(20, 60, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    np.testing.assert_array_equal(decode_image(tf.constant(buf.getvalue()), (20, 60)).numpy(),
                                  image)
