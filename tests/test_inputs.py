"""One preprocessing for lpr predict and lpr eval (issue 31): the same file gives the same
model input on both paths, and the NumPy/OpenCV input is TensorFlow's within a level."""
from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from lpr_lib.data.inputs import model_input, model_inputs, to_model_size
from lpr_lib.repro import SHARED_REAL

SIZE = (48, 144)


def _stub_model(size=SIZE):
    return SimpleNamespace(input=SimpleNamespace(shape=(None, *size, 3)), _lpr_source=None)


def _plate_folder(tmp_path, shapes):
    """JPEG and PNG crops of the given (height, width) with a labels.tsv."""
    rng = np.random.default_rng(7)
    rows = ["file\tplate\tsource"]
    texts = ["皖A12345", "京B6789D", "沪C23456", "苏E1500Q", "浙F88888", "粤B12345"]
    for i, (h, w) in enumerate(shapes):
        base = np.linspace(0, 255, w)[None, :, None] * np.ones((h, 1, 3))
        img = np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
        name = f"p{i}.{'jpg' if i % 2 == 0 else 'png'}"
        Image.fromarray(img).save(tmp_path / name, quality=80)
        rows.append(f"{name}\t{texts[i % len(texts)]}\ttest")
    (tmp_path / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return sorted(p for p in tmp_path.iterdir() if p.suffix in (".jpg", ".png"))


def test_predict_and_eval_give_the_same_input(tmp_path):
    from lpr_lib.data import load_samples
    from lpr_lib.evaluate import _batches
    from lpr_lib.predict import Predictor

    _plate_folder(tmp_path, [(24, 94), (140, 440), (48, 144), (30, 200), (60, 100)])
    files = [s.path for s in load_samples(tmp_path)]
    for whiten in (True, False):
        predicted = Predictor(_stub_model(), whiten=whiten).preprocess(files)
        evaluated = np.concatenate([x for x, _ in _batches(tmp_path, 2, SIZE, whiten)])
        np.testing.assert_array_equal(predicted, evaluated)
        assert predicted.dtype == np.float32 and predicted.shape == (5, *SIZE, 3)


@pytest.mark.skipif(not (SHARED_REAL / "test").is_dir(),
                    reason="../shared/real_plates/test is absent (the real photographs are "
                           "not shipped with the project)")
def test_predict_and_eval_agree_on_the_real_test_crops():
    from lpr_lib.data import load_samples
    from lpr_lib.evaluate import _batches
    from lpr_lib.predict import Predictor

    samples = load_samples(SHARED_REAL / "test")[:48]
    predicted = Predictor(_stub_model(), whiten=True).preprocess([s.path for s in samples])
    evaluated = next(_batches(samples, 48, SIZE, True))[0]
    np.testing.assert_array_equal(predicted, evaluated)


def _tf_reference(img, size):
    """What the training pipeline holds for an image: tf.image.resize (antialiased
    bilinear) of its 0..255 values, rounded to uint8."""
    import tensorflow as tf

    out = tf.image.resize(tf.constant(img.astype(np.float32)), size, method="bilinear",
                          antialias=True).numpy()
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape,size", [((24, 94), SIZE), ((47, 143), SIZE), ((30, 144), SIZE),
                                        ((140, 440), SIZE), ((300, 1000), (32, 96)),
                                        ((101, 97), (33, 95)), ((20, 300), SIZE)])
def test_model_size_is_tensorflows_resize_within_a_level(shape, size):
    rng = np.random.default_rng(sum(shape))
    img = (rng.random((*shape, 3)) * 255).astype(np.uint8)
    got = to_model_size(img, size)
    want = _tf_reference(img, size)
    assert got.dtype == np.uint8 and got.shape == (*size, 3)
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.01  # within 1/255, nearly always equal


def test_model_input_is_the_tf_preprocess_of_the_held_plate():
    from lpr_lib import data

    rng = np.random.default_rng(3)
    img = (rng.random((24, 94, 3)) * 255).astype(np.uint8)
    held = _tf_reference(img, SIZE)
    for whiten in (True, False):
        want = data.preprocess(held, SIZE, whiten).numpy()
        got = model_input(img, SIZE, whiten)
        tolerance = 1 / 255 if not whiten else 1 / 255 / max(float(np.std(held / 255)), 1e-3)
        assert np.abs(got - want).max() <= 1.05 * tolerance
    np.testing.assert_allclose(model_inputs(held, True), data.preprocess(held, SIZE).numpy(),
                               atol=1e-4)
    # float images in [0, 1] and 16-bit ones are the same picture
    assert np.abs(to_model_size(img.astype(np.float32) / 255, SIZE).astype(int)
                  - to_model_size(img, SIZE)).max() <= 1
    np.testing.assert_array_equal(to_model_size(img.astype(np.uint16) * 257, SIZE),
                                  to_model_size(img, SIZE))


def test_jpeg_is_decoded_with_the_accurate_idct():
    """The cause of the old gap between lpr eval (tf.io.decode_image: the fast IDCT) and lpr
    predict (Pillow: the accurate one): Pillow's pixels are TensorFlow's accurate ones."""
    import tensorflow as tf

    from lpr_lib.data.formats import decode_rgb

    rng = np.random.default_rng(5)
    img = np.clip(rng.normal(128, 60, (24, 94, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=75)
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as im:
        ours = decode_rgb(im)
    accurate = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE").numpy()
    np.testing.assert_array_equal(ours, accurate)
