"""The package's front door: version, the lpr command, quiet TensorFlow, result metadata."""
import json
import subprocess
import sys

import pytest

import lpr_lib
from lpr_lib import cli, repro


def run(*args, env=None):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300,
                          env=env)


def test_version_is_a_version_string():
    parts = lpr_lib.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_python_dash_m_is_the_lpr_command():
    res = run("-m", "lpr_lib", "--version")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"lpr_lib {lpr_lib.__version__}"


def test_every_subcommand_has_its_handler():
    for name, command in cli.COMMANDS.items():
        assert callable(command.load()), f"lpr {name}: {command.handler} is not a function"


@pytest.mark.parametrize("bad", ["48", "48x", "ax144", "0x144"])
def test_size_option_rejects_bad_values(bad):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="size"):
        cli._size(bad)


def test_importing_tensorflow_through_the_package_is_silent():
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "LPR_TF_LOGS")}
    res = run("-c", "import lpr_lib, tensorflow as tf; print(int(tf.constant(2) + 1))", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "3"
    assert res.stderr == "", f"TensorFlow printed on import:\n{res.stderr}"


def test_write_result_records_provenance(tmp_path):
    path = repro.write_result("probe", {"acc": 0.5}, config={"lr": 1e-3}, seed=7, started=0.0,
                              directory=tmp_path)
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["result"] == {"acc": 0.5}
    meta = payload["meta"]
    assert meta["seed"] == 7 and meta["config"] == {"lr": 1e-3}
    assert meta["git_commit"] != "" and "tensorflow" in meta["versions"]
    assert meta["run_seconds"] > 0
    assert not list(tmp_path.glob("*.tmp"))


def test_set_seed_makes_numpy_and_keras_repeatable():
    import keras
    import numpy as np

    repro.set_seed(11)
    a = (np.random.rand(3), keras.random.uniform((3,)).numpy())
    repro.set_seed(11)
    b = (np.random.rand(3), keras.random.uniform((3,)).numpy())
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
