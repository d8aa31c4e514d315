"""Loading, prediction, evaluation and export (SavedModel, TFLite parity with Keras)."""
import json
import time

import numpy as np
import pytest

from lpr_lib import cli
from lpr_lib.evaluate import evaluate_model, predict_dataset
from lpr_lib.export import export_savedmodel, export_tflite, tflite_predict
from lpr_lib.predict import Predictor, latest_run, load_model, predict
from lpr_lib.metrics import decode, evaluate_predictions
from lpr_lib.model import build_model
from lpr_lib.plates import CHARS
from lpr_lib.train import ExperimentConfig, synthetic_folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder with an (untrained, randomly initialised) model and its config."""
    root = tmp_path_factory.mktemp("runs")
    run = root / "r1"
    run.mkdir()
    cfg = ExperimentConfig().override(["model.width=0.25"])
    cfg.to_yaml(run / "config.yaml")
    model = build_model(cfg)
    # make BN statistics non-trivial so that parity checks exercise them
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.__class__.__name__.endswith("BatchNormalization"):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.1, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2, n).astype("float32"))
    model.save(run / "best.keras")
    return run


@pytest.fixture(scope="module")
def plates(tmp_path_factory):
    return synthetic_folder(24, (48, 144), seed=7, root=tmp_path_factory.mktemp("synth"))


def test_load_model_from_folder_or_file_and_clear_errors(run_dir, tmp_path):
    m = load_model(run_dir)
    assert set(m.output) == {"chars", "length"}
    load_model(run_dir / "best.keras")
    with pytest.raises(FileNotFoundError, match="nothere.keras"):
        load_model(tmp_path / "nothere.keras")
    with pytest.raises(FileNotFoundError, match="no best.keras"):
        load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="no run folder"):
        latest_run(tmp_path)


def test_latest_run_is_the_newest(run_dir, tmp_path):
    import shutil

    for i, name in enumerate(["old", "new"]):
        (tmp_path / name).mkdir()
        shutil.copy(run_dir / "best.keras", tmp_path / name / "last.keras")
        time.sleep(0.05 * (i + 1))
    (tmp_path / "synth").mkdir()  # folders without a model are skipped
    assert latest_run(tmp_path).name == "new"


def test_predict_returns_text_and_confidence(run_dir, plates):
    model = load_model(run_dir)
    paths = sorted(plates.glob("*.jpg"))[:5]
    argmax = dict(constrained=False, min_confidence=0.0)  # the heads' own reading, no floor
    results = predict(paths, model, **argmax)
    assert len(results) == 5
    p = Predictor(model).probabilities(paths)
    pred, top = decode(p["chars"], p["length"])
    for (text, conf), row, t, lp in zip(results, pred, top, p["length"]):
        assert isinstance(text, str) and all(c in CHARS for c in text)
        assert len(text) == int((row >= 0).sum()) in (7, 8)
        expected = np.prod(t[row >= 0]) * lp.max()
        assert conf == pytest.approx(expected, rel=1e-5) and 0.0 <= conf <= 1.0
    # arrays work as well as paths, and give the same answer
    from PIL import Image

    arrays = [np.asarray(Image.open(f).convert("RGB")) for f in paths]
    assert predict(arrays, model, **argmax) == results


def test_predict_bad_image_is_named(run_dir, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="bad.jpg"):
        predict([bad], load_model(run_dir))
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        predict([tmp_path / "missing.jpg"], load_model(run_dir))


def test_evaluate_model_matches_metrics(run_dir, plates):
    model = load_model(run_dir)
    outputs, labels = predict_dataset(model, plates)
    assert outputs["chars"].shape == (24, 8, len(CHARS)) and labels.shape == (24, 8)
    result = evaluate_model(model, plates, thresholds=(0.5, 0.9))
    assert result == evaluate_predictions(outputs["chars"], labels, outputs["length"],
                                          thresholds=(0.5, 0.9))
    assert result["n_plates"] == 24 and 0.0 <= result["char_accuracy"] <= 1.0


def test_cli_eval_and_predict_json(run_dir, plates, capsys):
    assert cli.main(["eval", str(plates), "--model", str(run_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["results"][str(plates)]["n_plates"] == 24
    assert cli.main(["eval", str(plates), "--model", str(run_dir)]) == 0
    assert "plate accuracy" in capsys.readouterr().out
    img = sorted(plates.glob("*.jpg"))[0]
    assert cli.main(["predict", str(img), "--model", str(run_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["plates"]
    assert row["image"] == str(img) and 0 <= row["confidence"] <= 1
    assert out["model"].endswith("best.keras")  # says which model read the plate
    assert cli.main(["predict", str(img), "--model", str(run_dir / "nope.keras")]) == 2
    assert "nope.keras" in capsys.readouterr().err


@pytest.mark.slow
def test_tflite_and_savedmodel_match_keras(run_dir, plates, tmp_path):
    import tensorflow as tf

    model = load_model(run_dir)
    x = Predictor(model).preprocess(sorted(plates.glob("*.jpg"))[:4])
    want = model.predict_on_batch(x)
    lite = tflite_predict(export_tflite(model, tmp_path / "m.tflite"), x)
    for k in ("chars", "length"):
        np.testing.assert_allclose(lite[k], want[k], atol=1e-4)
    sm = tf.saved_model.load(str(export_savedmodel(model, tmp_path / "sm")))
    got = sm.serve(tf.constant(x))
    np.testing.assert_allclose(got["chars"], want["chars"], atol=1e-5)


@pytest.mark.slow
def test_cli_export_writes_both_and_the_preprocessing_notes(run_dir, tmp_path, capsys):
    assert cli.main(["export", "--model", str(run_dir), "--out", str(tmp_path / "x")]) == 0
    assert (tmp_path / "x" / "model.tflite").stat().st_size > 10_000
    assert (tmp_path / "x" / "savedmodel" / "saved_model.pb").is_file()
    notes = json.loads((tmp_path / "x" / "preprocessing.json").read_text())
    assert notes["image_size"] == ExperimentConfig().data.image_size
    assert "standardisation" in " ".join(notes["steps"])


def test_shipped_models_by_name_and_the_default(capsys):
    from lpr_lib.predict import resolve_model
    from lpr_lib.models import DEFAULT_MODEL, SHIPPED

    default_file, default_name = resolve_model(None)
    assert default_name.startswith(DEFAULT_MODEL) and default_file.name == "model.keras"
    for name in SHIPPED:
        file, label = resolve_model(name)
        assert file.parent.name == name and file.stat().st_size > 100_000
        assert (file.parent / "config.yaml").is_file() and (file.parent / "result.json").is_file()
        assert label.startswith(f"{name} (shipped")
    with pytest.raises(FileNotFoundError, match="nope"):
        resolve_model("nope")  # neither a shipped name nor a path


@pytest.mark.slow
def test_cli_predict_without_model_uses_the_shipped_one(plates, capsys):
    img = sorted(plates.glob("*.jpg"))[0]
    assert cli.main(["predict", str(img), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"].startswith("mixed (shipped")
    threshold = out["threshold"]  # chosen on the model's validation plates
    assert 0 < threshold < 1 and out["plates"][0]["sure"] == (out["plates"][0]["confidence"]
                                                               >= threshold)
    assert cli.main(["predict", str(img), "--model", "synthetic"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("model: synthetic (shipped") and str(img) in captured.out


@pytest.mark.slow
def test_ship_model_measures_saves_and_loads_by_path(tmp_path):
    """A trained run becomes a shipped folder: model without optimizer state, its config, and
    figures on validation (threshold chosen there) and on every kind's synthetic test."""
    from lpr_lib.models.ship import ship_model
    from lpr_lib.plates import KINDS
    from lpr_lib.train import train

    cfg = ExperimentConfig(name="s", epochs=1, batch_size=16, verbose=0, tensorboard=False)
    cfg = cfg.override(["model.width=0.25", "data.synthetic_train=32", "data.val_size=16",
                        "jit_compile=false"])
    import lpr_lib.train as lt

    old = lt.RUNS_DIR
    lt.RUNS_DIR = tmp_path / "runs"
    try:
        train(cfg, tmp_path / "run")
        result = ship_model(tmp_path / "run", "synthetic", real_test=tmp_path / "absent",
                            dest=tmp_path / "shipped", results_dir=tmp_path / "results",
                            per_kind=3, synth_root=tmp_path / "synth")
    finally:
        lt.RUNS_DIR = old
    assert set(result["synthetic_kinds_test"]) == set(KINDS) and result["real_test"] is None
    assert result["validation"]["n_plates"] == 16
    saved = tmp_path / "shipped"
    assert {p.name for p in saved.iterdir()} == {"model.keras", "config.yaml", "result.json"}
    checkpoint = (tmp_path / "run" / "best.keras").stat().st_size
    assert saved.joinpath("model.keras").stat().st_size < checkpoint  # no optimizer state
    assert (tmp_path / "results" / "shipped_synthetic.json").is_file()
    assert load_model(saved)._lpr_name.endswith("model.keras")


# ------------------------------------------------------------------ every format (issue 15)


@pytest.fixture(scope="module")
def grouped_run(tmp_path_factory):
    """A small ResNeXt run folder: grouped convolutions, which ONNX export must trace plainly."""
    run = tmp_path_factory.mktemp("runs") / "grouped"
    run.mkdir()
    cfg = ExperimentConfig().override(["model.backbone=resnext18", "model.width=0.25",
                                       "data.image_size=[32, 96]"])
    cfg.to_yaml(run / "config.yaml")
    build_model(cfg).save(run / "best.keras")
    return run


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory):
    """``lpr export --format all`` of the module's run: its folder, and what it printed."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("exported") / "x"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["export", "--model", str(run_dir), "--out", str(out),
                         "--format", "all"]) == 0
    return out, printed.getvalue()


@pytest.mark.slow
def test_export_all_writes_every_format_and_prints_each_parity(exported):
    out, printed = exported
    from lpr_lib.runtime import EXPORT_NAMES

    assert sorted(p.name for p in out.iterdir()) == sorted([*EXPORT_NAMES.values(),
                                                            "preprocessing.json"])
    lines = printed.splitlines()
    for label, name in (("SavedModel:", "savedmodel"), ("TFLite:", "model.tflite"),
                        ("TFLite int8:", "model_int8.tflite"), ("ONNX:", "model.onnx")):
        i = next(i for i, ln in enumerate(lines) if ln.startswith(label))
        assert lines[i].endswith(str(out / name))
        assert lines[i + 1].strip().startswith("parity with Keras on 8 plates: max |difference|")
        assert "readings agree" in lines[i + 1]
    notes = json.loads((out / "preprocessing.json").read_text())
    assert notes["whiten"] is True and notes["image_size"] == [48, 144]
    assert set(notes["parity"]) == {"savedmodel", "tflite", "tflite_int8", "onnx"}
    for fmt in ("savedmodel", "tflite", "onnx"):
        check = notes["parity"][fmt]
        assert check["ok"] and max(check["max_abs_diff"].values()) <= check["tolerance"]
        assert check["readings_agree"] == 8
    assert notes["parity"]["tflite_int8"]["tolerance"] is None
    # int8 weights: about a quarter of the float file
    assert (out / "model_int8.tflite").stat().st_size < 0.4 * (out / "model.tflite").stat().st_size


@pytest.mark.slow
def test_every_export_reads_as_keras_does(exported, run_dir, plates):
    """Each export, loaded by path, gives Keras' outputs within its tolerance on real
    preprocessing, at any batch size (the batch axis of every format is dynamic)."""
    from lpr_lib.export import TOLERANCE
    from lpr_lib.runtime import ExportedModel

    out, _ = exported
    keras_model = load_model(run_dir)
    x = Predictor(keras_model).preprocess(sorted(plates.glob("*.jpg"))[:5])
    want = keras_model.predict_on_batch(x)
    for name, fmt in (("savedmodel", "savedmodel"), ("model.tflite", "tflite"),
                      ("model.onnx", "onnx")):
        model = load_model(out / name)
        assert isinstance(model, ExportedModel) and model.format == fmt
        got = model.predict_on_batch(x)
        for k in ("chars", "length"):
            np.testing.assert_allclose(got[k], want[k], atol=TOLERANCE[fmt])
        one = model.predict_on_batch(x[:1])  # and batch 1 after batch 5
        np.testing.assert_allclose(one["chars"], want["chars"][:1], atol=TOLERANCE[fmt])
    # the export folder itself: its float TFLite model
    assert load_model(out).format == "tflite"


@pytest.mark.slow
def test_cli_predict_runs_each_export_with_its_preprocessing(exported, run_dir, plates, capsys):
    out, _ = exported
    images = [str(p) for p in sorted(plates.glob("*.jpg"))[:3]]

    def read(model):
        assert cli.main(["predict", *images, "--model", str(model), "--json",
                         "--min-confidence", "0"]) == 0
        return json.loads(capsys.readouterr().out)

    want = read(run_dir)
    for name in ("savedmodel", "model.tflite", "model.onnx", "model_int8.tflite"):
        got = read(out / name)
        assert got["model"].startswith(str(out / name)) and "export)" in got["model"]
        assert [r["image"] for r in got["plates"]] == images
        if name != "model_int8.tflite":
            assert [r["text"] for r in got["plates"]] == [r["text"] for r in want["plates"]]
            for a, b in zip(got["plates"], want["plates"]):
                assert a["confidence"] == pytest.approx(b["confidence"], abs=1e-3)
    # lpr eval runs an export too
    assert cli.main(["eval", str(plates), "--model", str(out / "model.onnx"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][str(plates)]["n_plates"] == 24


@pytest.mark.slow
def test_onnx_export_of_grouped_convolutions_matches_keras(grouped_run, tmp_path):
    """ResNeXt's grouped convolutions run under XLA in Keras on a CPU; exported plainly,
    ONNX Runtime computes the same outputs."""
    from lpr_lib.export import export_onnx
    from lpr_lib.runtime import load_exported

    model = load_model(grouped_run)
    path = export_onnx(model, tmp_path / "m.onnx")
    (tmp_path / "preprocessing.json").write_text(json.dumps({"image_size": [32, 96],
                                                             "whiten": True}))
    x = np.random.default_rng(1).normal(size=(3, 32, 96, 3)).astype("float32")
    want = model.predict_on_batch(x)
    got = load_exported(path, threads=1).predict_on_batch(x)
    for k in ("chars", "length"):
        np.testing.assert_allclose(got[k], want[k], atol=1e-4)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


def test_parity_reports_differences_and_disagreements(run_dir):
    """parity() against an independent reference: a fake export whose outputs are Keras' with
    one plate's probabilities changed."""
    from lpr_lib.export import parity, parity_text

    model = load_model(run_dir)
    x = np.random.default_rng(2).normal(size=(4, 48, 144, 3)).astype("float32")
    want = {k: np.asarray(v) for k, v in model.predict_on_batch(x).items()}

    class Fake:
        format = "onnx"

        def __init__(self, chars):
            self.chars = chars

        def predict_on_batch(self, images):
            return {"chars": self.chars, "length": want["length"]}

    same = parity(model, Fake(want["chars"].copy()), x)
    assert same["ok"] and same["readings_agree"] == 4 and same["max_abs_diff"]["chars"] == 0
    changed = want["chars"].copy()
    changed[0] = 0.0
    changed[0, :, 5] = 1.0  # plate 0 now reads another text, with certainty
    check = parity(model, Fake(changed), x)
    assert not check["ok"] and check["readings_agree"] == 3
    assert check["max_abs_diff"]["chars"] == pytest.approx(np.abs(changed - want["chars"]).max())
    assert "3/4 readings agree" in parity_text(check) and "FAILED" in parity_text(check)


@pytest.mark.slow
def test_an_export_beyond_its_tolerance_writes_nothing(run_dir, tmp_path, monkeypatch, capsys):
    from lpr_lib import export

    out = tmp_path / "x"
    out.mkdir()
    (out / "model.tflite").write_text("an earlier export")
    monkeypatch.setitem(export.TOLERANCE, "tflite", -1.0)  # no difference is small enough
    assert cli.main(["export", "--model", str(run_dir), "--out", str(out),
                     "--format", "tflite"]) == 1
    err = capsys.readouterr().err
    assert "differs from the Keras model" in err and str(out / "model.tflite") in err
    assert (out / "model.tflite").read_text() == "an earlier export"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


def test_export_onnx_without_tf2onnx_says_what_to_install(run_dir, tmp_path, monkeypatch,
                                                          capsys):
    import sys

    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # import tf2onnx -> ImportError
    assert cli.main(["export", "--model", str(run_dir), "--out", str(tmp_path / "x"),
                     "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert "tf2onnx" in err and "pip install 'lpr_lib[onnx]'" in err
    assert not (tmp_path / "x").exists()  # refused before anything was written


def test_bad_exported_models_get_clear_errors(tmp_path, capsys):
    from lpr_lib.runtime import load_exported

    notes = json.dumps({"image_size": [48, 144], "whiten": True})
    with pytest.raises(FileNotFoundError, match="missing.onnx: exported model not found"):
        load_model(tmp_path / "missing.onnx")
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "model.onnx").write_bytes(b"junk")
    with pytest.raises(FileNotFoundError, match="no preprocessing.json beside it"):
        load_model(lonely / "model.onnx")
    (lonely / "preprocessing.json").write_text(notes)
    with pytest.raises(ValueError, match="model.onnx: not a loadable ONNX model"):
        load_model(lonely / "model.onnx")
    (lonely / "model.tflite").write_bytes(b"junk")
    with pytest.raises(ValueError, match="model.tflite: not a loadable TFLite model"):
        load_model(lonely / "model.tflite")
    (lonely / "preprocessing.json").write_text("{not json")
    with pytest.raises(ValueError, match="not an lpr export's preprocessing.json"):
        load_model(lonely / "model.onnx")
    # a folder that is neither a run nor an export
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileNotFoundError, match="nor an export"):
        load_model(other)
    (other / "preprocessing.json").write_text(notes)  # notes but no model
    with pytest.raises(FileNotFoundError, match="not an export folder"):
        load_exported(other)
    img = tmp_path / "plate.jpg"
    from PIL import Image

    Image.new("RGB", (144, 48)).save(img)
    assert cli.main(["predict", str(img), "--model", str(other)]) == 2
    assert "not an export folder" in capsys.readouterr().err


@pytest.mark.slow
def test_export_refuses_an_export_and_reads_old_notes(exported, tmp_path, capsys):
    """Exporting needs the Keras model; an export written before preprocessing.json had
    ``whiten`` is still read (from its steps)."""
    import shutil

    from lpr_lib.runtime import read_preprocessing

    out, _ = exported
    assert cli.main(["export", "--model", str(out / "model.onnx"),
                     "--out", str(tmp_path / "y")]) == 2
    assert "an export already" in capsys.readouterr().err
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(out / "model.tflite", old)
    notes = json.loads((out / "preprocessing.json").read_text())
    for key in ("whiten", "threshold", "parity", "model"):
        notes.pop(key)
    (old / "preprocessing.json").write_text(json.dumps(notes))
    assert read_preprocessing(old / "model.tflite")["whiten"] is True
    assert load_model(old / "model.tflite").whiten is True


def test_a_mobilenet_exports_keras_depthwise_op_not_the_training_sum(tmp_path):
    """MobileNets train their depthwise convolutions as shifted sums
    (backbones.ShiftedDepthwiseConv2D); the TFLite file has TFLite's own depthwise op and
    gives the Keras model's outputs."""
    import tensorflow as tf

    from lpr_lib.config import ModelConfig
    from lpr_lib.model import build_model

    model = build_model(ModelConfig(backbone="mobilenet_v1", width=0.25), image_size=(48, 144))
    x = np.random.default_rng(0).normal(size=(2, 48, 144, 3)).astype("float32")
    path = export_tflite(model, tmp_path / "m.tflite")
    ops = {op["op_name"] for op in tf.lite.Interpreter(str(path))._get_ops_details()}
    assert "DEPTHWISE_CONV_2D" in ops
    want = model.predict_on_batch(x)
    got = tflite_predict(path, x)
    for k in ("chars", "length"):
        np.testing.assert_allclose(got[k], want[k], atol=1e-4)
