"""Calibrate the shipped readers (temperature scaling) and choose their acceptance threshold
on validation data, then measure both on every set, ``real_plates/test`` last, as a test:

    .venv/bin/python experiments/calibration.py       # results/calibration.json and
                                                      # lpr_lib/models/<name>/calibration.json

For each shipped model (:mod:`lpr_lib.models`):

1. its raw outputs on the validation sets: its own validation split (the held-out training
   crops for ``mixed`` and ``slim``, synthetic validation plates for ``synthetic``), the
   held-out real training crops, and the detector-style sets of :mod:`lpr_lib.data.valsets`
   (CCPD and synthetic-scene crops, tight, loose and cut at an edge; every province);
2. temperature candidates fitted on all of them pooled: one T for every head minimising the
   characters' NLL (:func:`lpr_lib.calibrate.fit_temperature`), or one per character
   position if clearly better (its NLL lower by more than 1% on held-out halves: 2-fold
   cross-validation on the pooled plates); and one T minimising the log loss of the plate
   confidence ``lpr predict`` shows (:func:`~lpr_lib.calibrate.fit_plate_temperature`). The
   candidate with the lower held-out (2-fold) plate log loss ships: the plate's confidence
   is what the threshold reads;
3. the acceptance threshold: the lowest calibrated plate confidence (as ``lpr predict`` reads:
   the most probable valid plate's joint probability) at which the pooled validation plates
   are read with 99.9% precision;
4. ECE (15 equal-width bins) before and after, per character and per plate (product and least
   sure character), and precision and acceptance at the threshold and at 0.85, on every set,
   then on ``real_plates/test``, which chose nothing.

``results/calibration.json`` is written first, then each model's ``calibration.json`` (which
``lpr predict``, ``lpr eval`` and ``lpr export`` read). The sets are read from ``--sets-dir``
(built by ``experiments/val_sets.py``; built here when absent).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# this checkout's library, not whichever one the environment installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

VALIDATION_SETS = ("ccpd_tight", "ccpd_loose", "ccpd_edge", "synth_tight", "synth_loose",
                   "synth_edge", "synth_provinces")
TARGET_PRECISION = 0.999
FIXED_THRESHOLD = 0.85
CV_SEED = 31
#: per-position temperatures are chosen only when their held-out NLL is lower by this share
PER_HEAD_GAIN = 0.01


def _concat(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _operating(conf, correct, threshold) -> dict:
    conf, correct = np.asarray(conf), np.asarray(correct, bool)
    accepted = conf >= threshold
    n_acc = int(accepted.sum())
    return {"threshold": None if threshold is None else float(threshold),
            "accepted": n_acc, "acceptance": float(n_acc / len(conf)),
            "precision": float(correct[accepted].mean()) if n_acc else None,
            "recall": float((accepted & correct).sum() / len(conf)),
            "misread_accepted": int((accepted & ~correct).sum())}


def measure(outputs, labels, temperature, threshold, old_threshold) -> dict:
    """One set's figures, before (raw probabilities) and after calibration."""
    from lpr_lib.calibrate import (char_confidences, char_nll, ece, plate_confidences,
                                   plate_nll, scale_outputs)

    cal = scale_outputs(outputs, temperature)
    chars_t = temperature["chars"] if isinstance(temperature, dict) else temperature
    out = {"plates": int(len(labels))}
    for tag, o, t in (("before", outputs, 1.0), ("after", cal, chars_t)):
        conf_p, ok = plate_confidences(o, labels, "product")
        conf_m, _ = plate_confidences(o, labels, "min")
        c_conf, c_ok = char_confidences(o["chars"], labels)
        out[tag] = {
            "plate_accuracy": float(ok.mean()),
            "char_accuracy": float(c_ok.mean()),
            "char_nll": char_nll(outputs["chars"], labels, t),
            "plate_log_loss": plate_nll(outputs, labels, 1.0 if tag == "before" else
                                        temperature),
            "ece_char": ece(c_conf, c_ok),
            "ece_plate_product": ece(conf_p, ok),
            "ece_plate_min": ece(conf_m, ok),
            "mean_plate_confidence": float(conf_p.mean()),
            f"at_{FIXED_THRESHOLD:g}": _operating(conf_p, ok, FIXED_THRESHOLD),
        }
        if tag == "before" and old_threshold is not None:
            out[tag]["at_stored_threshold"] = _operating(conf_p, ok, old_threshold)
        if tag == "after" and threshold is not None:
            out[tag]["at_threshold"] = _operating(conf_p, ok, threshold)
    return out


def _cv(outputs, labels, kind: str, score, seed: int = CV_SEED) -> float:
    """Mean held-out ``score`` (:func:`~lpr_lib.calibrate.char_nll` or
    :func:`~lpr_lib.calibrate.plate_nll`) of 2-fold cross-validation over the plates, the
    temperature fitted on the other half: ``kind`` ``"single"`` (characters' NLL, one T),
    ``"per_head"`` (one per position) or ``"plate"`` (the plate confidence's log loss)."""
    from lpr_lib.calibrate import fit_plate_temperature, fit_temperature

    order = np.random.default_rng(seed).permutation(len(labels))
    folds = (order[::2], order[1::2])
    total = []
    for fit, held in (folds, folds[::-1]):
        part = {k: v[fit] for k, v in outputs.items()}
        if kind == "plate":
            t = fit_plate_temperature(part, labels[fit])
        else:
            t = fit_temperature(part["chars"], labels[fit], per_head=kind == "per_head")
            if kind == "per_head":
                t = {"chars": t, "length": float(np.median(t))}
        held_out = {k: v[held] for k, v in outputs.items()}
        if score.__name__ == "char_nll":
            t = t["chars"] if isinstance(t, dict) else t
            total.append(score(held_out["chars"], labels[held], t))
        else:
            total.append(score(held_out, labels[held], t))
    return float(np.mean(total))


def calibrate_model(name: str, sets_dir: Path, log=print) -> tuple[dict, dict]:
    """``(figures for results/calibration.json, the record for calibration.json)``."""
    from lpr_lib.calibrate import (char_nll, fit_plate_temperature, fit_temperature,
                                   plate_confidences, plate_nll, reliability, scale_outputs)
    from lpr_lib.data.valsets import real_sets
    from lpr_lib.evaluate import predict_dataset
    from lpr_lib.metrics import threshold_for_precision
    from lpr_lib.models.ship import validation_source
    from lpr_lib.predict import load_model, run_config
    from lpr_lib.repro import SHARED_REAL

    model = load_model(name)
    config = run_config(model)
    stored = json.loads((Path(model._lpr_source).parent / "result.json")
                        .read_text(encoding="utf-8"))["result"].get("threshold") or {}
    old_threshold = stored.get("product")

    def run(source):
        outputs, labels = predict_dataset(model, source)  # raw probabilities (no temperature)
        return {k: np.asarray(v, np.float64) for k, v in outputs.items()}, labels

    own = validation_source(config)
    real = real_sets()
    validation: dict[str, tuple[dict, np.ndarray]] = {}
    validation["own_validation"] = run(own)
    own_is_heldout = isinstance(own, list)  # mixed, slim: their held-out real crops
    if "real_train_heldout" in real and not own_is_heldout:
        validation["real_train_heldout"] = run(_samples(real["real_train_heldout"]))
    for set_name in VALIDATION_SETS:
        folder = sets_dir / set_name
        if (folder / "labels.tsv").is_file():
            validation[set_name] = run(folder)
        else:
            log(f"  {set_name}: absent from {sets_dir}, left out")
    test = {}
    if "real_test" in real:
        test["real_test"] = run(SHARED_REAL / "test")

    pooled = _concat([o for o, _ in validation.values()])
    pooled_labels = np.concatenate([y for _, y in validation.values()])
    # candidates: the characters' NLL (one T, or one per position if clearly better), and
    # the plate confidence's log loss; the one with the lower held-out plate log loss ships
    t_single = fit_temperature(pooled["chars"], pooled_labels)
    t_heads = fit_temperature(pooled["chars"], pooled_labels, per_head=True)
    t_plate = fit_plate_temperature(pooled, pooled_labels)
    cv = {"char_nll": {"single": _cv(pooled, pooled_labels, "single", char_nll),
                       "per_head": _cv(pooled, pooled_labels, "per_head", char_nll)}}
    per_head = cv["char_nll"]["per_head"] < (1 - PER_HEAD_GAIN) * cv["char_nll"]["single"]
    char_kind = "per_head" if per_head else "single"
    cv["plate_log_loss"] = {k: _cv(pooled, pooled_labels, k, plate_nll)
                            for k in (char_kind, "plate")}
    use_plate = cv["plate_log_loss"]["plate"] < cv["plate_log_loss"][char_kind]
    if use_plate:
        temperature, method = round(t_plate, 6), "plate_log_loss"
    elif per_head:
        temperature = {"chars": [round(float(t), 6) for t in t_heads],
                       "length": round(t_single, 6), "kind": round(t_single, 6)}
        method = "char_nll_per_head"
    else:
        temperature, method = round(t_single, 6), "char_nll"
    own_t = fit_temperature(validation["own_validation"][0]["chars"],
                            validation["own_validation"][1])

    conf, ok = plate_confidences(scale_outputs(pooled, temperature), pooled_labels)
    op = threshold_for_precision(conf, ok, TARGET_PRECISION)
    threshold = None if op is None else float(op["threshold"])
    log(f"{name}: char NLL T = {t_single:.4f} (per head: {np.round(t_heads, 3).tolist()}), "
        f"plate log-loss T = {t_plate:.4f}; held-out {cv}: {method} -> T = {temperature}; "
        f"own validation alone: char T = {own_t:.4f}; threshold {threshold}")

    figures = {"validation": {}, "test": {}}
    for group, sets in (("validation", validation), ("test", test)):
        for set_name, (outputs, labels) in sets.items():
            figures[group][set_name] = measure(outputs, labels, temperature, threshold,
                                               old_threshold)
    figures["validation"]["pooled"] = measure(pooled, pooled_labels, temperature, threshold,
                                              old_threshold)
    diagrams = {}
    for set_name, (outputs, labels) in [("pooled_validation", (pooled, pooled_labels))] + \
            list(test.items()):
        diagrams[set_name] = {}
        for tag, t in (("before", 1.0), ("after", temperature)):
            c, k = plate_confidences(scale_outputs(outputs, t), labels)
            diagrams[set_name][tag] = reliability(c, k)
    chosen_on = list(validation)
    result = {
        "temperature": temperature,
        "threshold": threshold,
        "target_precision": TARGET_PRECISION,
        "chosen_on": chosen_on,
        "own_validation": ("the held-out real training crops (its config's seed and val_split)"
                           if own_is_heldout else "its synthetic validation plates"),
        "method": method,
        "fit": {"char_nll_t": t_single, "char_nll_per_head_t": [float(t) for t in t_heads],
                "plate_log_loss_t": t_plate, "held_out_2fold": cv,
                "per_head_chosen": bool(per_head and not use_plate),
                "own_validation_only_char_nll_t": own_t,
                "pooled_char_nll": {"raw": char_nll(pooled["chars"], pooled_labels, 1.0),
                                    "char_nll_t": char_nll(pooled["chars"], pooled_labels,
                                                           t_single)},
                "pooled_plate_log_loss": {"raw": plate_nll(pooled, pooled_labels, 1.0),
                                          "char_nll_t": plate_nll(pooled, pooled_labels,
                                                                  t_single),
                                          "plate_log_loss_t": plate_nll(pooled, pooled_labels,
                                                                        t_plate)}},
        "threshold_on_validation": op,
        "stored_threshold_before": old_threshold,
        "sets": figures,
        "reliability_plate_product": diagrams,
    }
    record = {"temperature": temperature, "threshold": threshold,
              "confidence": "the most probable valid plate's joint probability (lpr predict's "
                            "product confidence) after temperature scaling",
              "target_precision": TARGET_PRECISION, "chosen_on": chosen_on,
              "fitted_by": "python experiments/calibration.py"}
    return result, record


def _samples(items):
    from lpr_lib.data import load_samples

    folders = sorted({Path(p).parent for p, _, _ in items})
    wanted = {str(p) for p, _, _ in items}
    return [s for s in load_samples(folders) if str(s.path) in wanted]


def main(argv=None) -> int:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from lpr_lib.calibrate import write_calibration
    from lpr_lib.data import valsets
    from lpr_lib.models import SHIPPED, shipped_path
    from lpr_lib.repro import RUNS_DIR, write_result

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(SHIPPED), choices=list(SHIPPED))
    p.add_argument("--sets-dir", default=str(RUNS_DIR / "val_sets"),
                   help="the validation sets (experiments/val_sets.py; built when absent)")
    p.add_argument("--no-write-models", action="store_true",
                   help="measure only: leave the models' calibration.json as they are")
    args = p.parse_args(argv)
    started = time.time()
    sets_dir = Path(args.sets_dir)
    if not all((sets_dir / s / "labels.tsv").is_file() for s in VALIDATION_SETS[3:]):
        print(f"building the validation sets into {sets_dir}", file=sys.stderr)
        valsets.build_val_sets(sets_dir)
    results, records = {}, {}
    for name in args.models:
        results[name], records[name] = calibrate_model(name, sets_dir)
    config = {"command": "python experiments/calibration.py", "models": args.models,
              "validation_sets": ["own_validation", "real_train_heldout (synthetic only)",
                                  *VALIDATION_SETS],
              "test_sets": ["real_test"], "target_precision": TARGET_PRECISION,
              "fixed_threshold": FIXED_THRESHOLD, "ece_bins": 15,
              "per_head_gain": PER_HEAD_GAIN, "cv_seed": CV_SEED,
              "never_chosen_on": "real_plates/test: measured after choosing"}
    path = write_result("calibration", {"models": results}, config=config,
                        seed=valsets.VAL_SEED, started=started)
    print(f"wrote {path}")
    if not args.no_write_models:
        for name, record in records.items():
            written = write_calibration(shipped_path(name) / "model.keras", **record)
            print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
