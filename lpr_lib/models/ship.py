"""Make a trained run into a shipped model: choose its threshold on validation, measure it,
copy it into the package.

    python -m lpr_lib.models.ship runs/real_mix mixed

The threshold for 99.9% precision is chosen on the run's own validation data (the held-out
plate texts of its real training crops, or synthetic validation plates for a run without
real data), never on a test set. The model is then measured, with that threshold fixed, on
``../shared/real_plates/test`` (when present) and on a synthetic test set of every plate kind
(the kinds the real photographs lack among them), and the figures go into the shipped folder's
``result.json`` and into ``results/shipped_<name>.json``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from lpr_lib.models import MODELS_DIR, SHIPPED
from lpr_lib.repro import SHARED_REAL

__all__ = ["validation_source", "kinds_test_sets", "measure", "remeasure_shipped", "ship_model"]

#: seed of the synthetic per-kind test set (no training or validation set uses it)
KINDS_TEST_SEED = 777
KINDS_TEST_PER_KIND = 200


def validation_source(config):
    """The validation data a run chose its checkpoint on: its ``data.val``, else the held-out
    plate texts of its real sources (split as :func:`lpr_lib.train.prepare_data` does), else
    its synthetic validation plates."""
    from lpr_lib import data
    from lpr_lib.train import _mix_parts, synthetic_folder

    d = config.data
    if d.val is not None:
        return d.val
    held_out = []
    for source, _ in _mix_parts(d):
        if source != "synthetic" and d.val_split:
            held_out += data.split_by_plate(data.load_samples(source), d.val_split,
                                            config.seed)[1]
    if held_out:
        return held_out
    return synthetic_folder(d.val_size or 512, tuple(d.image_size), config.seed + 1,
                            synth=d.synth)


def kinds_test_sets(image_size, per_kind: int = KINDS_TEST_PER_KIND,
                    seed: int = KINDS_TEST_SEED, root: Path | None = None) -> dict[str, Path]:
    """One folder of ``per_kind`` synthetic plates for each plate kind (rendered once, cached
    under ``runs/synth/`` by :func:`lpr_lib.train.synthetic_folder`)."""
    from lpr_lib.plates import KINDS
    from lpr_lib.train import synthetic_folder

    return {kind: synthetic_folder(per_kind, tuple(image_size), seed + i, root=root,
                                   synth={"kinds": {kind: 1.0}})
            for i, kind in enumerate(KINDS)}


def measure(model, config, real_test=SHARED_REAL / "test",
            per_kind: int = KINDS_TEST_PER_KIND, synth_root: Path | None = None) -> dict:
    """What a shipped model's figures are: the threshold for 99.9% precision chosen on its
    validation data and its figures there, then, at that threshold, its figures on the real
    test crops (None when absent) and on the synthetic test set of every kind."""
    from lpr_lib.evaluate import evaluate_model
    from lpr_lib.metrics import SPEC_PRECISION

    size = tuple(config.data.image_size)
    val = evaluate_model(model, validation_source(config))
    op = val["confidence"]["product"]["operating_point"]
    threshold = None if op is None else op["threshold"]
    thresholds = [0.85, 0.95] + ([threshold] if threshold is not None else [])
    result = {
        "threshold": {"product": threshold, "target_precision": SPEC_PRECISION,
                      "chosen_on": "validation"},
        "validation": val,
        "real_test": None,
        "synthetic_kinds_test": {},
    }
    if Path(real_test).is_dir():
        result["real_test"] = evaluate_model(model, real_test, thresholds=thresholds)
    else:
        print(f"note: {real_test} is absent: no real-test figures", file=sys.stderr)
    for kind, folder in kinds_test_sets(size, per_kind, root=synth_root).items():
        r = evaluate_model(model, folder, thresholds=thresholds)
        result["synthetic_kinds_test"][kind] = {
            "n_plates": r["n_plates"], "plate_accuracy": r["plate_accuracy"],
            "char_accuracy": r["char_accuracy"]}
    return result


def remeasure_shipped(name: str, results_dir: Path | None = None) -> dict:
    """Measure the shipped model ``name`` again from its saved file (as :func:`ship_model`
    measured it) and write ``results/shipped_<name>.json``; its training record, which only
    the run could give, is carried over from the shipped ``result.json`` and the file says
    which parts were measured again and which were carried over, from which commit."""
    import json

    from lpr_lib.predict import load_model, run_config
    from lpr_lib.repro import write_result

    if name not in SHIPPED:
        raise ValueError(f"{name!r} is not a shipped model's name ({', '.join(SHIPPED)})")
    started = time.time()
    folder = MODELS_DIR / name
    old = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    model = load_model(folder / "model.keras")
    config = run_config(model)
    result = {"name": name, "description": SHIPPED[name], "run": old["result"]["run"],
              **measure(model, config), "training": old["result"]["training"]}
    result["provenance"] = {
        "measured_again": ["threshold", "validation", "real_test", "synthetic_kinds_test"],
        "from": f"the shipped model file lpr_lib/models/{name}/model.keras",
        "carried_over": {"fields": ["run", "training"],
                         "from": f"lpr_lib/models/{name}/result.json",
                         "written_at_commit": old.get("meta", {}).get("git_commit")},
    }
    write_result(f"shipped_{name}", result, config=config.to_dict(), seed=config.seed,
                 started=started, directory=results_dir)
    return result


def ship_model(run_dir, name: str, real_test=SHARED_REAL / "test", dest: Path | None = None,
               results_dir: Path | None = None, per_kind: int = KINDS_TEST_PER_KIND,
               synth_root: Path | None = None) -> dict:
    """Measure the run's best model and save it into ``lpr_lib/models/<name>/`` (or ``dest``);
    return the figures written to its ``result.json`` and to
    ``results/shipped_<name>.json`` (or under ``results_dir``)."""
    from lpr_lib.predict import load_model, run_config
    from lpr_lib.repro import write_result
    from lpr_lib.train import load_history

    if name not in SHIPPED:
        raise ValueError(f"{name!r} is not a shipped model's name ({', '.join(SHIPPED)})")
    started = time.time()
    run_dir = Path(run_dir)
    model = load_model(run_dir)
    config = run_config(model)
    if config is None:
        raise FileNotFoundError(f"{run_dir}: no config.yaml beside the model")
    history = load_history(run_dir)

    result = {"name": name, "description": SHIPPED[name], "run": run_dir.name,
              **measure(model, config, real_test, per_kind, synth_root),
              "training": {"epochs": len(history),
                           "best_epoch_row": max(history, key=lambda r: r.get(
                               "val_chars_plate_acc", 0))}}

    dest = Path(dest) if dest is not None else MODELS_DIR / name
    dest.mkdir(parents=True, exist_ok=True)
    # saved again without the optimizer's state: a third of the checkpoint's size
    tmp = dest / "model.tmp.keras"
    model.save(tmp)
    tmp.replace(dest / "model.keras")
    config.to_yaml(dest / "config.yaml.tmp")
    (dest / "config.yaml.tmp").replace(dest / "config.yaml")
    write_result("result", result, config=config.to_dict(), seed=config.seed, started=started,
                 directory=dest)
    write_result(f"shipped_{name}", result, config=config.to_dict(), seed=config.seed,
                 started=started, directory=results_dir)
    return result


if __name__ == "__main__":  # python -m lpr_lib.models.ship RUN NAME
    if len(sys.argv) != 3:
        sys.exit("usage: python -m lpr_lib.models.ship RUN_DIR NAME")
    r = ship_model(sys.argv[1], sys.argv[2])
    test = r["real_test"]
    print(f"{sys.argv[2]}: validation {r['validation']['plate_accuracy']:.4f}, threshold "
          f"{r['threshold']['product']}, real test "
          f"{'n/a' if test is None else round(test['plate_accuracy'], 4)}")
