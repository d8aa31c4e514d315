"""lpr_lib.locate: a loose crop is cut down to the plate found by its colour; a tight crop,
or one with no plate colour, is left as it is."""
import numpy as np
import pytest

from lpr_lib.locate import DEFAULT, LocateSettings, plate_box, tighten

BLUE, YELLOW, GREY = (20, 60, 200), (230, 190, 20), (128, 128, 128)


def _scene(size=(120, 300), box=(80, 40, 210, 82), colour=BLUE, seed=0):
    """A grey, slightly noisy scene with a plate of ``colour`` at ``box`` (x0, y0, x1, y1),
    white bars for characters on it."""
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(GREY[0], 6, (*size, 3)), 0, 255).astype(np.uint8)
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = colour
    for k in range(7):  # seven characters: white strokes with gaps between them
        cx = x0 + 6 + k * (x1 - x0 - 12) // 7
        img[y0 + 8:y1 - 8, cx:cx + 5] = 255
    return img


def test_the_plate_is_found_in_a_loose_crop():
    box = plate_box(_scene())
    assert box is not None
    assert np.allclose(box, (80, 40, 210, 82), atol=2)


def test_a_yellow_plate_is_found_too():
    assert np.allclose(plate_box(_scene(colour=YELLOW)), (80, 40, 210, 82), atol=2)


def test_tighten_cuts_to_the_plate_with_its_margin():
    out = tighten(_scene())
    w, h = 130, 42  # the plate
    mx, my = int(DEFAULT.margin_x * w), int(DEFAULT.margin_y * h)
    assert abs(out.shape[1] - (w + 2 * mx)) <= 3 and abs(out.shape[0] - (h + 2 * my)) <= 3
    assert out.flags["C_CONTIGUOUS"]


def test_a_tight_crop_keeps_its_size_and_a_crop_without_a_plate_is_read_as_it_is():
    tight = _scene(size=(44, 134), box=(1, 1, 133, 43))  # the plate fills the crop
    assert tighten(tight).shape == tight.shape  # the margin reaches the crop's edges
    grey = _scene(box=(0, 0, 0, 0))  # nothing plate-coloured
    assert plate_box(grey) is None and tighten(grey) is grey


def test_a_region_of_the_wrong_shape_is_not_a_plate():
    stripe = _scene(box=(10, 50, 290, 62))  # 280x12: far wider than a plate
    assert plate_box(stripe) is None
    assert plate_box(_scene(), LocateSettings(aspect=(5.0, 8.0))) is None  # 130x42 is ~3.1


def test_a_grey_image_is_refused_with_its_shape():
    with pytest.raises(ValueError, match=r"\(50, 80\)"):
        plate_box(np.zeros((50, 80), dtype=np.uint8))


def test_predictor_reads_the_tightened_crop_when_asked(tmp_path):
    """Predictor(locate=True) prepares exactly model_input(tighten(image))."""
    import keras

    from lpr_lib.data.inputs import model_input
    from lpr_lib.predict import Predictor

    inp = keras.Input((48, 144, 3))
    x = keras.layers.GlobalAveragePooling2D()(inp)
    model = keras.Model(inp, {"chars": keras.layers.Dense(2)(x)})
    scene = _scene()
    located = Predictor(model, whiten=True, temperature=1.0, locate=True)
    plain = Predictor(model, whiten=True, temperature=1.0)
    np.testing.assert_array_equal(located.preprocess([scene])[0],
                                  model_input(tighten(scene), (48, 144), True))
    assert not np.array_equal(located.preprocess([scene]), plain.preprocess([scene]))
    wide = LocateSettings(margin_x=0.2, margin_y=0.3)  # settings of one's own
    np.testing.assert_array_equal(
        Predictor(model, whiten=True, temperature=1.0, locate=wide).preprocess([scene])[0],
        model_input(tighten(scene, wide), (48, 144), True))
