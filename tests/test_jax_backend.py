"""The model, losses, RAdam and the compile step on Keras 3's JAX backend, with TensorFlow
out of reach: a few training steps lower the loss, GHM's histogram persists across the
(stateless) steps, and the saved model loads under TensorFlow with the same outputs."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                                reason="jax is not installed (pip install 'jax[cpu]')")

BATCH = 16

SCRIPT = textwrap.dedent(f"""
    import os, sys
    os.environ["KERAS_BACKEND"] = "jax"
    sys.modules["tensorflow"] = None  # `import tensorflow` now fails: the path must not need it
    import numpy as np, keras
    from lpr_lib.model import build_model
    from lpr_lib.plates import text_to_labels
    from lpr_lib.synth import PlateGenerator, SynthConfig
    from lpr_lib.train import compile_model, default_config

    assert keras.backend.backend() == "jax"
    out = sys.argv[1]
    cfg = default_config().override([
        "model.width=0.25", "data.image_size=[32, 96]", "loss.name=ghm_labelwise",
        "optimizer.name=radam", "optimizer.learning_rate=0.003", "schedule.name=constant"])
    gen = PlateGenerator(SynthConfig(size=(32, 96), kinds={{"blue": 1.0}}), seed=5)
    samples = [gen.sample_at(i) for i in range(64)]
    x = np.stack([s.image for s in samples]).astype("float32")
    x = (x - x.mean(axis=(1, 2, 3), keepdims=True)) / x.std(axis=(1, 2, 3), keepdims=True)
    labels = np.stack([text_to_labels(s.label) for s in samples]).astype("int32")
    y = {{"chars": labels, "length": (labels[:, 7] >= 0).astype("int32")}}
    model = compile_model(build_model(cfg), cfg, steps_per_epoch=4)
    history = model.fit(x, y, batch_size={BATCH}, epochs=8, shuffle=False, verbose=0)
    acc = keras.ops.convert_to_numpy(model.loss["chars"].acc)
    model.save(os.path.join(out, "model.keras"))
    pred = model.predict(x[:8], verbose=0)
    np.savez(os.path.join(out, "run.npz"), x=x[:8], chars=pred["chars"], length=pred["length"],
             loss=np.array(history.history["loss"]), acc=acc)
""")


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, dict(np.load(out / "run.npz"))


def test_training_on_jax_lowers_the_loss(jax_run):
    loss = jax_run[1]["loss"]
    assert np.all(np.isfinite(loss))
    assert loss[-1] < 0.7 * loss[0], loss


def test_ghm_histogram_persists_across_jax_steps(jax_run):
    """Positions 1-7 are present on every blue plate: a histogram that persists holds about
    one batch per head after 32 steps (momentum 0.75); one rebuilt from zero at every step
    would hold a quarter of a batch, and one whose writes were dropped, nothing."""
    acc = jax_run[1]["acc"]
    assert acc.shape == (8, 30)
    per_head = acc[:7].sum(axis=1)
    assert np.all(per_head > 0.6 * BATCH), per_head
    assert acc[7].sum() == 0  # the 8th position is absent on blue plates: never counted


def test_model_saved_on_jax_loads_under_tensorflow(jax_run):
    from lpr_lib.predict import load_model

    out, run = jax_run
    model = load_model(out / "model.keras")
    pred = model.predict(run["x"], verbose=0)
    np.testing.assert_allclose(pred["chars"], run["chars"], atol=1e-4)
    np.testing.assert_allclose(pred["length"], run["length"], atol=1e-4)


# ------------------------------------------------------------------------------------ lpr CLI

CLI = textwrap.dedent("""
    import contextlib, json, os, sys
    from pathlib import Path
    os.environ["KERAS_BACKEND"] = "jax"
    sys.modules["tensorflow"] = None  # `import tensorflow` now fails: lpr must not need it
    import lpr_lib.train
    from lpr_lib.cli import main

    out = Path(sys.argv[1])
    lpr_lib.train.RUNS_DIR = out / "runs"  # synthetic plates rendered here, not in the repo
    codes = []
    for i, argv in enumerate(json.loads(sys.argv[2])):
        with open(out / f"{i}.out", "w", encoding="utf-8") as fh, contextlib.redirect_stdout(fh):
            codes.append(main(argv))
    loaded = sorted(m for m, v in sys.modules.items()
                    if m.split(".")[0] == "tensorflow" and v is not None)
    (out / "codes.json").write_text(json.dumps({"codes": codes, "tensorflow": loaded}))
""")


def _lpr_on_jax(out, commands, **env):
    """Run the ``lpr`` commands (argument lists) with :data:`CLI` in one JAX process, in
    ``out``; the process's result (``out/codes.json`` and ``out/<i>.out`` hold the rest)."""
    import json

    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-c", CLI, str(out), json.dumps(commands)], env=env,
                          cwd=out, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def jax_cli(tmp_path_factory):
    """`lpr train`, `lpr eval`, `lpr predict` and `lpr export` run in one process on JAX,
    with TensorFlow unimportable: a tiny model trained on rendered plates, then read."""
    import json

    out = tmp_path_factory.mktemp("jax_cli")
    run = out / "run"
    images = sorted(str(p) for p in (ROOT / "data_samples").glob("*.jpg"))[:3]
    commands = [
        ["train", "--out", str(run), "--set", "epochs=1", "data.synthetic_train=64",
         "data.val_size=16", "batch_size=16", "model.width=0.125", "verbose=0"],
        ["eval", str(ROOT / "data_samples"), "--model", str(run), "--json"],
        ["predict", *images, str(out / "missing.jpg"), "--model", str(run), "--json"],
        ["export", "--model", str(run), "--out", str(out / "exported")],
    ]
    proc = _lpr_on_jax(out, commands)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "codes.json").read_text())
    outputs = [(out / f"{i}.out").read_text(encoding="utf-8") for i in range(len(commands))]
    return out, images, result, outputs, proc.stderr


def test_lpr_train_eval_predict_on_jax_without_tensorflow(jax_cli):
    import json

    out, images, result, outputs, stderr = jax_cli
    assert result["tensorflow"] == [], result  # nothing imported TensorFlow
    assert result["codes"][:3] == [0, 0, 1], (result, stderr[-3000:])  # 1: a missing image
    run = out / "run"
    assert (run / "best.keras").is_file() and len((run / "history.csv").read_text().split()) == 2
    assert list((out / "runs" / "synth").iterdir())  # the synthetic plates were rendered there
    from lpr_lib.data import load_samples

    report = json.loads(outputs[1])
    plates = len(load_samples(ROOT / "data_samples"))
    assert report["results"][str(ROOT / "data_samples")]["n_plates"] == plates
    plates = json.loads(outputs[2])["plates"]
    assert [p["image"] for p in plates[:3]] == images and plates[3]["error"] == "file not found"
    assert all(0 <= p["confidence"] <= 1 for p in plates[:3])


def test_lpr_export_on_jax_without_tensorflow_says_it_needs_it(jax_cli):
    out, _, result, _, stderr = jax_cli
    assert result["codes"][3] == 2
    assert f"lpr export: error: lpr export (SavedModel and TFLite files, into {out / 'exported'})" \
        " needs TensorFlow" in stderr
    assert not (out / "exported").exists()


def test_the_jax_run_reads_the_same_under_tensorflow(jax_cli):
    """The model trained under JAX, read under TensorFlow (its preprocessing, its backend),
    gives the confidences `lpr predict` gave under JAX (NumPy preprocessing)."""
    import json

    from lpr_lib.predict import Predictor, load_model

    out, images, _, outputs, _ = jax_cli
    jax_conf = [p["confidence"] for p in json.loads(outputs[2])["plates"][:3]]
    readings = Predictor(load_model(out / "run"), min_confidence=0.0).read(images)
    np.testing.assert_allclose([r.confidence for r in readings], jax_conf, atol=1e-4)


def test_data_parallel_splits_each_batch_over_the_jax_devices(tmp_path):
    """strategy=data_parallel (keras.distribution.DataParallel) trains on two JAX devices (the
    CPU split in two by XLA_FLAGS), TensorFlow unimportable; the model saved is a plain one."""
    import json

    run = tmp_path / "run"
    commands = [["train", "--out", str(run), "--set", "epochs=1", "data.synthetic_train=64",
                 "data.val_size=16", "batch_size=16", "model.width=0.125", "verbose=0",
                 "strategy=data_parallel"]]
    two_devices = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    proc = _lpr_on_jax(tmp_path, commands, **two_devices)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "codes.json").read_text())
    assert result == {"codes": [0], "tensorflow": []}, proc.stderr[-3000:]
    assert "each batch split over 2 devices" in proc.stderr
    assert (run / "best.keras").is_file() and len((run / "history.csv").read_text().split()) == 2
    # an odd batch cannot be split: refused before the run folder is made
    commands[0][commands[0].index("batch_size=16")] = "batch_size=15"
    commands[0][2] = str(tmp_path / "odd")
    proc = _lpr_on_jax(tmp_path, commands, **two_devices)
    assert "does not split evenly over the 2 devices" in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "odd").exists()
