"""The experiment config and the training loop: YAML round-trip, clear errors, a tiny run,
resume after a kill, determinism, and MirroredStrategy on two logical CPUs."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lpr_lib.train import ConfigError, ExperimentConfig, default_config, load_history, train

SIZE = [32, 96]


def tiny_config(**over):
    cfg = ExperimentConfig(name="tiny", epochs=1, batch_size=16, verbose=0)
    # XLA off (its compile is most of a tiny run's time) except where a test turns it on
    sets = [f"data.image_size={SIZE}", "model.width=0.25", "data.val_size=0",
            "schedule.name=constant", "jit_compile=false"] + \
        [f"{k}={v}" for k, v in over.items()]
    return cfg.override(sets)


def tiny_data(n=64, seed=0):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *SIZE, 3)).astype("float32")
    y = rng.integers(0, 74, size=(n, 8)).astype("int32")
    y[::2, 7] = -1
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


# ---------------------------------------------------------------- config


def test_yaml_round_trip(tmp_path):
    cfg = default_config().override(["model.width=0.75", "loss.name=ghm_labelwise",
                                     "data.image_size=[32, 96]", "optimizer.clipnorm=1.0"])
    path = tmp_path / "c.yaml"
    cfg.to_yaml(path)
    again = ExperimentConfig.from_yaml(path)
    assert again == cfg
    assert again.model.width == 0.75 and again.data.image_size == [32, 96]


def test_partial_yaml_keeps_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: small\nmodel:\n  width: 1\n")
    cfg = ExperimentConfig.from_yaml(path)
    assert cfg.name == "small" and cfg.model.width == 1.0 and isinstance(cfg.model.width, float)
    assert cfg.loss == ExperimentConfig().loss


def test_unknown_key_names_the_key_and_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  widht: 0.5\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*model\.widht"):
        ExperimentConfig.from_yaml(path)


def test_wrong_type_and_missing_file_are_clear(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("epochs: many\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: epochs must be an integer, got 'many' "
                                          r"\(line 1\)"):
        ExperimentConfig.from_yaml(path)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        ExperimentConfig.from_yaml(tmp_path / "nope.yaml")


def test_set_overrides():
    cfg = ExperimentConfig().override(["model.width=0.5", "epochs=3", "data.train=null",
                                       "deterministic=true"])
    assert (cfg.model.width, cfg.epochs, cfg.data.train, cfg.deterministic) == (0.5, 3, None, True)
    with pytest.raises(ConfigError, match="model.depth"):
        cfg.override(["model.depth=3"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        cfg.override(["epochs"])


def test_augment_takes_a_mapping_checked_when_the_config_loads(tmp_path):
    from lpr_lib.data.augmentation import AugmentConfig, _augment_config

    cfg = ExperimentConfig().override(["data.augment={downscale_prob: 0.6, downscale: [0.4, 0.8]}"])
    aug = _augment_config(cfg.data.augment)
    assert aug.downscale_prob == 0.6 and aug.downscale == (0.4, 0.8)
    assert aug.rotation_deg == AugmentConfig().rotation_deg  # the rest keep their defaults
    assert ExperimentConfig.from_dict(cfg.to_dict()).data.augment == cfg.data.augment
    assert _augment_config(ExperimentConfig().data.augment) == AugmentConfig()
    path = tmp_path / "bad.yaml"
    path.write_text("data:\n  augment: {rotaton_deg: 6}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown config key "
                                          r"'data\.augment\.rotaton_deg'.* \(line 2\)"):
        ExperimentConfig.from_yaml(path)
    path.write_text("data:\n  augment: {downscale: 0.5}\n")
    with pytest.raises(ConfigError, match=r"data\.augment\.downscale must be a pair"):
        ExperimentConfig.from_yaml(path)
    with pytest.raises(ConfigError, match="data.augment must be a bool"):
        ExperimentConfig().override(["data.augment=3"])


def test_committed_configs_load():
    from lpr_lib.repro import REPO_ROOT

    paths = sorted((REPO_ROOT / "configs").glob("*.yaml"))
    assert paths, "configs/*.yaml missing"
    for path in paths:
        ExperimentConfig.from_yaml(path)


def test_quick_mode_shrinks_the_default(monkeypatch):
    monkeypatch.setenv("LPR_QUICK", "1")
    quick = default_config()
    monkeypatch.setenv("LPR_QUICK", "0")
    full = default_config()
    assert quick.epochs == 1 and quick.data.synthetic_train < full.data.synthetic_train


# ---------------------------------------------------------------- training


def test_tiny_run_writes_its_run_folder(tmp_path):
    out = tmp_path / "run"
    history = train(tiny_config(jit_compile="true"), out, train_data=tiny_data())
    assert set(history.history) >= {"loss", "chars_plate_acc", "length_accuracy", "img_per_s"}
    for name in ("config.yaml", "history.csv", "last.keras", "best.keras", "result.json"):
        assert (out / name).is_file(), name
    assert not (out / "backup").exists()  # removed once the run has finished
    rows = load_history(out)
    assert [r["epoch"] for r in rows] == [0]
    result = json.loads((out / "result.json").read_text())
    assert result["meta"]["seed"] == tiny_config().seed
    assert result["meta"]["config"]["jit_compile"] is True
    assert result["meta"]["config"]["model"]["width"] == 0.25
    assert result["result"]["epochs_done"] == 1 and result["result"]["params"] > 0


@pytest.mark.slow
def test_resume_after_a_kill_continues_at_the_next_epoch(tmp_path):
    import keras

    class Kill(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("simulated kill")

    class Seen(keras.callbacks.Callback):
        epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.epochs.append(epoch)

    out, cfg = tmp_path / "run", tiny_config(epochs=2)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out, train_data=tiny_data(), callbacks=[Kill()])
    assert (out / "backup").is_dir()
    assert [r["epoch"] for r in load_history(out)] == [0]
    seen = Seen()
    train(cfg, out, train_data=tiny_data(), callbacks=[seen])
    assert seen.epochs == [1]  # epoch 0 was not trained again
    assert [r["epoch"] for r in load_history(out)] == [0, 1]  # CSV appended, not rewritten
    assert not (out / "backup").exists()
    # training again into the finished folder is refused; with overwrite it is a new run
    with pytest.raises(ValueError, match="finished run"):
        train(cfg, out, train_data=tiny_data())
    train(cfg, out, train_data=tiny_data(), overwrite=True)
    assert [r["epoch"] for r in load_history(out)] == [0, 1]


DETERMINISM = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, {tests!r})
    from test_train import tiny_config, tiny_data
    from lpr_lib.train import train
    import keras
    train(tiny_config(deterministic=True), {out!r}, train_data=tiny_data())
    m = keras.models.load_model({out!r} + "/last.keras")
    np.savez({out!r} + "/w.npz", *m.get_weights())
""")


@pytest.mark.slow
def test_same_seed_same_weights(tmp_path):
    """Two runs in fresh processes with deterministic=True give bit-identical weights."""
    weights = []
    for i in range(2):
        out = str(tmp_path / f"run{i}")
        code = DETERMINISM.format(tests=str(__import__("pathlib").Path(__file__).parent), out=out)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, res.stderr[-3000:]
        weights.append(np.load(out + "/w.npz"))
    a, b = weights
    assert len(a.files) > 10
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k])


MIRRORED = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_train import tiny_config, tiny_data
    from lpr_lib.train import train, configure_tensorflow, _strategy
    cfg = tiny_config(strategy="mirrored", logical_cpus=2)
    configure_tensorflow(cfg)
    print("replicas", _strategy(cfg).num_replicas_in_sync)
    h = train(cfg, {out!r}, train_data=tiny_data())
    print("loss", h.history["loss"][-1])
""")


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    code = MIRRORED.format(tests=str(__import__("pathlib").Path(__file__).parent),
                           out=str(tmp_path / "run"))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "replicas 2" in res.stdout
    loss = float(res.stdout.split("loss")[-1])
    assert np.isfinite(loss)


# ---------------------------------------------------------------- mixtures, fine-tuning


def _real_like(tmp_path, n_plates=12, crops=2):
    """A plate-named folder: ``crops`` images of each of ``n_plates`` plate texts."""
    from PIL import Image

    folder = tmp_path / "real"
    folder.mkdir()
    for i in range(n_plates):
        for k in range(crops):
            Image.new("RGB", (94, 24), (20 * i % 255, 60, 200)).save(
                folder / f"皖A{i:05d}_{k}.jpg")
    return folder


def test_mix_config_is_checked():
    bad = [["data.mix=[{source: synthetic, weight: -1}]"], ["data.mix=[synthetic]"],
           ["data.mix=[{source: synthetic}]", "data.train=x"], ["data.val_split=1.5"]]
    from lpr_lib.train import _mix_parts

    for sets in bad:
        with pytest.raises(ConfigError, match="data"):
            _mix_parts(tiny_config().override(sets).data)
    parts = _mix_parts(tiny_config().override(["data.mix=[{source: synthetic}, "
                                               "{source: a/b, weight: 3}]"]).data)
    assert parts == [("synthetic", 1.0), ("a/b", 3.0)]


def test_mixed_run_validates_on_held_out_real_plates(tmp_path, monkeypatch):
    """Real crops split by plate text: validation holds whole plates the training never saw."""
    import lpr_lib.train as lt
    from lpr_lib import data

    real = _real_like(tmp_path)
    monkeypatch.setattr(lt, "RUNS_DIR", tmp_path / "runs")
    cfg = tiny_config(**{"data.synthetic_train": 32, "steps_per_epoch": 3,
                         "data.val_split": 0.25}).override(
        [f"data.mix=[{{source: synthetic, weight: 1}}, {{source: '{real}', weight: 1}}]"])
    train_ds, val_ds, steps = lt.prepare_data(cfg)
    assert steps == 3
    val_labels = np.concatenate([y.numpy() for _, y in val_ds])
    _, held_out = data.split_by_plate(data.load_samples(real), 0.25, cfg.seed)
    assert len(val_labels) == len(held_out) >= 6  # the held-out plates, and only them
    seen = {tuple(r) for _, y in train_ds.take(40) for r in y.numpy()}
    assert not seen & {tuple(s.labels) for s in held_out}
    train(cfg, tmp_path / "run")
    assert "val_chars_plate_acc" in load_history(tmp_path / "run")[0]


def test_init_from_copies_the_weights_and_refuses_another_architecture(tmp_path):
    from lpr_lib.predict import load_model

    first = tmp_path / "first"
    train(tiny_config(), first, train_data=tiny_data())
    trained = load_model(first)
    tuned = tmp_path / "tuned"
    train(tiny_config(**{"init_from": str(first), "optimizer.learning_rate": 0.0,
                         "model.conv_decay": 0.0}), tuned, train_data=tiny_data())
    after = load_model(tuned / "last.keras")
    # learning rate 0: every trainable weight is still the trained model's
    for a, b in zip(trained.trainable_weights, after.trainable_weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    with pytest.raises(ConfigError, match="architecture"):
        train(tiny_config(**{"init_from": str(first), "model.width": 0.5}), tmp_path / "x",
              train_data=tiny_data())


def test_generator_settings_reach_the_synthetic_set(tmp_path):
    from lpr_lib.data import load_samples
    from lpr_lib.train import synthetic_folder

    plain = synthetic_folder(6, SIZE, 3, root=tmp_path)
    blue = synthetic_folder(6, SIZE, 3, root=tmp_path, synth={"kinds": {"blue": 1.0}})
    assert plain != blue and blue.name.startswith(plain.name)  # its own cache
    assert all(len(s.text) == 7 for s in load_samples(blue))
    with pytest.raises(ConfigError, match="data.synth"):
        synthetic_folder(6, SIZE, 3, root=tmp_path, synth={"tight": 1})


def test_mix_paths_resolve_from_the_repository_root(tmp_path, monkeypatch):
    from lpr_lib.repro import REPO_ROOT
    from lpr_lib.train import _mix_parts

    monkeypatch.chdir(tmp_path)  # a notebook runs in book/, not in the repository root
    cfg = tiny_config().override(["data.mix=[{source: data_samples}, {source: synthetic}]"])
    assert _mix_parts(cfg.data) == [(str(REPO_ROOT / "data_samples"), 1.0), ("synthetic", 1.0)]
