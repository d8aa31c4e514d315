"""Crops as a detector gives them (lpr_lib.data.crops), synthetic car scenes
(lpr_lib.synth.scene) and the validation sets made of both (lpr_lib.data.valsets)."""
import numpy as np
import pytest

from lpr_lib.data import crops, valsets
from lpr_lib.plates import PROVINCES, is_valid
from lpr_lib.synth.config import no_degradations
from lpr_lib.synth.scene import plate_scene

# a 300x200 photo whose pixel (y, x) holds x in the red channel and y in the green one (mod
# 256), so that a crop tells where it was cut from; the plate spans x 100..190, y 80..110
PHOTO = np.stack([*np.meshgrid(np.arange(300) % 256, np.arange(200) % 256),
                  np.zeros((200, 300))], -1).astype(np.uint8)
CORNERS = np.float32([[190, 110], [100, 110], [100, 80], [190, 80]])  # clockwise from br


def _origin(crop):
    return int(crop[0, 0, 0]), int(crop[0, 0, 1])  # (x, y) of the crop's top-left pixel


def test_plate_box_is_the_corners_extent_in_any_order():
    assert crops.plate_box(CORNERS) == (100, 80, 190, 110)
    assert crops.plate_box(CORNERS[::-1]) == (100, 80, 190, 110)
    with pytest.raises(ValueError, match="no area"):
        crops.plate_box([[5, 5], [5, 9]])


def test_tight_crop_is_the_box():
    c = crops.tight_crop(PHOTO, CORNERS)
    assert c.shape == (30, 90, 3) and _origin(c) == (100, 80)


@pytest.mark.parametrize("margin", [0.25, 0.5, 1.0])
def test_loose_crop_adds_margin_plate_heights_on_every_side(margin):
    c = crops.loose_crop(PHOTO, CORNERS, margin)
    pad = margin * 30
    assert _origin(c) == (int(np.floor(100 - pad)), int(np.floor(80 - pad)))
    assert c.shape[:2] == (int(np.ceil(110 + pad)) - int(np.floor(80 - pad)),
                           int(np.ceil(190 + pad)) - int(np.floor(100 - pad)))


def test_loose_crop_takes_four_margins_and_is_clipped_to_the_photo():
    c = crops.loose_crop(PHOTO, CORNERS, (0, 0, 1, 0))
    assert _origin(c) == (100, 80) and c.shape[:2] == (30, 120)
    big = crops.loose_crop(PHOTO, CORNERS, 10)  # far beyond the photo: the whole photo
    assert big.shape == PHOTO.shape and _origin(big) == (0, 0)
    with pytest.raises(ValueError, match="margin must be"):
        crops.loose_crop(PHOTO, CORNERS, (1, 2))


@pytest.mark.parametrize("side,origin", [("left", (109, 80)), ("right", (91, 80)),
                                         ("top", (100, 86)), ("bottom", (100, 74))])
def test_edge_crop_shifts_the_tight_box_into_the_plate(side, origin):
    cut = 0.1 if side in ("left", "right") else 0.2
    c = crops.edge_crop(PHOTO, CORNERS, side, cut)
    assert c.shape == (30, 90, 3) and _origin(c) == origin


def test_edge_crop_refuses_unknown_sides_and_cuts():
    with pytest.raises(ValueError, match="side must be one of"):
        crops.edge_crop(PHOTO, CORNERS, "middle", 0.1)
    with pytest.raises(ValueError, match="cut must be"):
        crops.edge_crop(PHOTO, CORNERS, "left", 1.0)


def test_a_box_outside_the_photo_is_refused_and_crops_are_copies():
    with pytest.raises(ValueError, match="outside the 300x200 image"):
        crops.cut_box(PHOTO, (400, 10, 450, 40))
    c = crops.tight_crop(PHOTO, CORNERS)
    c[:] = 0
    assert PHOTO[80, 100, 0] == 100


def test_scene_corners_are_where_the_plate_is_drawn():
    rng = np.random.default_rng(5)
    scene, corners = plate_scene("皖A12345", "blue", rng, degradations=no_degradations())
    assert scene.dtype == np.uint8 and corners.shape == (4, 2)
    x1, y1, x2, y2 = crops.plate_box(corners)
    h = y2 - y1
    # at least a plate height and a half of car around the plate, on every side
    assert x1 >= 1.5 * h and y1 >= 1.5 * h
    assert scene.shape[1] - x2 >= 1.5 * h and scene.shape[0] - y2 >= 1.5 * h
    # clockwise from bottom-right, as CCPD gives them
    br, bl, tl, tr = corners
    assert br[0] > bl[0] and br[1] > tr[1] and tl[0] < tr[0] and tl[1] < bl[1]
    # the plate's blue fills the middle of its box
    centre = scene[int(y1 + 0.3 * h):int(y2 - 0.3 * h), int(x1 + 0.3 * h):int(x2 - 0.3 * h)]
    r, g, b = centre.reshape(-1, 3).astype(float).mean(0)
    assert b > r + 40 and b > g + 20


def test_scenes_depend_only_on_their_seed():
    a = plate_scene("苏E1500Q", "yellow", np.random.default_rng([3, 1]))
    b = plate_scene("苏E1500Q", "yellow", np.random.default_rng([3, 1]))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_province_set_has_every_province():
    items = valsets.province_plates(per_province=2)
    assert len(items) == 2 * len(PROVINCES)
    assert [t[0] for _, t, _ in items] == [p for p in PROVINCES for _ in range(2)]
    assert all(is_valid(t, "blue") and im.shape == (48, 144, 3) for im, t, _ in items)
    again = valsets.province_plates(per_province=2)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(items, again))


def test_scene_sets_have_each_framing(tmp_path):
    sets = valsets.scene_crops(n=2)
    assert [len(sets[k]) for k in ("synth_tight", "synth_loose", "synth_edge")] == [
        2, 2 * len(valsets.LOOSE_MARGINS), 2 * len(valsets.EDGE_CUTS)]
    assert {f for _, _, f in sets["synth_edge"]} == {f"{s} {c:g}" for s, c in
                                                     valsets.EDGE_CUTS.items()}
    label_file = valsets.write_set(sets["synth_loose"], tmp_path / "loose", "synthetic scene")
    read = valsets.read_set(tmp_path / "loose")
    assert [(t, f) for _, t, f in read] == [(t, f) for _, t, f in sets["synth_loose"]]
    from lpr_lib.data import load_samples

    samples = load_samples(label_file)  # an ordinary labelled folder
    assert [s.text for s in samples] == [t for _, t, _ in read]
    assert not (tmp_path / "loose.tmp").exists()


def test_build_val_sets_describes_every_set(tmp_path):
    sets = valsets.build_val_sets(tmp_path / "sets", shared=tmp_path / "no_shared", scenes=1,
                                  per_province=1)
    assert sets["synth_provinces"]["plates"] == len(PROVINCES)
    assert sets["synth_loose"]["framings"] == {f"margin {m:g}": 1 for m in valsets.LOOSE_MARGINS}
    assert "absent" in sets["ccpd_loose"]["missing"] and "real_test" not in sets
    assert all(k in valsets.SET_DESCRIPTIONS for k in sets)


def test_ccpd_sets_from_the_real_photos(real_plates):
    sets = valsets.ccpd_crops(real_plates / "ccpd_scenes")
    n = len(list((real_plates / "ccpd_scenes").glob("*.jpg")))
    assert len(sets["ccpd_tight"]) == n and len(sets["ccpd_loose"]) == 3 * n
    assert len(sets["ccpd_edge"]) == 4 * n
    (tight, text, _), (loose, _, framing) = sets["ccpd_tight"][0], sets["ccpd_loose"][2]
    assert sets["ccpd_loose"][2][1] == text
    assert framing == "margin 1" and loose.shape[0] > 2.5 * tight.shape[0]
    held = valsets.real_sets(real_plates)["real_train_heldout"]
    assert 100 < len(held) < 200  # mixed's validation tenth of the 1,531 training crops
