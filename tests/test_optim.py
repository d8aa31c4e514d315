"""RAdam against torch.optim.RAdam trajectories, and the schedules.

The fixture tests/fixtures/radam_torch.json was recorded once with PyTorch 2.13.0 by
tools/record_reference_fixtures.py (float64; 5 settings, 40 steps each, rho_t
crossing 5 between steps 5 and 6). We replay the same gradients in Keras and
compare every step: in float64 to 1e-10 relative (the fixture's learning rates are
powers of two, exact in the float32 variable where Keras keeps them), in float32
to 1e-5.
"""
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from lpr_lib.optim import (RAdam, WarmupCosine, WarmupSteps, get_optimizer, rectification, rho,
                           seed_epoch_boundaries, seed_schedule)

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "radam_torch.json").read_text())


def replay(case, dtype):
    params = [keras.Variable(np.array(p), dtype=dtype) for p in FIXTURE["init"]]
    opt = RAdam(learning_rate=case["lr"], beta_1=case["betas"][0], beta_2=case["betas"][1],
                epsilon=case["eps"], weight_decay=case["weight_decay"] or None,
                decoupled_weight_decay=case["decoupled"])
    quad = FIXTURE["quadratic"]
    out = []
    for t in range(FIXTURE["steps"]):
        if case["grad"] == "fixed":
            grads = [np.array(g[t]) for g in case["grads"]]
        else:
            grads = [np.array(a) * (p.numpy().astype(np.float64) - np.array(c))
                     for p, a, c in zip(params, quad["a"], quad["c"])]
        opt.apply_gradients([(keras.ops.cast(g, dtype), p) for g, p in zip(grads, params)])
        out.append([p.numpy().astype(np.float64) for p in params])
    return out


@pytest.mark.parametrize("index", range(len(FIXTURE["cases"])))
@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-10), ("float32", 1e-5)])
def test_radam_matches_torch_trajectory(index, dtype, rtol):
    case = FIXTURE["cases"][index]
    assert case["first_rectified_step"] == 6  # the run covers both regimes
    got = replay(case, dtype)
    for t, step in enumerate(got):
        for j, p in enumerate(step):
            expected = np.array(case["trajectory"][j][t])
            np.testing.assert_allclose(p, expected, rtol=rtol, atol=rtol * 1e-2,
                                       err_msg=f"step {t + 1}, param {j}")


def test_fixture_moves_enough_to_matter():
    """The trajectories move by several learning rates, far beyond the tolerance, so a
    wrong step size or a missed rectification could not pass."""
    for case in FIXTURE["cases"]:
        start = np.array(FIXTURE["init"][1])
        assert np.abs(np.array(case["trajectory"][1][-1]) - start).max() > 5 * case["lr"]


def test_first_steps_are_unadapted_momentum():
    """Before rho_t > 5 the step is lr * m_hat, whatever the gradient's scale."""
    var = keras.Variable(np.zeros(3, np.float64))
    opt = RAdam(learning_rate=0.125)
    opt.apply_gradients([(np.array([1e-3, 1.0, 1e3]), var)])
    np.testing.assert_allclose(var.numpy(), -0.125 * np.array([1e-3, 1.0, 1e3]), rtol=1e-12)


def test_threshold_is_configurable():
    """With the threshold at 4 the rectified step starts at step 5 (rho_5 = 4.99...)."""
    assert 4 < rho(5) < 5 < rho(6)
    a, b = keras.Variable(np.zeros(2)), keras.Variable(np.zeros(2))
    oa, ob = RAdam(0.1), RAdam(0.1, rectify_threshold=4.0)
    g = np.array([0.5, -2.0])
    for _ in range(4):
        oa.apply_gradients([(g, a)])
        ob.apply_gradients([(g, b)])
    np.testing.assert_allclose(a.numpy(), b.numpy())
    oa.apply_gradients([(g, a)])
    ob.apply_gradients([(g, b)])
    assert not np.allclose(a.numpy(), b.numpy())


def test_rho_and_rectification_formulas():
    t = np.arange(1, 2000)
    r = rho(t, 0.999)
    assert np.all(np.diff(r) > 0) and r[-1] < 2 / 0.001 - 1
    rt = rectification(t, 0.999)
    assert np.isnan(rt[:4]).all() and np.all(rt[6:] < 1) and np.all(np.diff(rt[6:]) > 0)


def _regression_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (x @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(n, 1))).astype(np.float32)
    return x, y


def test_fit_with_radam_and_schedule_decreases_loss(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _regression_data()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1)])
    sched = WarmupCosine(5e-2, warmup_steps=16, total_steps=160)
    model.compile(optimizer=RAdam(sched, weight_decay=1e-4), loss="mse")
    hist = model.fit(x, y, batch_size=32, epochs=20, verbose=0).history["loss"]
    assert hist[-1] < 0.2 * hist[0]
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.optimizer, RAdam)
    assert isinstance(loaded.optimizer._learning_rate, WarmupCosine)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 160
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(loaded.predict(x[:4], verbose=0), model.predict(x[:4], verbose=0),
                               rtol=1e-6)


def test_radam_config_round_trip():
    opt = RAdam(2e-3, beta_1=0.8, beta_2=0.99, weight_decay=5e-4, rectify_threshold=4.0)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(again, RAdam) and again.get_config() == opt.get_config()
    assert again.l2 == 5e-4 and again.weight_decay is None
    dec = RAdam(weight_decay=0.1, decoupled_weight_decay=True)
    dec2 = RAdam.from_config(dec.get_config())
    assert dec2.weight_decay == 0.1 and dec2.l2 == 0.0


def test_coupled_decay_respects_exclusions():
    a, b = keras.Variable(np.ones(2), name="kernel"), keras.Variable(np.ones(2), name="gamma")
    opt = RAdam(0.1, weight_decay=1.0)
    opt.exclude_from_weight_decay(var_names=["gamma"])
    opt.apply_gradients([(np.zeros(2), a), (np.zeros(2), b)])
    np.testing.assert_allclose(a.numpy(), 1 - 0.1 * 1.0)  # first step: lr * m_hat, m_hat = wd * 1
    np.testing.assert_allclose(b.numpy(), 1.0)


def test_seed_schedule_boundaries():
    spe = 10
    sched = seed_schedule(spe, epochs=20)
    assert seed_epoch_boundaries(20) == [1, 10, 15, 18]
    lr = lambda step: float(sched(step))  # noqa: E731
    assert lr(0) == pytest.approx(1e-5) and lr(9) == pytest.approx(1e-5)  # epoch 0
    assert lr(10) == pytest.approx(1e-3) and lr(99) == pytest.approx(1e-3)  # epochs 1-9
    assert lr(100) == pytest.approx(1e-4) and lr(149) == pytest.approx(1e-4)
    assert lr(150) == pytest.approx(1e-5) and lr(179) == pytest.approx(1e-5)
    assert lr(180) == pytest.approx(1e-6) and lr(10_000) == pytest.approx(1e-6)
    # scales with the number of epochs; every value gets an epoch even when few
    assert seed_epoch_boundaries(100) == [5, 50, 75, 90]
    assert seed_epoch_boundaries(5) == [1, 2, 4, 5]
    fixed = seed_schedule(4, epochs_per_step=[1, 3, 2, 2])
    assert [round(float(fixed(s)), 9) for s in (3, 4, 15, 16, 23, 24, 31, 32)] == \
        [1e-5, 1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5, 1e-6]
    with pytest.raises(ValueError):
        seed_schedule(10)


def test_warmup_cosine_values_and_keras_reference():
    s = WarmupCosine(1e-3, warmup_steps=100, total_steps=1000, final_ratio=0.01)
    assert float(s(0)) == 0.0
    assert float(s(50)) == pytest.approx(5e-4)
    assert float(s(100)) == pytest.approx(1e-3)
    assert float(s(550)) == pytest.approx(1e-3 * (0.01 + 0.99 * 0.5))
    assert float(s(1000)) == pytest.approx(1e-5) and float(s(5000)) == pytest.approx(1e-5)
    ref = keras.optimizers.schedules.CosineDecay(0.0, 900, alpha=0.01, warmup_target=1e-3,
                                                 warmup_steps=100)
    steps = np.arange(0, 1200, 7)
    np.testing.assert_allclose([float(s(t)) for t in steps], [float(ref(t)) for t in steps],
                               rtol=1e-5, atol=1e-10)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(s))
    assert again.get_config() == s.get_config()


def test_warmup_steps_values_and_keras_reference():
    s = WarmupSteps(8e-3, warmup_steps=100, boundaries=[500, 700], factor=0.1)
    assert float(s(0)) == 0.0 and float(s(50)) == pytest.approx(4e-3)
    assert [float(s(t)) for t in (100, 499, 500, 699, 700, 10_000)] == pytest.approx(
        [8e-3, 8e-3, 8e-4, 8e-4, 8e-5, 8e-5])
    # after the warm-up: Keras' piecewise constant, whose value i holds while step <= b_i,
    # so its boundaries sit one step before ours (ours drop at the boundary step itself)
    ref = keras.optimizers.schedules.PiecewiseConstantDecay([499, 699], [8e-3, 8e-4, 8e-5])
    steps = np.arange(100, 1200, 7)
    np.testing.assert_allclose([float(s(t)) for t in steps], [float(ref(t)) for t in steps],
                               rtol=1e-6)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(s))
    assert again.get_config() == s.get_config()
    with pytest.raises(ValueError, match="increasing"):
        WarmupSteps(1e-3, 10, [700, 500])


def test_step_schedule_from_config():
    from lpr_lib.config import ConfigError, default_config
    from lpr_lib.model import build_model
    from lpr_lib.train import compile_model

    config = default_config().override(["epochs=10", "schedule.name=step",
                                        "schedule.drops_at=[0.5, 0.8]", "schedule.factor=0.2",
                                        "optimizer.learning_rate=1e-2",
                                        "model.backbone=mobilenet_v3"])
    model = build_model(config)
    compile_model(model, config, steps_per_epoch=20)
    lr = model.optimizer._learning_rate
    assert isinstance(lr, WarmupSteps) and lr.boundaries == [100, 160] and lr.factor == 0.2
    assert float(lr(150)) == pytest.approx(2e-3) and float(lr(199)) == pytest.approx(4e-4)
    with pytest.raises(ConfigError, match="drops_at"):
        default_config().override(["schedule.drops_at=[0.8, 0.5]"])


def test_cosine_anneal_share_ends_on_a_flat_stretch():
    from lpr_lib.config import default_config
    from lpr_lib.model import build_model
    from lpr_lib.train import compile_model

    config = default_config().override(["epochs=10", "schedule.anneal_share=0.75",
                                        "model.backbone=mobilenet_v3"])
    model = build_model(config)
    compile_model(model, config, steps_per_epoch=20)
    lr = model.optimizer._learning_rate
    assert isinstance(lr, WarmupCosine) and lr.total_steps == 150 and lr.warmup_steps == 10
    assert float(lr(150)) == pytest.approx(8e-5) and float(lr(199)) == pytest.approx(8e-5)
    assert float(lr(80)) > 8e-5


def test_get_optimizer():
    assert isinstance(get_optimizer("radam", 1e-3), RAdam)
    assert isinstance(get_optimizer("adam", 1e-3), keras.optimizers.Adam)
    sgd = get_optimizer("sgd", 0.1)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.momentum == 0.9
    with pytest.raises(ValueError):
        get_optimizer("lamb")
