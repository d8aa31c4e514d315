"""Issue 10: a reader says "no plate" when it is not sure, reads only valid plates, answers for
every image even when some cannot be read; an export replaces its folder as a whole."""
import itertools
import json

import numpy as np
import pytest

from lpr_lib import cli
from lpr_lib.data.formats import error_text
from lpr_lib.export import EXPORT_FILES, replace_folder
from lpr_lib.predict import MIN_CONFIDENCE, ImageError, Predictor, load_model
from lpr_lib.plates import (CHAR_TO_INDEX, CHARS, KIND_PATTERNS, KINDS, MAX_LEN, NUM_CLASSES,
                            _KIND_RULES, constrained_decode, is_valid, labels_to_text)

SIZE = (32, 96)


# ------------------------------------------------------------------ constrained decoding


def test_kind_patterns_are_the_kind_rules():
    """Each position's alphabet is exactly what the kind's regular expression allows there."""
    rng = np.random.default_rng(0)
    for kind, pattern in KIND_PATTERNS.items():
        rx = _KIND_RULES[kind][0]
        base = [allowed[0] for allowed in pattern]
        assert rx.fullmatch("".join(base))
        for pos in range(len(pattern)):
            for c in CHARS:
                text = base.copy()
                text[pos] = c
                assert bool(rx.fullmatch("".join(text))) == (c in pattern[pos]), (kind, pos, c)
        for _ in range(20):  # random texts drawn from the pattern are valid plates of the kind
            text = "".join(allowed[rng.integers(len(allowed))] for allowed in pattern)
            assert is_valid(text, kind)
    assert set(KIND_PATTERNS) == set(KINDS)


def _brute_force(probs, length_probs=None):
    """The most probable text among every combination of each position's non-zero
    characters that is a plate of some kind (checked with the kinds' regular expressions)."""
    best, best_score = None, -1.0
    for length_index, length in enumerate((7, 8)):
        support = [np.flatnonzero(probs[pos] > 0) for pos in range(length)]
        for combo in itertools.product(*support):
            text = "".join(CHARS[i] for i in combo)
            if not any(rx.fullmatch(text) for rx, _ in _KIND_RULES.values()):
                continue
            score = float(np.prod([probs[pos, i] for pos, i in enumerate(combo)]))
            if length_probs is not None:
                score *= length_probs[length_index]
            if score > best_score:
                best, best_score = text, score
    return best, best_score


def _table(rng, candidates: list[str]) -> np.ndarray:
    """A (8, C) table whose position ``i`` spreads random probabilities over the characters
    of ``candidates[i]`` (zero elsewhere)."""
    probs = np.zeros((MAX_LEN, NUM_CLASSES))
    for pos, chars in enumerate(candidates):
        idx = [CHAR_TO_INDEX[c] for c in chars]
        probs[pos, idx] = rng.dirichlet(np.ones(len(idx)))
    return probs


# characters that make valid and invalid plates of several kinds likely
POOLS = ["苏粤使A7", "DZA1警", "DF0A9", "0A17D", "1B87", "2D警学", "3F港挂8", "8DF警"]


@pytest.mark.parametrize("with_length", [True, False])
def test_constrained_decode_matches_brute_force(with_length):
    rng = np.random.default_rng(1 + with_length)
    tables, lengths, wants = [], [], []
    for _ in range(40):
        cands = ["".join(rng.choice(list(pool), size=3, replace=False)) for pool in POOLS]
        probs = _table(rng, cands)
        length_probs = rng.dirichlet([1, 1]) if with_length else None
        want, score = _brute_force(probs, length_probs)
        if want is None:  # no valid plate in the support: nothing to compare
            continue
        tables.append(probs), lengths.append(length_probs), wants.append((want, score))
    assert len(tables) > 20
    labels, chosen, conf, kinds = constrained_decode(
        np.stack(tables), np.stack(lengths) if with_length else None)
    for row, c, kind, (want, score) in zip(labels, conf, kinds, wants):
        text = labels_to_text(row)
        assert (text, c) == (want, pytest.approx(score, rel=1e-9))
        assert is_valid(text, kind)
    # one plate at a time gives the same answer
    one = constrained_decode(tables[0], lengths[0] if with_length else None)
    assert labels_to_text(one[0]) == labels_to_text(labels[0]) and one[2] == pytest.approx(conf[0])


def test_constrained_decode_never_spells_an_invalid_plate():
    """The issue's reading 苏DD017警8 (argmax of every head) is no plate; the constrained
    reading is the most probable valid one, and its confidence is its joint probability."""
    probs = np.full((MAX_LEN, NUM_CLASSES), 0.01 / (NUM_CLASSES - 2))
    for pos, (first, second) in enumerate(zip("苏DD017警8", "苏DD0171F")):
        probs[pos, CHAR_TO_INDEX[first]] = 0.6
        probs[pos, CHAR_TO_INDEX[second]] += 0.39
    length = np.array([0.2, 0.8])
    labels, chosen, conf, kind = constrained_decode(probs, length)
    text = labels_to_text(labels)
    assert not is_valid("苏DD017警8") and is_valid(text)
    assert text == "苏DD01718" and kind == "green_small"  # 警 -> 1 at position 7
    expected = np.prod([probs[i, CHAR_TO_INDEX[c]] for i, c in enumerate(text)]) * 0.8
    assert conf == pytest.approx(expected)
    np.testing.assert_allclose(chosen[:8], [probs[i, CHAR_TO_INDEX[c]] for i, c in enumerate(text)])


def test_the_length_head_weighs_in():
    """Same characters, a different length head: the joint probability picks the length."""
    probs = np.full((MAX_LEN, NUM_CLASSES), 1e-4)
    for pos, c in enumerate("皖AD12345"):
        probs[pos, CHAR_TO_INDEX[c]] = 0.9
    short = constrained_decode(probs, np.array([0.95, 0.05]))
    long = constrained_decode(probs, np.array([0.05, 0.95]))
    assert labels_to_text(short[0]) == "皖AD1234" and short[3] == "blue"
    assert labels_to_text(long[0]) == "皖AD12345" and long[3] == "green_small"
    assert short[2] == pytest.approx(0.9 ** 7 * 0.95) and long[2] == pytest.approx(0.9 ** 8 * 0.95)
    with pytest.raises(ValueError, match="chars_probs"):
        constrained_decode(np.zeros((2, 8, 5)))


# ------------------------------------------------------------------ tiny models, images


def _tiny_model(path, text=None, strength=10.0, length_logits=(5.0, 0.0)):
    """A model whose outputs ignore the image: ``text``'s characters get logit ``strength``
    (every class equal where ``text`` is None or shorter), the length head ``length_logits``."""
    import keras
    from keras import initializers, layers

    bias = np.zeros((MAX_LEN, NUM_CLASSES), dtype="float32")
    for pos, c in enumerate(text or ""):
        bias[pos, CHAR_TO_INDEX[c]] = strength
    inp = keras.Input((*SIZE, 3))
    x = layers.GlobalAveragePooling2D()(inp)
    chars = layers.Dense(MAX_LEN * NUM_CLASSES, kernel_initializer="zeros",
                         bias_initializer=initializers.Constant(bias.reshape(-1)))(x)
    chars = layers.Softmax(name="chars")(layers.Reshape((MAX_LEN, NUM_CLASSES))(chars))
    length = layers.Dense(2, kernel_initializer="zeros",
                          bias_initializer=initializers.Constant(np.float32(length_logits)))(x)
    length = layers.Softmax(name="length")(length)
    model = keras.Model(inp, {"chars": chars, "length": length})
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    sure = _tiny_model(root / "sure" / "model.keras", "皖A12345")
    (root / "sure" / "result.json").write_text(json.dumps({"result": {"threshold": {
        "product": 0.99}}}))
    return {"sure": sure,  # about 0.97: above the floor, below the stored threshold
            "uniform": _tiny_model(root / "uniform.keras"),
            "invalid": _tiny_model(root / "invalid.keras", "苏DD017警8", strength=8.0,
                                   length_logits=(0.0, 5.0))}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 144, 3), dtype=np.uint8)).save(root / "good.png")
    Image.fromarray(rng.integers(0, 255, (40, 120, 3), dtype=np.uint8)).save(root / "good2.jpg")
    Image.new("RGB", (1, 1), "white").save(root / "one.png")
    Image.new("RGB", (15, 40), "white").save(root / "narrow.png")  # 15 wide: below 16x8
    (root / "text.jpg").write_text("HELLO WORLD 123")
    return root


def _run(capsys, *argv):
    rc = cli.main(["predict", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_predict_reads_only_valid_plates(models, images, capsys):
    rc, out, _ = _run(capsys, images / "good.png", "--model", models["invalid"], "--json",
                      "--min-confidence", "0")
    (row,) = json.loads(out)["plates"]
    assert rc == 0 and row["text"] != "苏DD017警8" and is_valid(row["text"]) and row["plate"]
    plain = Predictor(load_model(models["invalid"]), constrained=False, min_confidence=0)
    assert plain.predict([images / "good.png"])[0][0] == "苏DD017警8"  # what the heads say


def test_below_the_floor_is_no_plate(models, images, capsys):
    rc, out, _ = _run(capsys, images / "good.png", "--model", models["uniform"], "--json")
    doc = json.loads(out)
    (row,) = doc["plates"]
    assert rc == 0 and doc["min_confidence"] == MIN_CONFIDENCE
    assert row["text"] is None and row["plate"] is False and row["sure"] is None
    assert 0 <= row["confidence"] < MIN_CONFIDENCE and "below the floor" in row["reason"]
    rc, out, err = _run(capsys, images / "good.png", "--model", models["uniform"])
    assert rc == 0 and out.startswith("no plate\t") and str(images / "good.png") in out
    # the floor is a flag: at 0 the (valid) best guess is printed
    rc, out, _ = _run(capsys, images / "good.png", "--model", models["uniform"], "--json",
                      "--min-confidence", "0")
    (row,) = json.loads(out)["plates"]
    assert row["plate"] is True and is_valid(row["text"])
    with pytest.raises(SystemExit):
        cli.main(["predict", str(images / "good.png"), "--min-confidence", "1.5"])
    capsys.readouterr()


def test_sure_and_unsure_stay_above_the_floor(models, images, capsys):
    rc, out, err = _run(capsys, images / "good.png", "--model", models["sure"].parent, "--json")
    doc = json.loads(out)
    (row,) = doc["plates"]
    assert doc["threshold"] == 0.99 and row["text"] == "皖A12345" and row["plate"] is True
    assert MIN_CONFIDENCE < row["confidence"] < 0.99 and row["sure"] is False
    rc, out, err = _run(capsys, images / "good.png", "--model", models["sure"].parent)
    assert out.startswith("皖A12345\t") and out.rstrip().endswith("unsure")


def test_too_small_images_are_no_plate_without_the_model(models, images, capsys, monkeypatch):
    calls = []
    real = Predictor.probabilities
    monkeypatch.setattr(Predictor, "probabilities",
                        lambda self, ims: calls.append(len(ims)) or real(self, ims))
    rc, out, _ = _run(capsys, images / "one.png", images / "narrow.png", "--model",
                      models["sure"].parent, "--json")
    rows = json.loads(out)["plates"]
    assert rc == 0 and calls == []
    for row in rows:
        assert row["text"] is None and row["plate"] is False and row["confidence"] is None
        assert "too small" in row["reason"]
    assert "1x1 pixels" in rows[0]["reason"] and "15x40 pixels" in rows[1]["reason"]
    reader = Predictor(load_model(models["sure"].parent))
    assert reader.predict([np.zeros((7, 100, 3), np.uint8)]) == [(None, None)]
    assert reader.predict([np.zeros((8, 16, 3), np.uint8)])[0][0] == "皖A12345"


def test_one_bad_image_does_not_hide_the_others(models, images, capsys):
    args = [images / "good.png", images / "text.jpg", images / "missing.jpg", images,
            images / "good2.jpg", "--model", models["sure"].parent]
    rc, out, err = _run(capsys, *args, "--json")
    rows = json.loads(out)["plates"]
    assert rc == 1 and [r["image"] for r in rows] == [str(a) for a in args[:5]]
    assert [r["text"] for r in rows] == ["皖A12345", None, None, None, "皖A12345"]
    assert [r["plate"] for r in rows] == [True, None, None, None, True]
    assert "not an image" in rows[1]["error"] and rows[2]["error"] == "file not found"
    assert "folder" in rows[3]["error"] and "error" not in rows[0]
    assert "3 of 5" in err and str(images / "missing.jpg") in err
    rc, out, err = _run(capsys, *args)
    lines = out.splitlines()
    assert rc == 1 and len(lines) == 5
    assert lines[0].startswith("皖A12345\t") and lines[4].startswith("皖A12345\t")
    assert lines[1] == f"error\t-\t{images / 'text.jpg'}\tnot an image (no format Pillow can read)"
    assert lines[2].startswith("error\t") and str(images / "missing.jpg") in lines[2]
    assert "object at 0x" not in out + err


def test_image_errors_name_the_file_never_an_object(models, images, tmp_path):
    from PIL import Image

    truncated = tmp_path / "cut.png"
    Image.new("RGB", (64, 32), "red").save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:60])
    reader = Predictor(load_model(models["sure"].parent))
    for path, kind in [(images / "text.jpg", ValueError), (truncated, ValueError),
                       (tmp_path / "missing.jpg", FileNotFoundError)]:
        with pytest.raises(kind) as info:
            reader.predict([path])
        assert isinstance(info.value, ImageError) and str(path) in str(info.value)
        assert "object at 0x" not in str(info.value)
    with pytest.raises(ImageError, match="image 0: not an RGB image array"):
        reader.predict([np.zeros((32, 96), np.uint8)])
    assert error_text(OSError("cannot identify image file <_io.BytesIO object at 0x7f3a2c>")) == \
        "cannot identify image file"


# ------------------------------------------------------------------ export folder


def test_replace_folder_swaps_whole_folders(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "model.tflite").write_text("stale")

    def write(folder):
        assert (dest / "model.tflite").is_file()  # the old export stays while writing
        (folder / "preprocessing.json").write_text("{}")

    assert replace_folder(dest, write, expect=EXPORT_FILES) == dest
    assert sorted(p.name for p in dest.iterdir()) == ["preprocessing.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left
    (tmp_path / "plain").mkdir()  # as readable as a folder made by mkdir
    assert dest.stat().st_mode == (tmp_path / "plain").stat().st_mode
    (tmp_path / "plain").rmdir()

    def fail(folder):
        (folder / "model.tflite").write_text("half")
        raise RuntimeError("conversion failed")

    with pytest.raises(RuntimeError):
        replace_folder(dest, fail)
    assert sorted(p.name for p in dest.iterdir()) == ["preprocessing.json"]  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    (dest / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="notes.txt"):  # not an export folder: refuse
        replace_folder(dest, write, expect=EXPORT_FILES)
    assert (dest / "notes.txt").is_file()
    # a folder that does not exist yet is made
    replace_folder(tmp_path / "new" / "deep",
                   lambda folder: (folder / "preprocessing.json").write_text("{}"))
    assert (tmp_path / "new" / "deep" / "preprocessing.json").is_file()


def test_cli_export_leaves_no_stale_file(models, tmp_path, capsys):
    out = tmp_path / "exported"
    out.mkdir()
    (out / "model.tflite").write_text("an earlier export's model")
    (out / "savedmodel").mkdir()
    (out / "savedmodel" / "stale.pb").write_text("old")
    assert cli.main(["export", "--model", str(models["uniform"]), "--out", str(out),
                     "--format", "savedmodel"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["preprocessing.json", "savedmodel"]
    assert (out / "savedmodel" / "saved_model.pb").is_file()
    assert not (out / "savedmodel" / "stale.pb").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]
    assert str(out / "savedmodel") in capsys.readouterr().out
