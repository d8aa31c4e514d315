"""Plate accuracy of the shipped models in every format, on the real test crops when they are
there (``../shared/real_plates/test``), else on a synthetic test set (saying so): does an export,
int8 weights above all, read as Keras does?"""
from __future__ import annotations

import time

from bench.models import FORMATS

#: how far (in plate accuracy) int8 may fall below float for its accuracy to "hold": one
#: standard error of a 1,000-plate test at 85% is about 1.1 points
INT8_TOLERANCE = 0.01
SYNTHETIC_TEST_SEED = 777  # lpr_lib.models.ship's per-kind test seed: no training set uses it


def test_set(workdir, quick: bool, image_size=(48, 144)) -> tuple[object, dict]:
    """``(source, description)``: the real test crops (the first 64 in quick mode), or
    synthetic plates of every kind when they are absent."""
    from lpr_lib.data import load_samples
    from lpr_lib.repro import SHARED_REAL
    from lpr_lib.train import synthetic_folder

    real = SHARED_REAL / "test"
    if real.is_dir():
        samples = load_samples(real)
        if quick:
            samples = samples[:64]
        return samples, {"name": "real test crops", "source": "../shared/real_plates/test",
                         "plates": len(samples), "real": True}
    count = 64 if quick else 1000
    folder = synthetic_folder(count, tuple(image_size), SYNTHETIC_TEST_SEED,
                              root=workdir / "synthetic_test")
    return folder, {"name": "synthetic test plates (every kind, the generator's mix)",
                    "source": f"synthetic_folder({count}, seed={SYNTHETIC_TEST_SEED})",
                    "plates": count, "real": False,
                    "why": "../shared/real_plates/test is absent: the real test crops are not "
                           "shipped with the project"}


def measure(name: str, paths: dict, source, log=print) -> dict:
    """Every format of one model on ``source``: plate and character accuracy, precision and
    recall at confidence 0.85, the share of plates read exactly as Keras reads them, and the
    largest difference of any character probability from Keras'."""
    import numpy as np

    from lpr_lib.evaluate import predict_dataset
    from lpr_lib.metrics import evaluate_predictions
    from lpr_lib.predict import Predictor, load_model
    from lpr_lib.runtime import load_exported

    keras_model = load_model(paths["keras"])
    reader = Predictor(keras_model, min_confidence=0.0)
    rows, reference = {}, None
    for fmt in FORMATS:
        if fmt not in paths:
            rows[fmt] = {"skipped": "not exported"}
            continue
        model = keras_model if fmt == "keras" else load_exported(paths[fmt])
        started = time.perf_counter()
        outputs, labels = predict_dataset(model, source)
        seconds = time.perf_counter() - started
        texts = reader.decode(outputs)[0]
        if reference is None:
            reference = (outputs, texts)
        r = evaluate_predictions(outputs["chars"], labels, outputs.get("length"),
                                 thresholds=(0.85,))
        conf = r["confidence"]["product"]
        rows[fmt] = {"plate_accuracy": r["plate_accuracy"], "char_accuracy": r["char_accuracy"],
                     "precision@0.85": conf["precision"][0], "recall@0.85": conf["recall"][0],
                     "agrees_with_keras": float(np.mean([a == b for a, b in
                                                         zip(texts, reference[1])])),
                     "max_abs_diff_chars": float(np.abs(outputs["chars"]
                                                        - reference[0]["chars"]).max()),
                     "seconds": round(seconds, 2)}
        log(f"    {fmt:12s} plates {r['plate_accuracy']:.3f}  characters "
            f"{r['char_accuracy']:.3f}  same reading as Keras "
            f"{rows[fmt]['agrees_with_keras']:.3f}")
    if "plate_accuracy" in rows.get("tflite_int8", {}) and "plate_accuracy" in rows["tflite"]:
        drop = rows["tflite"]["plate_accuracy"] - rows["tflite_int8"]["plate_accuracy"]
        rows["int8_vs_float"] = {"points_lost": round(100 * drop, 2),
                                 "holds": bool(drop <= INT8_TOLERANCE),
                                 "tolerance_points": 100 * INT8_TOLERANCE}
    return rows
