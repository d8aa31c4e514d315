"""experiments/sweep.py: one run per combination, the settings applied, the best chosen on
validation, and a finished run not trained again (training itself is replaced by a stub that
writes what a run leaves behind)."""
import importlib.util
import json
from pathlib import Path

import pytest

from lpr_lib.config import ConfigError

SWEEP = Path(__file__).resolve().parent.parent / "experiments" / "sweep.py"


@pytest.fixture()
def sweep(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("sweep_under_test", SWEEP)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(mod, "RESULTS_DIR", tmp_path / "results")
    trained = []

    def fake_train(config, out, callbacks=()):
        trained.append(config)
        lr, decay = config.optimizer.learning_rate, config.model.bn_decay
        accs = [0.1, 0.5 * lr * 1000 + decay]  # 2e-3 and bn_decay 0.01 is the best
        Path(out, "history.csv").write_text(
            "epoch,val_chars_plate_acc,seconds\n"
            + "".join(f"{i},{a},1.5\n" for i, a in enumerate(accs)), encoding="utf-8")
        Path(out, "trace.json").write_text(json.dumps(
            {"epochs": [{"epoch": 1, "gamma": {"below_0.05": decay * 10}}]}), encoding="utf-8")
        Path(out, "result.json").write_text("{}", encoding="utf-8")

    import lpr_lib.train

    monkeypatch.setattr(lpr_lib.train, "train", fake_train)
    return mod, trained


def test_every_combination_is_trained_once_and_the_best_on_validation_is_chosen(sweep):
    mod, trained = sweep
    grid = mod._grid(["optimizer.learning_rate=1e-3,2e-3", "model.bn_decay=0,0.01"])
    path = mod.sweep("v7", "synthetic", grid, 2026, "book")
    assert len(trained) == 4
    assert sorted((c.optimizer.learning_rate, c.model.bn_decay) for c in trained) == \
        [(1e-3, 0.0), (1e-3, 0.01), (2e-3, 0.0), (2e-3, 0.01)]
    assert all(c.model.bn_decay_type == "l1" for c in trained)  # the row's own settings kept
    result = json.loads(path.read_text(encoding="utf-8"))
    assert path.name == "v7-synthetic-book-learning_rate+bn_decay.json"
    assert result["result"]["chosen"] == {"optimizer.learning_rate": "2e-3",
                                          "model.bn_decay": "0.01"}
    best = max(result["result"]["runs"], key=lambda r: r["best_val_plate_acc"])
    assert best["gamma_below_0.05"] == pytest.approx(0.1) and best["train_seconds"] == 3.0
    assert result["meta"]["seed"] == 2026
    mod.sweep("v7", "synthetic", grid, 2026, "book")  # finished runs are read, not retrained
    assert len(trained) == 4


def test_a_bad_grid_is_refused_before_anything_is_trained(sweep):
    mod, trained = sweep
    with pytest.raises(SystemExit, match="KEY=V1"):
        mod._grid(["optimizer.learning_rate"])
    with pytest.raises(ConfigError):
        mod.sweep("v7", "synthetic", {"optimizer.learning_rate": ["1e-3", "-1"]}, 2026, "book")
    assert trained == []
