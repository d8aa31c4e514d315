"""Run folders under faults: a kill at any point of an epoch's writes, broken checkpoints,
finished runs, changed configs, bad configs. Every test here trains a tiny model for a few
seconds (tests/test_train.py's tiny_config and tiny_data)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import pytest

from lpr_lib import runs
from lpr_lib.train import ConfigError, ExperimentConfig, load_history, train

sys.path.insert(0, str(Path(__file__).parent))
from test_train import tiny_config, tiny_data  # noqa: E402

EPOCHS = 2


def small_model(config, image_size=None):
    """A few-layer stand-in for ``build_model`` (same inputs and output heads): these tests
    are about the run folder, and the real backbone's graph takes most of a tiny run's time
    to trace. tests/test_train.py resumes the real model."""
    from keras import layers

    from lpr_lib.plates import MAX_LEN, NUM_CLASSES

    size = tuple(config.data.image_size) if hasattr(config, "data") else tuple(image_size)
    inputs = keras.Input((*size, 3), name="image")
    x = layers.Conv2D(4, 3, strides=4, name="conv")(inputs)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    chars = layers.Reshape((MAX_LEN, NUM_CLASSES))(layers.Dense(MAX_LEN * NUM_CLASSES)(x))
    return keras.Model(inputs, {"chars": layers.Softmax(name="chars")(chars),
                                "length": layers.Dense(2, activation="softmax",
                                                       name="length")(x)}, name="small")


@pytest.fixture(autouse=True)
def _small_model(monkeypatch):
    import lpr_lib.model

    monkeypatch.setattr(lpr_lib.model, "build_model", small_model)


class Killed(BaseException):
    """What a kill looks like from inside: nothing after it runs, no cleanup but `finally`."""


class EpochSeen(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def _killer(monkeypatch, point, epoch_of, at_epoch):
    def fault(name):
        if name == point and epoch_of() == at_epoch:
            raise Killed(name)

    monkeypatch.setattr(runs, "_fault", fault)


def _assert_finished(out, epochs=EPOCHS):
    assert [r["epoch"] for r in load_history(out)] == list(range(epochs))
    state = json.loads((out / "state.json").read_text())
    assert state["finished"] and state["epochs_done"] == epochs
    for name in ("best.keras", "last.keras"):
        keras.models.load_model(out / name, compile=False)
    assert not (out / "backup").exists()
    assert not [p for p in out.rglob("*") if runs.TMP_MARK in p.name]


# every write of an epoch's commit, "written" = the temporary file is whole but not yet
# renamed (a kill during the write), "renamed" = between this write and the next
KILL_POINTS = ["checkpoint:written", "checkpoint:renamed", "history:written",
               "history:renamed", "state:written", "state:renamed", "publish:written",
               "publish:renamed", "cleanup:done", "finish:written", "finish:renamed", "mid-epoch"]
COMMITTED = {"state:renamed", "publish:written", "publish:renamed", "cleanup:done",
             "finish:written", "finish:renamed"}


@pytest.mark.slow
@pytest.mark.parametrize("point, at_epoch", [(p, EPOCHS - 1) for p in KILL_POINTS] + [
    (p, 0) for p in ("checkpoint:written", "state:renamed")])
def test_a_kill_at_any_write_resumes_to_a_whole_run(tmp_path, monkeypatch, point, at_epoch):
    """Kill training at a write of an epoch's commit (of the last epoch, and of the first),
    rerun: every epoch is in the history exactly once, and best.keras / last.keras load."""
    cfg, out = tiny_config(epochs=EPOCHS), tmp_path / "run"
    seen = EpochSeen()
    cbs = [seen]
    if point == "mid-epoch":
        class Mid(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if seen.epochs[-1] == at_epoch and batch == 1:
                    raise Killed(point)
        cbs.append(Mid())
    else:
        _killer(monkeypatch, point, lambda: seen.epochs[-1] if seen.epochs else -1, at_epoch)
    with pytest.raises(Killed):
        train(cfg, out, train_data=tiny_data(), callbacks=cbs)
    monkeypatch.setattr(runs, "_fault", lambda name: None)
    again = EpochSeen()
    if point == "finish:renamed":  # the run was finished: a rerun is refused, nothing lost
        with pytest.raises(runs.RunFolderError, match="finished run"):
            train(cfg, out, train_data=tiny_data(), callbacks=[again])
    else:
        train(cfg, out, train_data=tiny_data(), callbacks=[again])
    first = at_epoch + 1 if point in COMMITTED else at_epoch
    assert again.epochs == (list(range(first, EPOCHS)) if point != "finish:renamed" else [])
    _assert_finished(out)


KILL9 = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_train import tiny_config, tiny_data
    from lpr_lib import runs
    from lpr_lib.train import train
    import lpr_lib.model
    from test_runs import small_model
    lpr_lib.model.build_model = small_model
    if {point!r}:
        calls = []
        def fault(name):
            calls.append(name)
            if name == {point!r} and calls.count(name) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        runs._fault = fault
    train(tiny_config(epochs=3), {out!r}, train_data=tiny_data())
""")


@pytest.mark.slow
def test_sigkill_while_the_state_is_written(tmp_path):
    """A real SIGKILL (no Python cleanup at all) during the second epoch's commit."""
    out = str(tmp_path / "run")
    tests = str(Path(__file__).parent)
    for point in ("state:written", ""):
        res = subprocess.run([sys.executable, "-c", KILL9.format(tests=tests, out=out,
                                                                 point=point)],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == (-9 if point else 0), res.stderr[-2000:]
        if point:
            assert [r["epoch"] for r in load_history(out)] == [0]
    _assert_finished(Path(out), 3)


@pytest.mark.slow
def test_a_broken_checkpoint_falls_back_to_the_last_intact_one(tmp_path, capsys):
    cfg, out = tiny_config(epochs=3), tmp_path / "run"
    seen = EpochSeen()

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise Killed("stop")

    with pytest.raises(Killed):
        train(cfg, out, train_data=tiny_data(), callbacks=[seen, Stop()])
    state = json.loads((out / "state.json").read_text())
    current = out / "backup" / state["checkpoint"]
    current.write_bytes(current.read_bytes()[:1000])  # a full disk, a bad sector
    again = EpochSeen()
    train(cfg, out, train_data=tiny_data(), callbacks=[again])
    assert "is broken" in capsys.readouterr().err
    assert again.epochs == [1, 2]  # resumed after epoch 0, the last intact checkpoint
    _assert_finished(out, 3)


@pytest.mark.slow
def test_a_finished_run_is_kept_unless_overwritten(tmp_path):
    cfg, out = tiny_config(epochs=1), tmp_path / "run"
    train(cfg, out, train_data=tiny_data())
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    for other in (cfg, cfg.override(["model.width=0.5"])):
        with pytest.raises(runs.RunFolderError, match="finished run.*--overwrite"):
            train(other, out, train_data=tiny_data())
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    # a bad config is refused before the folder is touched, --overwrite or not
    with pytest.raises(ConfigError, match="model.width must be > 0"):
        train(cfg.override(["model.width=0"]), out, train_data=tiny_data(), overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before

    # overwrite: the old run is kept aside until the new one has an epoch
    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            raise Killed("stop")

    aside = out.with_name("run.replaced")
    for attempt in range(2):  # a second replacement that also dies keeps the finished run aside
        with pytest.raises(Killed):
            train(cfg, out, train_data=tiny_data(), callbacks=[Stop()], overwrite=True)
        assert (aside / "best.keras").read_bytes() == before["best.keras"], attempt
    train(cfg, out, train_data=tiny_data(), overwrite=True)
    assert not aside.exists()
    _assert_finished(out, 1)


@pytest.mark.slow
def test_resuming_with_another_config_names_the_change(tmp_path):
    cfg, out = tiny_config(epochs=2), tmp_path / "run"

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise Killed("stop")

    with pytest.raises(Killed):
        train(cfg, out, train_data=tiny_data(), callbacks=[Stop()])
    with pytest.raises(runs.RunFolderError, match=r"another config \(model\.width: 0\.25 -> 0\.5"):
        train(cfg.override(["model.width=0.5"]), out, train_data=tiny_data())
    train(cfg.override(["verbose=1"]), out, train_data=tiny_data())  # reporting may change
    _assert_finished(out, 2)


def test_a_folder_from_elsewhere_is_not_trained_into(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "best.keras").write_bytes(b"someone's model")
    with pytest.raises(runs.RunFolderError, match="cannot resume.*--overwrite"):
        runs.RunFolder(out).check_can_train({}, overwrite=False)
    assert runs.RunFolder(out).check_can_train({}, overwrite=True) == "overwrite"
    (tmp_path / "file").write_text("x")
    with pytest.raises(runs.RunFolderError, match="not a folder"):
        runs.RunFolder(tmp_path / "file").check_can_train({}, overwrite=True)
    assert runs.RunFolder(tmp_path / "empty").check_can_train({}, overwrite=False) == "new"


def test_atomic_path_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(OSError):
        with runs.atomic_path(path) as tmp:
            tmp.write_text("half")
            raise OSError("disk full")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]
    runs.write_text(path, "new")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["a.txt"]


@pytest.mark.parametrize("setting, message", [
    (["epochs=-1"], "epochs must be at least 1"),
    (["epochs=0"], "epochs must be at least 1"),
    (["batch_size=0"], "batch_size must be at least 1"),
    (["batch_size=-4"], "batch_size must be at least 1"),
    (["data.image_size=[48]"], r"data.image_size must be \[height, width\]"),
    (["data.image_size=[0, 0]"], r"data.image_size must be \[height, width\]"),
    (["model.width=0"], "model.width must be > 0"),
    (["data.val_split=1.0"], r"data.val_split must be in \[0, 1\)"),
    (["optimizer.learning_rate=-1e-3"], r"optimizer.learning_rate must be 0 \(frozen\) or more"),
])
def test_config_values_are_checked_with_their_key(setting, message):
    with pytest.raises(ConfigError, match=r"--set: " + message):
        ExperimentConfig().override(setting)


def test_a_duplicated_yaml_key_is_an_error(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("epochs: 3\nmodel:\n  width: 0.5\nepochs: 5\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml: not valid YAML.*duplicate key 'epochs'"):
        ExperimentConfig.from_yaml(path)
    path.write_bytes("name: 车牌\n".encode("gbk"))
    with pytest.raises(ConfigError, match=r"dup\.yaml: not UTF-8"):
        ExperimentConfig.from_yaml(path)


def test_cli_refuses_zero_epochs_without_claiming_a_model(tmp_path, capsys):
    from lpr_lib.cli import main

    assert main(["train", "--epochs", "0", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr()
    assert "epochs must be at least 1" in err.err and "done" not in err.out
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_a_damaged_model_file_is_named_and_a_run_falls_back_to_last(tmp_path, capsys):
    from lpr_lib.predict import load_model

    out = tmp_path / "run"
    train(tiny_config(epochs=1), out, train_data=tiny_data())
    best = out / "best.keras"
    best.write_bytes(best.read_bytes()[: best.stat().st_size // 2])  # a disk that filled up
    model = load_model(out)
    assert model._lpr_source == out / "last.keras"
    assert "best.keras: not a loadable Keras model" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"best\.keras: not a loadable Keras model"):
        load_model(best)
