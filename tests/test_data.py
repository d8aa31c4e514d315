"""lpr_lib.data: the four formats, the split by plate text, the pipeline, the checker, the
statistics; bad inputs of every kind give errors that name the file. Fixtures are drawn with PIL
in tmp_path; the real photographs are used only through the ``real_plates`` fixture."""
import json
import subprocess
import zlib
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

from lpr_lib import data
from lpr_lib.data import DataError, Sample, load_samples, read_image, split_by_plate
from lpr_lib.data.formats import CCPD_ADS, CCPD_ALPHABETS, CCPD_PROVINCES, parse_ccpd_name
from lpr_lib.plates import CHARS, PROVINCES, labels_to_text, text_to_labels

PLATES = ["皖AY766D", "苏E1500Q", "沪A12345", "粤BD12345", "浙B88888"]
BLUE = (20, 60, 200)


def plate_image(text, size=(36, 136), colour=BLUE, seed=0):
    """A plate-like picture: coloured background, white boxes where characters would be."""
    h, w = size
    im = Image.new("RGB", (w, h), colour)
    d = ImageDraw.Draw(im)
    rng = np.random.default_rng(seed)
    for i in range(len(text)):
        x = 4 + i * (w - 8) // len(text)
        d.rectangle([x + 2, 6, x + (w - 8) // len(text) - 3, h - 6],
                    fill=tuple(int(v) for v in rng.integers(180, 256, 3)))
    return im


def write_images(folder, names_texts, fmt="JPEG"):
    """Every image different (duplicates are made on purpose only)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in names_texts:
        seed = zlib.crc32(f"{folder.name}/{name}".encode())
        plate_image(text, seed=seed).save(folder / name, fmt)


@pytest.fixture
def label_file_set(tmp_path):
    """The seed's format: ``name idx idx ...``, 8 indices, -1 for absent, in a sub-folder."""
    folder = tmp_path / "seed"
    items = [(f"img/{i:03d}.png", t) for i, t in enumerate(PLATES)]
    (folder / "img").mkdir(parents=True)
    write_images(folder, items, "PNG")
    lines = [" ".join([n, *map(str, text_to_labels(t).tolist())]) for n, t in items]
    (folder / "labels.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def tsv_set(tmp_path):
    folder = tmp_path / "tsv"
    items = [(f"{t}_{i}.jpg", t) for i, t in enumerate(PLATES)]
    write_images(folder, items)
    rows = ["file\tplate\tsource"] + [f"{n}\t{t}\ttest" for n, t in items]
    (folder / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def named_set(tmp_path):
    folder = tmp_path / "named"
    write_images(folder, [("皖AY766D.jpg", "皖AY766D"), ("苏E1500Q_3.jpg", "苏E1500Q"),
                          ("苏E1500Q_4.jpg", "苏E1500Q"), ("粤BD12345.png", "粤BD12345")])
    (folder / "notes.txt").write_text("not an image")
    return folder


def ccpd_name(corners, indices, box=None):
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    box = box or (min(xs), min(ys), max(xs), max(ys))
    pts = "_".join(f"{x}&{y}" for x, y in corners)
    return (f"025-95_113-{box[0]}&{box[1]}_{box[2]}&{box[3]}-{pts}-"
            f"{'_'.join(map(str, indices))}-146-27.jpg")


@pytest.fixture
def ccpd_set(tmp_path):
    """Grey scenes with a tilted blue plate whose corners are in the name (BR, BL, TL, TR)."""
    folder = tmp_path / "ccpd"
    folder.mkdir()
    corners = [(330, 262), (110, 250), (112, 190), (332, 200)]
    for idx in [[0, 0, 22, 27, 27, 33, 16], [10, 4, 24, 25, 26, 27, 28]]:
        scene = Image.new("RGB", (480, 400), (128, 128, 128))
        ImageDraw.Draw(scene).polygon(corners, fill=BLUE)
        ImageDraw.Draw(scene).ellipse([210, 215, 230, 235], fill=(255, 255, 255))  # a mark
        scene.save(folder / ccpd_name(corners, idx))
    return folder


# ------------------------------------------------------------------------------------ formats

def test_every_format_is_detected(label_file_set, tsv_set, named_set, ccpd_set):
    assert data.detect_format(label_file_set) == "labelfile"
    assert data.detect_format(label_file_set / "labels.txt") == "labelfile"
    assert data.detect_format(tsv_set) == "tsv"
    assert data.detect_format(named_set) == "filename"
    assert data.detect_format(ccpd_set) == "ccpd"


def test_seed_label_file_reads_indices_and_absent_positions(label_file_set):
    samples = load_samples(label_file_set)
    assert [s.text for s in samples] == PLATES
    assert samples[0].labels.dtype == np.int32 and samples[0].labels.shape == (8,)
    assert samples[0].labels[7] == -1 and samples[3].labels[7] != -1  # 7 vs 8 characters
    assert samples[0].path == label_file_set / "img" / "000.png"
    assert samples[1].where.endswith("labels.txt:2")


def test_label_file_round_trip_and_short_lines(label_file_set, tmp_path):
    samples = load_samples(label_file_set)
    out = data.write_label_file(samples, label_file_set / "copy.txt")
    again = load_samples(out)
    assert [s.text for s in again] == PLATES
    # seven indices without the trailing -1 are accepted too
    (label_file_set / "short.txt").write_text(
        "img/000.png " + " ".join(map(str, text_to_labels("皖AY766D")[:7])) + "\n")
    assert load_samples(label_file_set / "short.txt")[0].text == "皖AY766D"


def test_tsv_and_plate_named_folders(tsv_set, named_set):
    tsv = load_samples(tsv_set)
    assert [s.text for s in tsv] == PLATES and {s.source for s in tsv} == {"test"}
    named = load_samples(named_set)
    assert sorted(s.text for s in named) == ["皖AY766D", "粤BD12345", "苏E1500Q", "苏E1500Q"]
    assert all(s.path.suffix in (".jpg", ".png") for s in named)  # notes.txt ignored


def test_ccpd_lists_are_ccpds():
    assert len(CCPD_PROVINCES) == 34 and CCPD_PROVINCES[:31] == PROVINCES
    assert CCPD_PROVINCES[-3:] == ("警", "学", "O")
    assert len(CCPD_ALPHABETS) == 25 and CCPD_ALPHABETS[-1] == "O" and "I" not in CCPD_ALPHABETS
    assert len(CCPD_ADS) == 35 and CCPD_ADS[24:34] == tuple("0123456789") and CCPD_ADS[-1] == "O"


def test_ccpd_name_parses():
    name = ("0130387931034-88_83-258&504_472&569-476&566_266&568_251&496_461&494-"
            "0_0_33_27_25_22_33-115-15.jpg")
    info = parse_ccpd_name(name)
    assert info["text"] == "皖A931Y9"  # provinces[0], alphabets[0], ads[33, 27, 25, 22, 33]
    assert info["box"] == (258, 504, 472, 569)
    np.testing.assert_array_equal(info["corners"], [[476, 566], [266, 568], [251, 496], [461, 494]])
    assert info["tilt"] == (88, 83) and info["brightness"] == 115 and info["blur"] == 15


def test_ccpd_index_mapping_by_hand():
    # ads: 0-23 are letters A..Z without I/O, 24-33 digits, 34 is 'O' ("no character")
    info = parse_ccpd_name(ccpd_name([(3, 3), (1, 3), (1, 1), (3, 1)], [10, 4, 24, 25, 0, 33, 23]))
    assert info["text"] == "苏E01A9Z"


@pytest.mark.parametrize("indices,match", [([0, 0, 22, 27, 27, 33, 34], "no character"),
                                           ([33, 0, 22, 27, 27, 33, 1], "no character"),
                                           ([0, 25, 22, 27, 27, 33, 1], "outside"),
                                           ([0, 0, 22], "indices")])
def test_ccpd_bad_indices_are_flagged(indices, match):
    with pytest.raises(ValueError, match=match):
        parse_ccpd_name(ccpd_name([(3, 3), (1, 3), (1, 1), (3, 1)], indices))


def test_ccpd_bad_name_names_the_file():
    with pytest.raises(ValueError, match="x.jpg.*7 fields"):
        parse_ccpd_name("x.jpg")
    with pytest.raises(ValueError, match="corners"):
        parse_ccpd_name("1-2_3-1&2_3&4-1&2_3&4-0_0_1_1_1_1_1-1-1.jpg")


def test_ccpd_plate_is_warped_upright(ccpd_set):
    samples = load_samples(ccpd_set)
    assert [s.text for s in samples] == ["皖AY339S", "苏E01234"]
    crop = read_image(samples[0])
    assert crop.shape == (48, 144, 3)
    mean = crop.reshape(-1, 3).mean(0)
    assert mean[2] > 150 and mean[0] < 60  # the blue plate fills the crop, no grey scene
    grey = (np.abs(crop.astype(int) - 128).sum(-1) < 10).mean()
    assert grey < 0.02
    # the white mark at the plate's centre lands near the crop's centre
    white = np.argwhere(crop.min(-1) > 200)
    cy, cx = white.mean(0)
    assert abs(cy - 24) < 6 and abs(cx - 72) < 8
    assert read_image(samples[0], size=(24, 94)).shape == (24, 94, 3)


# ------------------------------------------------------------------------------------ split

def test_split_by_plate_keeps_plates_on_one_side():
    texts = [t for t in PLATES for _ in range(3)] + ["京N84E28", "津QW3691", "冀A73786"] * 2
    samples = [Sample(None, t, text_to_labels(t), "memory", where=str(i))
               for i, t in enumerate(texts)]
    train, val = split_by_plate(samples, 0.3, seed=1)
    assert len(train) + len(val) == len(samples)
    assert not {s.text for s in train} & {s.text for s in val}
    assert len(val) >= 0.3 * len(samples)
    assert [s.where for s in split_by_plate(samples, 0.3, seed=1)[1]] == [s.where for s in val]
    assert split_by_plate(samples, 0.0)[1] == []
    with pytest.raises(ValueError):
        split_by_plate(samples, 1.0)


# ------------------------------------------------------------------------------------ pipeline

def test_preprocess_whitens_or_scales():
    import tensorflow as tf

    img = np.asarray(plate_image("皖AY766D"))  # 36 x 136 uint8
    x = data.preprocess(img)
    assert x.shape == (48, 144, 3) and x.dtype == tf.float32
    assert abs(float(tf.reduce_mean(x))) < 1e-4 and abs(float(tf.math.reduce_std(x)) - 1) < 1e-3
    y = data.preprocess(img, (24, 72), whiten=False)
    assert y.shape == (24, 72, 3) and 0 <= float(tf.reduce_min(y)) and float(tf.reduce_max(y)) <= 1
    # uint8 and the same image as float in [0, 1] give the same input; batches work too
    z = data.preprocess(img.astype(np.float32) / 255)
    np.testing.assert_allclose(x, z, atol=1e-4)
    assert data.preprocess(np.stack([img, img])).shape == (2, 48, 144, 3)


def test_augment_is_seeded_bounded_and_switchable():
    img = np.asarray(plate_image("皖AY766D").resize((144, 48)))
    a, b = data.augment(img, seed=3), data.augment(img, seed=3)
    np.testing.assert_array_equal(a, b)
    c = data.augment(img, seed=4)
    assert np.abs(np.asarray(a) - np.asarray(c)).mean() > 1e-3
    assert a.shape == img.shape and 0 <= float(np.min(a)) and float(np.max(a)) <= 1
    same = data.augment(img, seed=3, config=data.AugmentConfig.none())
    np.testing.assert_allclose(same, img / 255, atol=1e-6)


def test_affine_jitter_is_identity_at_zero_strength_and_moves_content():
    from lpr_lib.data.augmentation import affine_matrix

    cfg = data.AugmentConfig(rotation_deg=0, shear=0, scale=(1, 1), shift=(0, 0), crop_jitter=0)
    np.testing.assert_allclose(affine_matrix(5, 48, 144, cfg), [1, 0, 0, 0, 1, 0, 0, 0], atol=1e-6)
    # zoom 2x about the centre: output pixel (x, y) samples input (36 + x/2, 12 + y/2)
    cfg2 = data.AugmentConfig(rotation_deg=0, shear=0, scale=(2, 2), shift=(0, 0), crop_jitter=0)
    m = np.asarray(affine_matrix(5, 48, 144, cfg2))
    np.testing.assert_allclose(m, [0.5, 0, 36, 0, 0.5, 12, 0, 0], atol=1e-5)


@pytest.mark.parametrize("fixture", ["label_file_set", "tsv_set", "named_set", "ccpd_set"])
def test_every_format_feeds_the_same_pipeline(fixture, request):
    folder = request.getfixturevalue(fixture)
    ds = data.make_dataset(folder, batch_size=2, shuffle=False)
    images, labels = next(iter(ds))
    assert images.shape == (2, 48, 144, 3) and images.dtype.name == "float32"
    assert labels.shape == (2, 8) and labels.dtype.name == "int32"
    expected = [s.labels for s in load_samples(folder)][:2]
    np.testing.assert_array_equal(labels, expected)
    assert sum(int(x.shape[0]) for x, _ in ds) == len(load_samples(folder))


def test_mixed_formats_keep_their_order(tsv_set, ccpd_set, tmp_path):
    ccpd = load_samples(ccpd_set)
    data.write_tfrecord(ccpd, tmp_path / "c.tfrecord")
    samples = [ccpd[0]] + load_samples(tsv_set) + load_samples(tmp_path / "c.tfrecord") + [ccpd[1]]
    ds = data.make_dataset(samples, batch_size=4, shuffle=False, whiten=False)
    images = np.concatenate([x.numpy() for x, _ in ds])
    labels = np.concatenate([y.numpy() for _, y in ds])
    np.testing.assert_array_equal(labels, np.stack([s.labels for s in samples]))
    # the CCPD plate warped in memory and its TFRecord copy give the same input
    np.testing.assert_allclose(images[0], images[len(samples) - 3], atol=1e-6)


def test_pipeline_is_deterministic_for_a_seed(tsv_set, ccpd_set):
    def epoch(seed):
        ds = data.make_dataset([tsv_set, ccpd_set], batch_size=3, augment=True, seed=seed)
        return [(x.numpy(), y.numpy()) for x, y in ds]

    a, b, c = epoch(1), epoch(1), epoch(2)
    ds = data.make_dataset(tsv_set, batch_size=5, augment=True, shuffle=False, seed=1)
    first, second = (next(iter(ds))[0].numpy() for _ in range(2))
    assert np.abs(first - second).max() > 1e-2  # a new augmentation every epoch
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_allclose(xa, xb, atol=1e-5)
    assert any(not np.array_equal(ya, yc) for (_, ya), (_, yc) in zip(a, c)) or \
        any(np.abs(xa - xc).max() > 1e-3 for (xa, _), (xc, _) in zip(a, c))


def test_tfrecord_round_trip(tsv_set, ccpd_set, tmp_path):
    samples = load_samples([tsv_set, ccpd_set])
    path = tmp_path / "plates.tfrecord"
    assert data.write_tfrecord(samples, path) == len(samples)
    back = load_samples(path)
    assert [s.text for s in back] == [s.text for s in samples]
    assert back[0].source == "test" and back[-1].format == "tfrecord"
    # JPEG bytes are kept as they are; CCPD plates are stored warped (lossless PNG)
    np.testing.assert_array_equal(read_image(back[0]), read_image(samples[0]))
    np.testing.assert_array_equal(read_image(back[-1]), read_image(samples[-1]))
    ds = data.make_dataset(path, batch_size=4, shuffle=False)
    labels = np.concatenate([y.numpy() for _, y in ds])
    np.testing.assert_array_equal(labels, np.stack([s.labels for s in samples]))
    # (image, labels) pairs, e.g. from an unbatched dataset, are accepted too
    pairs = [(read_image(s, (48, 144)), s.labels) for s in samples[:2]]
    assert data.write_tfrecord(pairs, tmp_path / "pairs.tfrecord") == 2
    stream = data.read_tfrecord(path).batch(3)  # a batched tf.data.Dataset of uint8 images
    assert data.write_tfrecord(stream, tmp_path / "copy.tfrecord") == len(samples)
    np.testing.assert_array_equal([s.labels for s in load_samples(tmp_path / "copy.tfrecord")],
                                  [s.labels for s in samples])
    with pytest.raises(ValueError, match="uint8"):
        data.write_tfrecord([(np.zeros((4, 4, 3), np.float32), samples[0].labels)],
                            tmp_path / "bad.tfrecord")


class FakeGenerator:
    """Stands in for lpr_lib.synth.PlateGenerator: same .sample() contract."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def sample(self):
        text = PLATES[int(self.rng.integers(len(PLATES)))]
        return np.asarray(plate_image(text, size=(48, 144))), text


def test_synthetic_stream_from_any_generator_object():
    ds = data.synthetic_dataset(count=5, batch_size=2, config=FakeGenerator(0))
    batches = [(x, y) for x, y in ds]
    assert [int(x.shape[0]) for x, _ in batches] == [2, 2, 1]
    assert batches[0][0].shape[1:] == (48, 144, 3)
    texts = [labels_to_text(row) for _, y in batches for row in y.numpy()]
    assert set(texts) <= set(PLATES)
    endless = data.synthetic_dataset(batch_size=4, config=FakeGenerator(0), augment=True)
    assert sum(1 for _ in endless.take(3)) == 3


def test_synthetic_stream_from_the_generator_is_seeded():
    pytest.importorskip("lpr_lib.synth")

    def labels(seed, workers):
        ds = data.synthetic_dataset(count=6, batch_size=3, seed=seed, workers=workers)
        return np.concatenate([y.numpy() for _, y in ds])

    a = labels(7, 1)
    np.testing.assert_array_equal(a, labels(7, 2))  # parallel streams, same plates, same order
    assert not np.array_equal(a, labels(8, 1))


# ------------------------------------------------------------------------------------ bad input

def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_samples(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        data.check_dataset(tmp_path / "nowhere")


def test_missing_file_names_file_and_line(tsv_set):
    (tsv_set / f"{PLATES[2]}_2.jpg").unlink()
    with pytest.raises(DataError, match=r"labels.tsv:4: missing-file.*沪A12345_2.jpg"):
        load_samples(tsv_set)
    report = data.check_dataset(tsv_set)
    assert [p.kind for p in report.errors] == ["missing-file"] and len(report.samples) == 4


@pytest.mark.parametrize("plate,kind", [("皖AI766D", "unknown-character"),
                                        ("皖A766D", "wrong-length"),
                                        ("皖AY766D12", "wrong-length"),
                                        ("A皖Y766D", "invalid-plate")])
def test_bad_labels_name_file_line_and_problem(tsv_set, plate, kind):
    path = tsv_set / "labels.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].split("\t")[0] + f"\t{plate}\ttest"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"labels.tsv:4: {kind}"):
        load_samples(tsv_set)
    report = data.check_dataset(tsv_set)
    assert [(p.kind, p.line) for p in report.errors] == [(kind, 4)]


def test_bad_lines_in_the_seed_label_file(label_file_set):
    path = label_file_set / "labels.txt"
    good = path.read_text().splitlines()
    bad = good + ["img/000.png 0 41 99 51 34 38 36 -1",  # index past the alphabet
                  "img/001.png 0 41 63 51 34 38 36 -1 5",  # nine positions
                  "img/002.png -1 41 63 51 34 38 36 -1",  # present after absent
                  "just-a-name",
                  "img/gone.png " + " ".join(map(str, text_to_labels("皖AY766D")))]
    path.write_text("\n".join(bad) + "\n")
    report = data.check_dataset(label_file_set)
    kinds = [(p.kind, p.line) for p in report.errors]
    assert kinds == [("unknown-character", 6), ("wrong-length", 7), ("unknown-character", 8),
                     ("bad-line", 9), ("missing-file", 10)]
    with pytest.raises(DataError, match=r"labels.txt:6.*99"):
        load_samples(label_file_set)


def test_corrupt_image_is_reported_and_raises_with_its_name(tsv_set):
    victim = tsv_set / f"{PLATES[1]}_1.jpg"
    victim.write_bytes(victim.read_bytes()[:200])  # truncated JPEG
    (tsv_set / f"{PLATES[2]}_2.jpg").write_bytes(b"this is not an image")
    report = data.check_dataset(tsv_set)
    assert {p.file.rsplit("/", 1)[-1] for p in report.errors} == {
        f"{PLATES[1]}_1.jpg", f"{PLATES[2]}_2.jpg"}
    assert {p.kind for p in report.errors} == {"unreadable-image"}
    with pytest.raises(DataError, match=f"{PLATES[2]}_2.jpg.*cannot decode"):
        read_image(load_samples(tsv_set)[2])
    # the pipeline refuses before training starts, naming the first bad file
    with pytest.raises(DataError, match=f"{PLATES[1]}_1.jpg: unreadable-image"):
        data.make_dataset(tsv_set)
    assert data.make_dataset(tsv_set, check="labels") is not None  # when told to trust it


def test_duplicates_are_reported(tsv_set):
    path = tsv_set / "labels.tsv"
    rows = path.read_text(encoding="utf-8").splitlines()
    first = rows[1].split("\t")[0]
    # the same file listed twice, and the same image bytes under another name (two labels)
    (tsv_set / "copy.jpg").write_bytes((tsv_set / first).read_bytes())
    (tsv_set / "same.jpg").write_bytes((tsv_set / rows[2].split("\t")[0]).read_bytes())
    rows += [rows[1], "copy.jpg\t京N84E28\ttest", f"same.jpg\t{PLATES[1]}\ttest"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="labels.tsv:7: duplicate-entry.*listed twice.*:2"):
        load_samples(tsv_set)
    report = data.check_dataset(tsv_set)
    assert report.counts() == {"duplicate-entry": 1, "conflicting-labels": 1,
                               "duplicate-image": 1}
    assert not report.ok


def test_unlisted_images_and_name_mismatch_are_warnings(tsv_set):
    plate_image("x").save(tsv_set / "extra.jpg")
    path = tsv_set / "labels.tsv"
    path.write_text(path.read_text(encoding="utf-8").replace(f"\t{PLATES[0]}\t", "\t皖AY766E\t"),
                    encoding="utf-8")
    report = data.check_dataset(tsv_set)
    assert report.ok and sorted(p.kind for p in report.warnings) == ["name-mismatch",
                                                                     "unlisted-image"]


def test_empty_folder_and_corrupt_tfrecord(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty.*no images"):
        load_samples(tmp_path / "empty")
    (tmp_path / "bad.tfrecord").write_bytes(b"\x00" * 50)
    report = data.check_dataset(tmp_path / "bad.tfrecord")
    assert [p.kind for p in report.errors] == ["unreadable-image"]


def test_lpr_check_exit_codes_and_json(tsv_set, named_set):
    def lpr(*args):
        return subprocess.run([sys.executable, "-m", "lpr_lib", *args], capture_output=True,
                              text=True, timeout=120)

    good = lpr("check", str(tsv_set), str(named_set), "--json")
    assert good.returncode == 0, good.stderr
    out = json.loads(good.stdout)
    assert out["samples"] == 9 and out["ok"]
    assert {p["kind"] for p in out["problems"]} == {"shared-plate"}  # warning: plates in both
    assert lpr("check", str(tsv_set), str(named_set), "--strict").returncode == 1
    (tsv_set / f"{PLATES[0]}_0.jpg").write_bytes(b"junk")
    bad = lpr("check", str(tsv_set))
    assert bad.returncode == 1 and "unreadable-image" in bad.stdout
    missing = lpr("check", str(tsv_set / "nope"))
    assert missing.returncode == 2 and "nope" in missing.stderr


# ------------------------------------------------------------------------------------ statistics

def test_class_statistics_counts_by_hand():
    samples = [Sample(None, t, text_to_labels(t), "memory") for t in
               ["皖AY766D", "皖A12345", "苏E1500Q", "粤BD12345"]]
    st = data.class_statistics(samples)
    assert len(st) == 8 * len(CHARS)

    def count(pos, char):
        return int(st[(st.position == pos) & (st["char"] == char)]["count"].iloc[0])

    assert count(0, "皖") == 2 and count(0, "苏") == 1 and count(0, "京") == 0
    assert count(1, "A") == 2 and count(7, "5") == 1 and count(7, "D") == 0
    assert st[st.position == 7]["count"].sum() == 1  # only the 8-character plate
    prov = data.province_counts(samples)
    assert prov.index[0] == "皖" and prov["皖"] == 2 and (prov == 0).sum() == 28
    s = data.summary(samples)
    assert s["lengths"] == {7: 3, 8: 1} and s["provinces_seen"] == 3
    assert s["positions"][0]["max_over_min"] == 2.0


def test_stats_plot_and_cli(tsv_set, tmp_path, capsys):
    import matplotlib

    matplotlib.use("Agg")
    fig = data.plot_class_statistics(load_samples(tsv_set))
    assert len(fig.axes) >= 2
    from lpr_lib import cli

    assert cli.main(["stats", str(tsv_set), "--plot", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert "provinces: 5 of 31" in capsys.readouterr().out


# ------------------------------------------------------------------------------------ real plates

@pytest.mark.shared
def test_real_train_and_test_load_with_their_counts(real_plates):
    train = load_samples(real_plates / "train")
    test = load_samples(real_plates / "test")
    assert len(train) == 1531 and len(test) == 1000
    assert {s.source for s in train} == {"easypr", "ccpd"}
    assert all(s.labels[7] == -1 for s in test)  # all 7-character plates
    tr, va = split_by_plate(train, 0.1)
    assert not {s.text for s in tr} & {s.text for s in va}
    assert not {s.text for s in train} & {s.text for s in test}  # README: removed from train


@pytest.mark.shared
def test_real_ccpd_scenes_parse_and_warp_to_blue_plates(real_plates):
    scenes = load_samples(real_plates / "ccpd_scenes")
    assert len(scenes) == 32 and all(s.text[0] in PROVINCES for s in scenes)
    bluish = 0
    for s in scenes:
        crop = read_image(s).reshape(-1, 3).astype(float)
        scene = np.asarray(Image.open(s.path).convert("RGB")).reshape(-1, 3).astype(float)
        # the warped plate is bluer than its parking-lot scene (blue minus red)...
        assert (crop[:, 2] - crop[:, 0]).mean() > (scene[:, 2] - scene[:, 0]).mean() + 5, s.text
        bluish += crop[:, 2].mean() > crop[:, 0].mean()
    assert bluish >= 30, f"only {bluish} of 32 warped crops are blue"  # ...and blue, but for
    # a few dark or colour-cast photographs


# ------------------------------------------------------------------------------------ mixtures

def test_mixed_dataset_draws_sources_at_their_weights(tsv_set, tmp_path):
    """Weights 3:1 -> about 75% of the images from the first source (labels tell them apart)."""
    from lpr_lib.plates import text_to_labels

    first = {tuple(text_to_labels(t)) for t in PLATES}
    named_set = tmp_path / "other"
    write_images(named_set, [("京N84E28.jpg", "京N84E28"), ("津QW3691.jpg", "津QW3691")])
    ds = data.mixed_dataset([(tsv_set, 3.0), (named_set, 1.0)], batch_size=50,
                            image_size=(24, 72), seed=5)
    labels = np.concatenate([y.numpy() for _, y in ds.take(20)])
    share = np.mean([tuple(row) in first for row in labels])
    assert labels.shape == (1000, 8) and 0.70 < share < 0.80  # binomial sd ~1.4%
    again = np.concatenate([y.numpy() for _, y in data.mixed_dataset(
        [(tsv_set, 3.0), (named_set, 1.0)], batch_size=50, image_size=(24, 72), seed=5).take(20)])
    np.testing.assert_array_equal(labels, again)  # seeded


def test_mixed_dataset_rejects_bad_weights(tsv_set):
    with pytest.raises(ValueError, match="weight"):
        data.mixed_dataset([(tsv_set, 0.0)], image_size=(24, 72))


def test_downscale_blurs_and_is_switchable():
    rng = np.random.default_rng(0)
    img = (rng.random((8, 32, 96, 3)) * 255).astype(np.uint8)  # white noise: all detail
    still = dict(affine_prob=0.0, brightness=0.0, contrast=(1.0, 1.0), saturation=(1.0, 1.0),
                 noise_prob=0.0, salt_pepper_prob=0.0)
    low = data.augment(img, seed=1, config=data.AugmentConfig(downscale_prob=1.0,
                                                              downscale=(0.5, 0.5), **still))
    same = data.augment(img, seed=1, config=data.AugmentConfig(downscale_prob=0.0, **still))
    np.testing.assert_allclose(same, img / 255.0, atol=1e-6)
    # halving then doubling averages 2x2 blocks: the fine detail (variance) drops a lot
    assert low.std() < 0.6 * (img / 255.0).std()


def test_vertical_shear_slants_the_row():
    from lpr_lib.data.augmentation import affine_matrix

    still = dict(rotation_deg=0, shear=0, scale=(1, 1), shift=(0, 0), crop_jitter=0)
    m = np.asarray(affine_matrix(5, 48, 144, data.AugmentConfig(shear_y=0.1, **still), batch=16))
    # the inverse of [[1, 0], [k, 1]] about the centre (72, 24): x_in = x, y_in = y - k (x - 72)
    k = -m[:, 3]
    assert np.all(np.abs(k) <= 0.1 + 1e-6) and k.std() > 0.02
    np.testing.assert_allclose(m[:, [0, 1, 4]], np.tile([1.0, 0.0, 1.0], (16, 1)), atol=1e-6)
    np.testing.assert_allclose(m[:, 2], 0.0, atol=1e-4)
    np.testing.assert_allclose(m[:, 5], 72 * k, atol=1e-4)
    # a horizontal bar comes out slanted: its row at the left differs from its row at the right
    img = np.zeros((48, 144, 3), np.uint8)
    img[22:26] = 255
    cfg = data.AugmentConfig.none()
    cfg.affine_prob, cfg.shear_y = 1.0, 0.1
    out = np.asarray(data.augment(np.stack([img] * 8), seed=2, config=cfg))[..., 0]
    left, right = out[:, :, 10].argmax(axis=1), out[:, :, 133].argmax(axis=1)
    assert np.abs(left - right).max() >= 5


def test_channel_gain_scales_each_channel_within_its_range():
    img = np.full((16, 8, 8, 3), 128, np.uint8)
    cfg = data.AugmentConfig.none()
    cfg.channel_gain = 0.2
    out = np.asarray(data.augment(img, seed=4, config=cfg))
    gains = out[:, 0, 0, :] / (128 / 255)
    assert np.all(gains >= 0.8 - 1e-5) and np.all(gains <= 1.2 + 1e-5)
    assert np.abs(gains[:, 0] - gains[:, 2]).max() > 0.05  # channels differ: a colour cast
    np.testing.assert_allclose(out, out[:, :1, :1, :].repeat(8, 1).repeat(8, 2), atol=1e-6)
    off = np.asarray(data.augment(img, seed=4, config=data.AugmentConfig.none()))
    np.testing.assert_allclose(off, 128 / 255, atol=1e-6)
