"""The sim-to-real study of chapter 8: train each row, then read real plates with it.

    python experiments/real_plates_study.py            # train what is missing, measure every row
    python experiments/real_plates_study.py --measure  # measure the finished rows only

Each row is a config (the book's default plus ``--set`` overrides) trained into its own run
folder; a finished run is reused and an unfinished one resumes, so the script can be stopped
and started again. Every row is measured the same way: plate accuracy on its synthetic
validation plates, on the held-out plate texts of ``../shared/real_plates/train`` (the same
split for every row) and on ``../shared/real_plates/test``. The checkpoint of each run was
chosen on its own validation data, never on the test set. Results go to
``results/real_plates_study.json``.
"""
from __future__ import annotations

import argparse
import sys
import time

from lpr_lib.repro import REPO_ROOT, SHARED_REAL, write_result

REAL_TRAIN = "../shared/real_plates/train"
MIX = f"data.mix=[{{source: synthetic, weight: 0.5}}, {{source: '{REAL_TRAIN}', weight: 0.5}}]"

#: the default run before it moved to 48x144 (the rows trained on it keep it)
DEFAULT_32 = ["data.image_size=[32, 96]", "epochs=7", "data.val_size=512"]
#: augmentation like a detector's boxes of real plates (configs/real_mix_48.yaml's)
DETECTOR_AUG = ("data.augment={rotation_deg: 6.0, shear_y: 0.08, scale: [0.88, 1.06], "
                "crop_jitter: 0.06, channel_gain: 0.12, downscale_prob: 0.5}")
#: the same, and most plates captured at 40-70% of the input size (the real test crops are
#: 94x24: half the model's 48 rows)
LOWRES_AUG = DETECTOR_AUG.replace("downscale_prob: 0.5}",
                                  "downscale_prob: 0.8, downscale: [0.4, 0.7]}")

#: (key, what the row is, config file, overrides, run folder)
ROWS = [
    ("synthetic", "synthetic plates only (the default run at 32x96, 7 epochs)",
     "configs/default.yaml", DEFAULT_32, "runs/ch04_default_32"),
    ("synthetic_loose", "synthetic plates only, every crop loose (the generator before tight "
     "crops; 32x96)", "configs/default.yaml", [*DEFAULT_32, "data.synth={tight_crops: 0.0}"],
     "runs/study_loose"),
    ("finetuned", "the synthetic model (32x96), fine-tuned 2 epochs on synthetic + real crops",
     "configs/default.yaml", [*DEFAULT_32, MIX, "init_from=runs/ch04_default_32", "epochs=2",
                              "steps_per_epoch=300", "optimizer.learning_rate=0.001",
                              "schedule.warmup_epochs=0.2"], "runs/study_finetuned"),
    ("mixed_default", "synthetic + real crops, 1:1, the default run's budget (32x96)",
     "configs/default.yaml", [*DEFAULT_32, MIX], "runs/study_mixed"),
    ("real_only", "real crops only, the default run's budget (32x96)", "configs/default.yaml",
     [*DEFAULT_32, f"data.mix=[{{source: '{REAL_TRAIN}', weight: 1}}]", "steps_per_epoch=625"],
     "runs/study_real_only"),
    ("mixed_long", "synthetic + real crops, 1:1, 40 epochs (first lettering, lr 2e-3)",
     "configs/real_mix.yaml", [], "runs/real_mix"),
    ("mixed_finetuned", "the mixed model (new lettering, lr 8e-3), 30 more epochs of the "
     "mixture augmented like a detector's boxes", "configs/real_mix_ft.yaml", [],
     "runs/real_mix_ft"),
    ("mixed_48x144", "synthetic + real crops, 1:1, 36 epochs at 48x144, augmented like a "
     "detector's boxes", "configs/real_mix_48.yaml", [], "runs/real_mix_48"),
    ("synthetic_48x144", "synthetic plates only (the default run, 48x144, 9 epochs)",
     "configs/default.yaml", [], "runs/ch04_default"),
    ("synthetic_detector", "synthetic plates only at 48x144, augmented like a detector's "
     "boxes (the default run otherwise)", "configs/default.yaml", [DETECTOR_AUG],
     "runs/study_synth_detector"),
    ("synthetic_lowres", "synthetic plates only at 48x144, augmented like a detector's "
     "boxes, 80% of them captured at 40-70% of the input size", "configs/default.yaml",
     [LOWRES_AUG], "runs/study_synth_lowres"),
]


def _config(path, sets):
    from lpr_lib.train import ExperimentConfig

    return ExperimentConfig.from_yaml(REPO_ROOT / path).override(sets)


def _finished(run, cfg) -> bool:
    from lpr_lib.train import ExperimentConfig

    return (run / "result.json").is_file() and \
        ExperimentConfig.from_yaml(run / "config.yaml") == cfg


def measure(run, cfg) -> dict:
    import json

    from lpr_lib import data
    from lpr_lib.evaluate import evaluate_model
    from lpr_lib.predict import load_model
    from lpr_lib.train import load_history, synthetic_folder

    model = load_model(run)
    d = cfg.data
    synth_val = synthetic_folder(512, tuple(d.image_size), cfg.seed + 1)
    real_val = data.split_by_plate(data.load_samples(SHARED_REAL / "train"), 0.1, 2026)[1]
    out = {}
    for name, src in (("synthetic_val", synth_val), ("real_val", real_val),
                      ("real_test", SHARED_REAL / "test")):
        r = evaluate_model(model, src)
        out[name] = {"plate_accuracy": r["plate_accuracy"], "char_accuracy": r["char_accuracy"],
                     "per_position": r["per_position"]}
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
    from lpr_lib.train import train

    started = time.time()
    rows = {}
    for key, what, path, sets, run in ROWS:
        if args.only and key not in args.only:
            continue
        cfg, run = _config(path, sets), REPO_ROOT / run
        if not _finished(run, cfg):
            if args.measure:
                print(f"{key}: not finished, skipped", flush=True)
                continue
            print(f"{key}: training into {run}", flush=True)
            train(cfg, run)
        rows[key] = {"what": what, "config": path, "set": sets, "run": run.name,
                     **measure(run, cfg)}
        print(f"{key}: real test {rows[key]['real_test']['plate_accuracy']:.3f}, synthetic val "
              f"{rows[key]['synthetic_val']['plate_accuracy']:.3f}, "
              f"{rows[key]['train_seconds'] / 60:.1f} min", flush=True)
        previous = _previous()
        write_result("real_plates_study", {**previous, **rows}, seed=2026, started=started)
    return 0


def _previous() -> dict:
    import json

    from lpr_lib.repro import RESULTS_DIR

    path = RESULTS_DIR / "real_plates_study.json"
    return json.loads(path.read_text())["result"] if path.is_file() else {}


if __name__ == "__main__":
    sys.exit(main())
