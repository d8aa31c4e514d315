"""lpr_lib.trace: the loss trace recovers window means from Keras' running means, the weight
statistics and the prediction diagnostics match direct computations."""
import json

import numpy as np
import pytest

import keras

from lpr_lib.trace import (GAMMA_BINS, TrainingTrace, confidence_histograms, g_density,
                           reliability, weight_stats)


def _model():
    x = keras.Input((4, 4, 3))
    y = keras.layers.Conv2D(5, 3, use_bias=False, name="conv")(x)
    y = keras.layers.BatchNormalization(name="bn")(y)
    y = keras.layers.Flatten()(y)
    return keras.Model(x, keras.layers.Dense(2, name="fc")(y))


def test_weight_stats_are_the_kernels_norms_and_the_gamma_histogram():
    m = _model()
    gamma = np.array([0.01, 0.04, 0.5, 1.0, 3.0], "float32")
    m.get_layer("bn").gamma.assign(gamma)
    s = weight_stats(m)
    conv = np.asarray(m.get_layer("conv").kernel, np.float64)
    fc = np.asarray(m.get_layer("fc").kernel, np.float64)
    assert s["kernel_norms"]["conv"] == pytest.approx(np.linalg.norm(conv), rel=1e-5)
    assert s["kernel_sq_sum"] == pytest.approx((conv ** 2).sum() + (fc ** 2).sum(), rel=1e-4)
    g = s["gamma"]
    assert g["n"] == 5 and sum(g["hist"]) == 5 and g["below_0.05"] == pytest.approx(0.4)
    assert g["hist"][0] == 2 and g["hist"][-1] == 1  # 3.0 counted in the last bin
    assert g["quantiles"]["0.5"] == pytest.approx(0.5)
    assert len(g["hist"]) == len(GAMMA_BINS) - 1


def test_the_trace_recovers_each_window_mean_and_resumes(tmp_path):
    rng = np.random.default_rng(0)
    losses = rng.uniform(1, 5, size=(2, 30))  # 2 epochs of 30 batches
    path = tmp_path / "trace.json"
    cb = TrainingTrace(path, every=10)
    cb.set_model(_model())
    cb.set_params({"steps": 30, "epochs": 2})
    for epoch in range(2):
        cb.on_epoch_begin(epoch)
        for b in range(30):  # Keras' logs: the mean since the epoch began
            cb.on_train_batch_end(b, {"loss": losses[epoch, :b + 1].mean()})
        cb.on_epoch_end(epoch)
    data = json.loads(path.read_text())
    steps = np.array(data["steps"])
    assert steps[:, 0].tolist() == [10, 20, 30, 40, 50, 60]
    want = losses.reshape(2, 3, 10).mean(2).ravel()
    np.testing.assert_allclose(steps[:, 1], want, rtol=1e-4)
    assert [e["epoch"] for e in data["epochs"]] == [-1, 0, 1]
    # a resumed run (killed during epoch 1) forgets epoch 1 and records it again
    cb2 = TrainingTrace(path, every=10)
    cb2.set_model(cb.model)
    cb2.set_params({"steps": 30, "epochs": 2})
    cb2.on_epoch_begin(1)
    assert [e["epoch"] for e in cb2.data["epochs"]] == [-1, 0]
    assert [s[0] for s in cb2.data["steps"]] == [10, 20, 30]


def test_reliability_is_the_binned_confidence_and_accuracy():
    # two positions a plate, 3 classes; the second plate's second position is absent (-1)
    probs = np.zeros((3, 2, 3))
    probs[0, 0] = [0.9, 0.05, 0.05]   # right, conf 0.9
    probs[0, 1] = [0.2, 0.7, 0.1]     # wrong (label 2), conf 0.7
    probs[1, 0] = [0.1, 0.1, 0.8]     # right, conf 0.8
    probs[1, 1] = [1.0, 0.0, 0.0]     # absent
    probs[2, 0] = [0.35, 0.33, 0.32]  # wrong (label 1), conf 0.35
    probs[2, 1] = [0.05, 0.9, 0.05]   # right, conf 0.9
    labels = np.array([[0, 2], [2, -1], [1, 1]])
    r = reliability(probs, labels, bins=10)
    assert sum(r["count"]) == 5
    assert r["count"][9] == 2 and r["accuracy"][9] == 1.0  # 0.9, 0.9
    assert r["count"][3] == 1 and r["accuracy"][3] == 0.0  # 0.35
    conf = np.array([0.9, 0.7, 0.8, 0.35, 0.9])
    right = np.array([1, 0, 1, 0, 1])
    ece = sum(abs(right[m].mean() - conf[m].mean()) * m.sum() / 5
              for m in (conf == 0.9, conf == 0.7, conf == 0.8, conf == 0.35))
    assert r["ece"] == pytest.approx(ece, abs=1e-5)
    g = g_density(probs, labels, bins=10)
    p_true = np.array([0.9, 0.1, 0.8, 0.33, 0.9])
    np.testing.assert_array_equal(g["count"], np.histogram(1 - p_true, np.linspace(0, 1, 11))[0])


def test_confidence_histograms_split_right_from_wrong():
    h = confidence_histograms([0.05, 0.95, 0.96, 0.5], [False, True, False, True], bins=10)
    assert h["right"][9] == 1 and h["right"][5] == 1 and sum(h["right"]) == 2
    assert h["wrong"][0] == 1 and h["wrong"][9] == 1
