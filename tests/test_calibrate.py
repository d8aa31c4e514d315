"""Temperature scaling and the expected calibration error (lpr_lib.calibrate), checked
against independent references: a hand-computed ECE, a known temperature recovered from
synthetic logits, and the carried calibration in predict, eval and exports."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from lpr_lib import calibrate
from lpr_lib.calibrate import (char_confidences, char_nll, ece, fit_temperature,
                               plate_confidences, reliability, scale_outputs,
                               temperature_scale)
from lpr_lib.plates import ABSENT, NUM_CLASSES


def _softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def test_ece_by_hand():
    # 15 bins of width 1/15. Bins: 0.95 -> (14/15, 1]; 0.9 -> (13/15, 14/15]; 0.3 and 0.28
    # -> (4/15, 5/15]; 0.25 -> (3/15, 4/15]. |B|/n * |acc - conf| by hand:
    conf = [0.95, 0.95, 0.9, 0.3, 0.28, 0.25]
    ok = [True, False, True, False, True, True]
    want = 2 / 6 * 0.45 + 1 / 6 * 0.1 + 2 / 6 * 0.21 + 1 / 6 * 0.75
    assert ece(conf, ok) == pytest.approx(want, abs=1e-12)
    # a perfectly calibrated toy: confidence 0.8 and 8 of 10 right
    assert ece([0.8] * 10, [True] * 8 + [False] * 2) == pytest.approx(0.0, abs=1e-12)
    # a bin edge belongs to the bin below it: (lo, hi]; 0 goes to the first bin
    bins = reliability([0.0, 1 / 15, 1.0], [True, True, True])
    assert bins[0]["count"] == 2 and bins[-1]["count"] == 1
    assert ece([], []) != ece([], [])  # nan


def test_temperature_scale_is_softmax_of_logits_over_t():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (5, 8, 11))
    p = _softmax(z)
    for t in (0.5, 1.0, 2.7):
        np.testing.assert_allclose(temperature_scale(p, t), _softmax(z / t), atol=1e-12)
    per_head = np.linspace(0.5, 3, 8)
    np.testing.assert_allclose(temperature_scale(p, per_head),
                               _softmax(z / per_head[None, :, None]), atol=1e-12)
    assert (temperature_scale(p, 3.0).argmax(-1) == p.argmax(-1)).all()  # no reading changes
    with pytest.raises(ValueError):
        temperature_scale(p, 0.0)
    out = {"chars": p, "length": _softmax(z[:, 0, :2])}
    assert scale_outputs(out, 1.0) is out
    scaled = scale_outputs(out, 2.0)
    np.testing.assert_allclose(scaled["length"], _softmax(z[:, 0, :2] / 2), atol=1e-12)


def _calibrated_then_sharpened(t_true, n=3000, heads=8, seed=1):
    """Labels drawn from a calibrated model's own probabilities, then the model sharpened
    (its logits times t_true): the temperature that undoes it is t_true."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.0, (n, heads, NUM_CLASSES))
    z[..., 0] += 3.0  # mostly sure, as a reader is
    p = _softmax(z)
    cum = p.cumsum(-1)
    labels = (rng.random((n, heads, 1)) < cum).argmax(-1).astype(np.int32)
    labels[:, 7][rng.random(n) < 0.7] = ABSENT  # most plates have 7 characters
    return _softmax(z * t_true), labels, p


@pytest.mark.parametrize("t_true", [0.5, 1.0, 2.5])
def test_fit_recovers_a_known_temperature(t_true):
    sharp, labels, _ = _calibrated_then_sharpened(t_true)
    t = fit_temperature(sharp, labels)
    assert t == pytest.approx(t_true, rel=0.05)
    # the fit is the NLL's minimum
    assert char_nll(sharp, labels, t) <= min(char_nll(sharp, labels, t * 0.9),
                                             char_nll(sharp, labels, t * 1.1))
    per_head = fit_temperature(sharp, labels, per_head=True)
    assert per_head.shape == (8,) and np.allclose(per_head, t_true, rtol=0.15)


def test_calibration_lowers_ece_on_an_overconfident_model():
    sharp, labels, _ = _calibrated_then_sharpened(2.0)
    before = ece(*char_confidences(sharp, labels))
    after = ece(*char_confidences(temperature_scale(sharp, fit_temperature(sharp, labels)),
                                  labels))
    assert after < before / 3 and after < 0.02


def test_plate_confidences_follow_lpr_predict():
    from lpr_lib.plates import text_to_labels

    labels = np.stack([text_to_labels("皖A12345"), text_to_labels("京B6789D")])
    p = np.full((2, 8, NUM_CLASSES), 1e-4)
    for i, row in enumerate(labels):
        for j, c in enumerate(row[:7]):
            p[i, j, c] = 0.9 if i == 0 else 0.6
    p /= p.sum(-1, keepdims=True)
    length = np.array([[0.99, 0.01], [0.99, 0.01]])
    conf, ok = plate_confidences({"chars": p, "length": length}, labels)
    assert ok.tolist() == [True, True]
    assert conf[0] > conf[1] and conf[0] == pytest.approx(np.prod(p[0, np.arange(7),
                                                                     labels[0, :7]]) * 0.99)


def test_calibration_file_is_tied_to_its_model_file(tmp_path, capsys):
    model_file = tmp_path / "model.keras"
    model_file.write_bytes(b"weights")
    calibrate.write_calibration(model_file, 1.7, 0.95, chosen_on=["val"])
    model = SimpleNamespace(_lpr_source=model_file)
    record = calibrate.read_calibration(model)
    assert record["temperature"] == 1.7 and record["threshold"] == 0.95

    from lpr_lib.predict import stored_temperature, stored_threshold

    assert stored_temperature(model) == 1.7 and stored_threshold(model) == 0.95
    model_file.write_bytes(b"other weights")  # the model was replaced: not its calibration
    assert calibrate.read_calibration(model) is None and stored_temperature(model) == 1.0
    assert "another model.keras" in capsys.readouterr().err


def test_export_notes_carry_the_calibration(tmp_path):
    from lpr_lib.runtime import read_preprocessing

    notes = tmp_path / "preprocessing.json"
    notes.write_text(json.dumps({"image_size": [48, 144], "whiten": True, "temperature": 1.5,
                                 "threshold": 0.9}))
    assert read_preprocessing(tmp_path / "model.onnx")["temperature"] == 1.5
    notes.write_text(json.dumps({"image_size": [48, 144], "temperature": -1}))
    with pytest.raises(ValueError, match="temperature"):
        read_preprocessing(tmp_path / "model.onnx")


def test_predictor_applies_the_temperature():
    from lpr_lib.predict import Predictor

    sharp, labels, _ = _calibrated_then_sharpened(2.0, n=20)
    outputs = {"chars": sharp, "length": np.tile([[0.9, 0.1]], (20, 1))}
    model = SimpleNamespace(input=SimpleNamespace(shape=(None, 48, 144, 3)), _lpr_source=None)
    raw = Predictor(model, whiten=True, temperature=1.0).decode(outputs)
    cal = Predictor(model, whiten=True, temperature=2.0).decode(outputs)
    assert not np.allclose(cal[1], raw[1])
    want = Predictor(model, whiten=True, temperature=1.0).decode(scale_outputs(outputs, 2.0))
    np.testing.assert_allclose(cal[1], want[1])


@pytest.mark.parametrize("name", ["mixed", "slim", "synthetic"])
def test_shipped_models_carry_their_calibration(name):
    """Each shipped model's calibration.json fits its model file, and lpr predict, lpr eval
    and the export notes all read the same temperature and threshold from it."""
    from lpr_lib.export import preprocessing_notes
    from lpr_lib.models import shipped_path
    from lpr_lib.predict import Predictor, load_model, stored_temperature, stored_threshold

    record = json.loads((shipped_path(name) / "calibration.json").read_text(encoding="utf-8"))
    assert record["model_sha256"] == calibrate.file_sha256(shipped_path(name) / "model.keras")
    assert "test" not in " ".join(record["chosen_on"])  # chosen on validation sets only
    model = load_model(name)
    t, threshold = stored_temperature(model), stored_threshold(model)
    assert t == record["temperature"] and threshold == record["threshold"]
    assert 0.2 < float(t) < 5 and 0.5 < threshold < 1
    assert Predictor(model).temperature == t
    notes = preprocessing_notes(model)
    assert notes["temperature"] == t and notes["threshold"] == threshold
