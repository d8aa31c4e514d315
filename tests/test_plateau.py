"""The plateau schedule: warm-up then drops of the rate when validation stops improving, and a
stop once the run has converged (its last quarter gained less than 0.5 points)."""
import math
from types import SimpleNamespace

import numpy as np
import pytest

from lpr_lib.optim import PlateauDrops, WarmupPlateau


def _lr(schedule, step):
    return float(np.asarray(schedule(step)))


def test_warmup_then_the_scaled_peak():
    s = WarmupPlateau(8e-3, warmup_steps=100)
    assert _lr(s, 0) == 0.0
    assert _lr(s, 50) == pytest.approx(4e-3)
    assert _lr(s, 100) == pytest.approx(8e-3) and _lr(s, 10_000) == pytest.approx(8e-3)
    s.scale.assign(0.1)
    assert _lr(s, 10_000) == pytest.approx(8e-4) and _lr(s, 50) == pytest.approx(4e-4)
    assert _lr(WarmupPlateau(1e-3, warmup_steps=0), 0) == pytest.approx(1e-3)
    assert WarmupPlateau(1e-3, 5, scale=0.01).get_config()["scale"] == pytest.approx(0.01)


def _drive(callback, values):
    """Feed validation values epoch by epoch; return the logs and the epoch it stopped at."""
    callback.set_model(SimpleNamespace(stop_training=False))
    logs_all = []
    for epoch, v in enumerate(values):
        logs = {"val_chars_plate_acc": v}
        callback.on_epoch_end(epoch, logs)
        logs_all.append(logs)
        if callback.model.stop_training:
            return logs_all, epoch
    return logs_all, None


def test_drops_on_plateaus_then_stops_when_the_last_quarter_is_flat():
    s = WarmupPlateau(1e-2, 10)
    cb = PlateauDrops(s, factor=0.1, drops=2, patience=2, min_delta=0.005)
    values = [0.10, 0.40, 0.60, 0.70, 0.702, 0.703,  # plateau: 0.703 - 0.70 < 0.005
              0.80, 0.81, 0.812, 0.811,               # second plateau after the first drop
              0.85, 0.852, 0.853, 0.853, 0.853, 0.9]  # at the lowest rate: flat
    logs, stopped = _drive(cb, values)
    scales = [row["lr_scale"] for row in logs]
    # epoch 5: the last 2 (0.702, 0.703) beat the best before (0.70) by < 0.005: drop
    assert scales[:5] == [1.0] * 5 and scales[5] == pytest.approx(0.1)
    assert scales[9] == pytest.approx(0.01) and scales[8] == pytest.approx(0.1)
    # at the lowest rate from epoch 10 on; 14 epochs done at epoch 13: the window is
    # max(2, ceil(14 / 4)) = 4 epochs (10-13), all at the lowest rate, but they hold the jump
    # from 0.812 to 0.853; 15 epochs at epoch 14: window 4 (11-14) gains 0.853 - 0.85 < 0.005
    assert stopped == 14
    assert [row["stopped"] for row in logs] == [0] * 14 + [1]
    assert float(np.asarray(s.scale)) == pytest.approx(0.01)
    gain = max(values[: stopped + 1]) - max(values[: stopped + 1 - math.ceil(15 / 4)])
    assert gain < 0.005  # what the ablation calls converged


def test_a_climbing_run_is_never_dropped_or_stopped():
    cb = PlateauDrops(WarmupPlateau(1e-2, 0), drops=2, patience=2)
    logs, stopped = _drive(cb, [0.1 * i for i in range(1, 10)])
    assert stopped is None and all(row["lr_scale"] == 1.0 for row in logs)


def test_a_resumed_run_continues_from_its_history():
    values = [0.10, 0.40, 0.60, 0.70, 0.702, 0.703, 0.80, 0.81, 0.812, 0.811]
    whole = PlateauDrops(WarmupPlateau(1e-2, 10))
    logs, _ = _drive(whole, values)
    history = [{"val_chars_plate_acc": v, "lr_scale": row["lr_scale"], "stopped": row["stopped"]}
               for v, row in zip(values[:7], logs)]
    s = WarmupPlateau(1e-2, 10)
    resumed = PlateauDrops(s, history=history)
    assert float(np.asarray(s.scale)) == pytest.approx(0.1)  # restored from the last row
    rest, _ = _drive(resumed, values[7:])
    assert [r["lr_scale"] for r in rest] == pytest.approx([r["lr_scale"] for r in logs[7:]])
    assert not resumed.done()
    done = PlateauDrops(WarmupPlateau(1e-2, 10),
                        history=[{"val_chars_plate_acc": 0.5, "lr_scale": 0.01, "stopped": 1}])
    assert done.done()


def test_bad_settings_are_refused():
    for kw in ({"factor": 1.0}, {"factor": 0.0}, {"drops": -1}, {"patience": 0}):
        with pytest.raises(ValueError, match="PlateauDrops needs"):
            PlateauDrops(WarmupPlateau(1e-3, 0), **kw)


def test_a_plateau_run_drops_stops_and_stays_stopped(tmp_path):
    """A run that cannot learn (random labels): a drop after its first flat epochs, then the
    stop, and the run folder holds a finished run."""
    import tensorflow as tf

    from lpr_lib.config import ExperimentConfig
    from lpr_lib.train import load_history, train

    size = [24, 72]
    cfg = ExperimentConfig(name="plateau", epochs=6, batch_size=16, verbose=0).override(
        [f"data.image_size={size}", "model.width=0.25", "data.val_size=0",
         "jit_compile=false", "schedule.name=plateau", "schedule.warmup_epochs=0",
         "schedule.patience=1", "schedule.drops=1", "schedule.factor=0.5"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, *size, 3)).astype("float32")
    y = rng.integers(0, 74, size=(32, 8)).astype("int32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    train(cfg, tmp_path / "run", train_data=data, val_data=data)
    rows = load_history(tmp_path / "run")
    # plate accuracy stays 0: flat after epoch 1 (drop to 0.5), flat again after epoch 2: stop
    assert [r["lr_scale"] for r in rows] == [1.0, 0.5, 0.5]
    assert [r["stopped"] for r in rows] == [0, 0, 1]
    from lpr_lib.runs import RunFolderError

    with pytest.raises(RunFolderError, match="finished run"):  # stopped is finished
        train(cfg, tmp_path / "run", train_data=data, val_data=data)
    assert len(load_history(tmp_path / "run")) == 3
