"""The sim-to-real study of chapter 8: train each row, then read real plates with it.

    python experiments/real_plates_study.py            # train what is missing, measure every row
    python experiments/real_plates_study.py --measure  # measure the finished rows only

Every row is the book's default run (``configs/default.yaml``: 48x144, 9 epochs of 40,000
synthetic plates) with one change, or a shipped model. A trained row is a config (the default
plus ``--set`` overrides) trained into its own run folder; a finished run is reused and an
unfinished one resumes, so the script can be stopped and started again. A shipped row is not
trained again: its model is re-measured from ``lpr_lib/models/<name>`` (the run that made it
took most of an hour; ``results/shipped_<name>.json`` records it), and its training record
is left out. Every row is measured the same way: plate accuracy on its synthetic validation
plates, on the held-out plate texts of ``../shared/real_plates/train`` (the same split for
every row) and on ``../shared/real_plates/test``. The checkpoint of each run was chosen on
its own validation data, never on the test set. Results go to
``results/real_plates_study.json``, written whole after every row.
"""
from __future__ import annotations

import argparse
import sys
import time

from lpr_lib.repro import REPO_ROOT, SHARED_REAL, check_clean, write_result

REAL_TRAIN = "../shared/real_plates/train"
MIX = f"data.mix=[{{source: synthetic, weight: 0.5}}, {{source: '{REAL_TRAIN}', weight: 0.5}}]"
DEFAULT = "configs/default.yaml"
#: augmentation like a detector's boxes of real plates (configs/real_mix_48.yaml's)
DETECTOR_AUG = ("data.augment={rotation_deg: 6.0, shear_y: 0.08, scale: [0.88, 1.06], "
                "crop_jitter: 0.06, channel_gain: 0.12, downscale_prob: 0.5}")
#: the same, and most plates captured at 40-70% of the input size (the real test crops are
#: 94x24: half the model's 48 rows)
LOWRES_AUG = DETECTOR_AUG.replace("downscale_prob: 0.5}",
                                  "downscale_prob: 0.8, downscale: [0.4, 0.7]}")
SHIPPED = "shipped"

#: (key, what the row is, config file or SHIPPED, overrides, run folder or shipped name), in
#: the order they run: the cheap ones first
ROWS = [
    ("synthetic", "synthetic plates only: the default run (the shipped `synthetic` model)",
     SHIPPED, [], "synthetic"),
    ("mixed", "synthetic + real crops, 1:1, 36 epochs, augmented like a detector's boxes "
     "(configs/real_mix_48.yaml: the shipped `mixed` model)", SHIPPED, [], "mixed"),
    ("finetuned", "the shipped `synthetic` model, fine-tuned 2 epochs of 300 steps on "
     "synthetic + real crops, 1:1", DEFAULT,
     [MIX, "init_from=lpr_lib/models/synthetic/model.keras", "epochs=2", "steps_per_epoch=300",
      "optimizer.learning_rate=0.001", "schedule.warmup_epochs=0.2"], "runs/study_finetuned"),
    ("mixed_default", "synthetic + real crops, 1:1, the default run's budget", DEFAULT, [MIX],
     "runs/study_mixed"),
    ("real_only", "real crops only, the default run's budget", DEFAULT,
     [f"data.mix=[{{source: '{REAL_TRAIN}', weight: 1}}]", "steps_per_epoch=625"],
     "runs/study_real_only"),
    ("synthetic_loose", "synthetic plates only, every crop loose (the generator before tight "
     "crops)", DEFAULT, ["data.synth={tight_crops: 0.0}"], "runs/study_loose"),
    ("synthetic_detector", "synthetic plates only, augmented like a detector's boxes",
     DEFAULT, [DETECTOR_AUG], "runs/study_synth_detector"),
    ("synthetic_lowres", "synthetic plates only, augmented like a detector's boxes, 80% of "
     "them captured at 40-70% of the input size", DEFAULT, [LOWRES_AUG],
     "runs/study_synth_lowres"),
]


def _config(path, sets):
    from lpr_lib.train import ExperimentConfig

    return ExperimentConfig.from_yaml(REPO_ROOT / path).override(sets)


def _finished(run, cfg) -> bool:
    from lpr_lib.train import ExperimentConfig

    return (run / "result.json").is_file() and \
        ExperimentConfig.from_yaml(run / "config.yaml") == cfg


def measure(model, cfg, run=None) -> dict:
    """Plate accuracy of ``model`` on the three sets, and the training record of ``run``
    (a run folder; ``None`` for a shipped model)."""
    import json

    from lpr_lib import data
    from lpr_lib.evaluate import evaluate_model
    from lpr_lib.train import load_history, synthetic_folder

    d = cfg.data
    synth_val = synthetic_folder(512, tuple(d.image_size), cfg.seed + 1)
    real_val = data.split_by_plate(data.load_samples(SHARED_REAL / "train"), 0.1, 2026)[1]
    out = {}
    for name, src in (("synthetic_val", synth_val), ("real_val", real_val),
                      ("real_test", SHARED_REAL / "test")):
        r = evaluate_model(model, src)
        out[name] = {"plate_accuracy": r["plate_accuracy"], "char_accuracy": r["char_accuracy"],
                     "per_position": r["per_position"]}
    if run is None:
        return {**out, "train_seconds": None, "epochs": cfg.epochs, "history": None}
    meta = json.loads((run / "result.json").read_text())["meta"]
    history = load_history(run)
    out["train_seconds"] = round(sum(r.get("seconds", 0) for r in history), 1)
    out["run_seconds"] = meta.get("run_seconds")
    out["epochs"] = len(history)
    out["history"] = [{k: r.get(k) for k in ("epoch", "seconds", "chars_plate_acc",
                                             "val_chars_plate_acc")} for r in history]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true", help="measure finished rows only")
    parser.add_argument("--only", nargs="*", default=None, help="row keys to run")
    args = parser.parse_args(argv)
    if not SHARED_REAL.is_dir():
        sys.exit(f"{SHARED_REAL} is absent: the study reads real plates")
    from lpr_lib.models import MODELS_DIR
    from lpr_lib.predict import load_model
    from lpr_lib.train import ExperimentConfig, train

    check_clean("real_plates_study")  # before the hours of training, not after them
    started = time.time()
    rows = {}
    for key, what, path, sets, run in ROWS:
        if args.only and key not in args.only:
            continue
        if path == SHIPPED:
            cfg = ExperimentConfig.from_yaml(MODELS_DIR / run / "config.yaml")
            row = {"what": what, "config": f"lpr_lib/models/{run}/config.yaml", "set": [],
                   "shipped": run, **measure(load_model(run), cfg)}
        else:
            cfg, folder = _config(path, sets), REPO_ROOT / run
            if not _finished(folder, cfg):
                if args.measure:
                    print(f"{key}: not finished, skipped", flush=True)
                    continue
                print(f"{key}: training into {folder}", flush=True)
                train(cfg, folder)
            row = {"what": what, "config": path, "set": sets, "run": folder.name,
                   **measure(load_model(folder), cfg, folder)}
        rows[key] = row
        minutes = "" if row["train_seconds"] is None else f", {row['train_seconds'] / 60:.1f} min"
        print(f"{key}: real test {row['real_test']['plate_accuracy']:.3f}, synthetic val "
              f"{row['synthetic_val']['plate_accuracy']:.3f}{minutes}", flush=True)
        write_result("real_plates_study", rows, seed=2026, started=started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
