"""Metrics against hand-computed cases and loop-based brute-force references."""
import math

import keras
import numpy as np
import pytest

from lpr_lib.metrics import (PlateAccuracy, char_accuracy, decode, evaluate_predictions,
                             format_report, per_position_accuracy, plate_confidence,
                             plate_correct, pr_curve, precision_recall_at,
                             threshold_for_precision)

C = 5


def onehotish(classes, top, c=C):
    """(N, 8, C) probabilities with argmax ``classes`` and top probability ``top``."""
    classes, top = np.asarray(classes), np.asarray(top, dtype=np.float64)
    p = np.repeat(((1 - top) / (c - 1))[..., None], c, axis=-1)
    np.put_along_axis(p, classes[..., None], top[..., None], -1)
    return p


# ----------------------------------------------------------------------------- hand cases
def test_decode_length_rules():
    cls = np.array([[0, 1, 2, 3, 4, 0, 1, 2], [4, 3, 2, 1, 0, 4, 3, 2]])
    p = onehotish(cls, np.full((2, 8), 0.9))
    pred, top = decode(p)
    assert (pred[:, 7] == -1).all() and (pred[:, :7] == cls[:, :7]).all()
    np.testing.assert_allclose(top, 0.9)
    pred, _ = decode(p, length_probs=np.array([[0.2, 0.8], [0.6, 0.4]]))
    assert pred[0].tolist() == cls[0].tolist()
    assert pred[1].tolist() == cls[1, :7].tolist() + [-1]


def test_confidence_product_and_min_by_hand():
    top = np.array([[0.9, 0.8, 1.0, 1.0, 1.0, 1.0, 0.5, 0.1]])
    pred = np.array([[1, 1, 1, 1, 1, 1, 1, -1]])  # 8th not read: its 0.1 must not count
    assert plate_confidence(top, pred, "product")[0] == pytest.approx(0.9 * 0.8 * 0.5)
    assert plate_confidence(top, pred, "min")[0] == pytest.approx(0.5)
    lp = np.array([[0.7, 0.3]])
    assert plate_confidence(top, pred, "product", lp)[0] == pytest.approx(0.36 * 0.7)
    assert plate_confidence(top, pred, "min", np.array([[0.4, 0.6]]))[0] == pytest.approx(0.5)
    sure = np.array([[0.9] * 7 + [0.1]])  # the length head is now the least sure part
    assert plate_confidence(sure, pred, "min", np.array([[0.4, 0.6]]))[0] == pytest.approx(0.6)
    with pytest.raises(ValueError):
        plate_confidence(top, pred, "mean")


def test_correct_and_accuracies_by_hand():
    labels = np.array([[1, 2, 3, 4, 0, 1, 2, -1],
                       [1, 2, 3, 4, 0, 1, 2, 3],
                       [1, 2, 3, 4, 0, 1, 2, -1]])
    pred = np.array([[1, 2, 3, 4, 0, 1, 2, -1],   # right
                     [1, 2, 3, 4, 0, 1, 2, -1],   # length wrong: 7 of 8 chars
                     [1, 2, 0, 4, 0, 1, 2, -1]])  # one char wrong
    assert plate_correct(pred, labels).tolist() == [True, False, False]
    assert char_accuracy(pred, labels) == pytest.approx(20 / 22)
    acc = per_position_accuracy(pred, labels)
    np.testing.assert_allclose(acc[:7], [1, 1, 2 / 3, 1, 1, 1, 1])
    assert acc[7] == 0.0
    assert math.isnan(per_position_accuracy(pred[[0]], labels[[0]])[7])


def test_precision_recall_at_by_hand():
    conf = np.array([0.99, 0.96, 0.95, 0.90, 0.50])
    ok = np.array([True, True, False, True, False])
    p, r = precision_recall_at(conf, ok, [0.95, 0.97, 1.0, 0.0])
    # >= 0.95 accepts 3 plates (0.95 itself included), 2 right
    np.testing.assert_allclose(p[:2], [2 / 3, 1.0])
    np.testing.assert_allclose(r, [2 / 5, 1 / 5, 0.0, 3 / 5])
    assert math.isnan(p[2])  # nothing accepted: precision undefined
    assert p[3] == pytest.approx(3 / 5)


def test_pr_curve_ties_and_threshold_for_precision():
    conf = np.array([0.9, 0.8, 0.8, 0.7, 0.6])
    ok = np.array([True, True, False, True, True])
    thr, p, r = pr_curve(conf, ok)
    np.testing.assert_allclose(thr, [0.9, 0.8, 0.7, 0.6])  # the tie is one threshold
    np.testing.assert_allclose(p, [1, 2 / 3, 3 / 4, 4 / 5])
    np.testing.assert_allclose(r, [1 / 5, 2 / 5, 3 / 5, 4 / 5])
    # precision is not monotone in the threshold: 0.8 misses 75% but the lower 0.6 reaches it
    op = threshold_for_precision(conf, ok, 0.75)
    assert op == pytest.approx({"threshold": 0.6, "precision": 0.8, "recall": 0.8,
                                "coverage": 1.0})
    op = threshold_for_precision(conf, ok, 0.85)
    assert op == pytest.approx({"threshold": 0.9, "precision": 1.0, "recall": 0.2,
                                "coverage": 0.2})
    assert threshold_for_precision(conf, ok, 1.0)["threshold"] == 0.9
    assert threshold_for_precision(conf, np.zeros(5, bool), 0.5) is None


# ----------------------------------------------------------------------------- brute force
def brute_force(conf, ok, target):
    """Try every threshold by looping over plates."""
    n = len(conf)
    best = None
    for t in sorted(set(conf.tolist())):
        acc = [i for i in range(n) if conf[i] >= t]
        right = sum(1 for i in acc if ok[i])
        prec = right / len(acc)
        if prec >= target and (best is None or t < best[0]):
            best = (t, prec, right / n)
    return best


@pytest.mark.parametrize("seed", range(5))
def test_curve_and_operating_point_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 300
    conf = np.round(rng.uniform(size=n), 2)  # rounding makes many ties
    ok = rng.uniform(size=n) < 0.3 + 0.7 * conf
    thr, p, r = pr_curve(conf, ok)
    for t, pp, rr in zip(thr, p, r):
        acc = [i for i in range(n) if conf[i] >= t]
        assert pp == pytest.approx(sum(ok[i] for i in acc) / len(acc))
        assert rr == pytest.approx(sum(ok[i] for i in acc) / n)
    p2, r2 = precision_recall_at(conf, ok, thr)
    np.testing.assert_allclose(p2, p)
    np.testing.assert_allclose(r2, r)
    for target in (0.8, 0.9, 0.97):
        ref = brute_force(conf, ok, target)
        got = threshold_for_precision(conf, ok, target)
        if ref is None:
            assert got is None
        else:
            assert (got["threshold"], got["precision"], got["recall"]) == pytest.approx(ref)


def brute_decode_confidence(probs, length_probs, mode):
    n = probs.shape[0]
    out_pred, out_conf = [], []
    for i in range(n):
        length = 7 if length_probs is None else (7, 8)[int(np.argmax(length_probs[i]))]
        pred, vals = [], []
        for h in range(8):
            if h < length:
                pred.append(int(np.argmax(probs[i, h])))
                vals.append(float(np.max(probs[i, h])))
            else:
                pred.append(-1)
        if length_probs is not None:
            vals.append(float(np.max(length_probs[i])))
        out_pred.append(pred)
        out_conf.append(float(np.prod(vals)) if mode == "product" else min(vals))
    return np.array(out_pred), np.array(out_conf)


@pytest.mark.parametrize("with_length", [False, True])
@pytest.mark.parametrize("mode", ["product", "min"])
def test_decode_and_confidence_against_brute_force(with_length, mode):
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.full(C, 0.2), size=(40, 8))
    lp = rng.dirichlet([1, 1], size=40) if with_length else None
    pred, top = decode(probs, lp)
    ref_pred, ref_conf = brute_decode_confidence(probs, lp, mode)
    np.testing.assert_array_equal(pred, ref_pred)
    np.testing.assert_allclose(plate_confidence(top, pred, mode, lp), ref_conf, rtol=1e-12)


def test_evaluate_predictions_report():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, C, size=(50, 8))
    labels[:30, 7] = -1
    lengths = np.where(labels[:, 7] >= 0, 1, 0)
    top = rng.uniform(0.6, 1.0, size=(50, 8))
    cls = labels.copy()
    cls[cls < 0] = 0
    cls[:5, 2] = (cls[:5, 2] + 1) % C  # 5 plates with a wrong character
    probs = onehotish(cls, top)
    length_probs = np.eye(2)[lengths] * 0.9 + 0.05
    res = evaluate_predictions(probs, labels, length_probs, thresholds=(0.5, 0.9))
    assert res["n_plates"] == 50 and res["plate_accuracy"] == pytest.approx(45 / 50)
    assert res["char_accuracy"] == pytest.approx(1 - 5 / (50 * 7 + 20))
    assert res["per_position"][2] == pytest.approx(45 / 50) and res["per_position"][7] == 1.0
    pred, t = decode(probs, length_probs)
    ok = plate_correct(pred, labels)
    for mode in ("product", "min"):
        conf = plate_confidence(t, pred, mode, length_probs)
        p, r = precision_recall_at(conf, ok, (0.5, 0.9))
        got = res["confidence"][mode]
        np.testing.assert_allclose([np.nan if v is None else v for v in got["precision"]], p)
        np.testing.assert_allclose(got["recall"], r)
        assert got["operating_point"] == threshold_for_precision(conf, ok)
    assert "plate accuracy" in format_report(res)
    import json
    json.dumps(res, allow_nan=False)  # JSON-ready: nan became None


def test_plate_accuracy_keras_metric():
    labels = np.array([[1, 2, 3, -1], [1, 2, 3, 0], [4, 4, 4, -1]])
    cls = np.array([[1, 2, 3, 4], [1, 2, 3, 1], [4, 4, 4, 4]])  # right, wrong 4th, right
    probs = onehotish(cls, np.full((3, 4), 0.8)).astype(np.float32)
    m = PlateAccuracy()
    m.update_state(labels.astype(np.float32), probs)
    assert float(m.result()) == pytest.approx(2 / 3)
    m.update_state(labels[:1], probs[:1], sample_weight=np.array([2.0]))
    assert float(m.result()) == pytest.approx(4 / 5)
    m.reset_state()
    assert float(m.result()) == 0.0
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(m))
    assert isinstance(again, PlateAccuracy) and again.name == "plate_acc"


def test_confusions_count_misreadings_by_hand():
    from lpr_lib.metrics import confusions
    from lpr_lib.plates import text_to_labels

    truth = np.stack([text_to_labels(t) for t in ["皖A00001", "皖A00001", "皖B12345", "粤BD12345"]])
    read = truth.copy()
    read[0, 6] = text_to_labels("皖A00007")[6]  # 1 -> 7
    read[1, 6] = text_to_labels("皖A00007")[6]  # 1 -> 7 again
    read[2, 0] = text_to_labels("苏B12345")[0]  # 皖 -> 苏
    read[3, 7] = -1  # the 8th character not read
    got = confusions(read, truth)
    assert got[0] == {"position": 6, "true": "1", "read": "7", "count": 2}
    assert {"position": 0, "true": "皖", "read": "苏", "count": 1} in got
    assert {"position": 7, "true": "5", "read": "", "count": 1} in got
    assert len(got) == 3 and confusions(truth, truth) == []
