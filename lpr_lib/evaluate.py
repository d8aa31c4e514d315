"""Evaluate a plate reader on a dataset: plate and character accuracy, and precision/recall
at confidence thresholds (:func:`lpr_lib.metrics.evaluate_predictions`).

    from lpr_lib.predict import load_model
    result = evaluate_model(load_model("runs/default"), "data_samples")
    print(format_report(result))
"""
from __future__ import annotations

import json
import os

import numpy as np

from lpr_lib.predict import load_model, run_whiten, stored_temperature, stored_threshold

__all__ = ["predict_dataset", "sample_input", "evaluate_model", "cli_eval"]


def predict_dataset(model, source, batch_size: int = 256, whiten: bool | None = None):
    """Run ``model`` over ``source`` (anything :func:`lpr_lib.data.load_samples` reads, or a
    list of samples). Returns ``(outputs, labels)``: a dict of NumPy arrays by output name
    and the ``(N, 8)`` labels, in the dataset's order."""
    if whiten is None:
        whiten = run_whiten(model)
    outputs, labels = {}, []
    for images, y in _batches(source, batch_size, tuple(model.input.shape[1:3]), whiten):
        out = model.predict_on_batch(images)
        for k, v in out.items():
            outputs.setdefault(k, []).append(np.asarray(v))
        labels.append(np.asarray(y))
    if not labels:
        raise ValueError(f"{source}: no samples to evaluate")
    return {k: np.concatenate(v) for k, v in outputs.items()}, np.concatenate(labels)


def sample_input(sample, image_size) -> np.ndarray:
    """One sample as the uint8 plate at ``image_size`` that :func:`lpr_lib.data.inputs.model_input`
    scales: a file or image bytes decoded by Pillow and resized by
    :func:`~lpr_lib.data.inputs.to_model_size`, exactly as ``lpr predict`` prepares the same
    file; an in-memory image likewise; a CCPD scene's plate perspective-warped to the size."""
    from lpr_lib.data.formats import read_image
    from lpr_lib.data.inputs import to_model_size

    size = tuple(int(v) for v in image_size)
    if sample.format == "ccpd" and sample.corners is not None:
        return read_image(sample, size)
    return to_model_size(read_image(sample), size)


def _batches(source, batch_size: int, image_size, whiten: bool):
    """``(images, labels)`` batches of ``source`` in its order, not augmented, prepared as
    ``lpr predict`` prepares each crop (:func:`sample_input`, then
    :func:`lpr_lib.data.inputs.model_inputs`) on every backend; the images of a batch are
    decoded in a few threads."""
    from concurrent.futures import ThreadPoolExecutor

    from lpr_lib.data import load_samples
    from lpr_lib.data.inputs import model_inputs

    samples = load_samples(source)
    size = tuple(int(v) for v in image_size)
    with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        for i in range(0, len(samples), batch_size):
            chunk = samples[i:i + batch_size]
            images = np.stack(list(pool.map(lambda s: sample_input(s, size), chunk)))
            yield model_inputs(images, whiten), np.stack([np.asarray(s.labels, np.int32)
                                                          for s in chunk])


def evaluate_model(model, source, thresholds=(0.85, 0.95), batch_size: int = 256,
                   whiten: bool | None = None, temperature=None) -> dict:
    """Metrics of ``model`` on ``source``: :func:`lpr_lib.metrics.evaluate_predictions`'s
    dict (``plate_accuracy``, ``char_accuracy``, precision/recall at ``thresholds`` for the
    product and the minimum confidence, the 99.9%-precision operating point). The
    confidences are calibrated by ``temperature``, by default the model's own
    (:func:`lpr_lib.predict.stored_temperature`: 1.0 for a model without calibration), as
    ``lpr predict`` calibrates them; ``temperature=1`` for the raw probabilities."""
    from lpr_lib.calibrate import scale_outputs
    from lpr_lib.metrics import evaluate_predictions

    if temperature is None:
        temperature = stored_temperature(model)
    outputs, labels = predict_dataset(model, source, batch_size, whiten)
    outputs = scale_outputs(outputs, temperature)
    return evaluate_predictions(outputs["chars"], labels, outputs.get("length"),
                                thresholds=thresholds)


def cli_eval(args) -> int:
    """``lpr eval DATA... [--model M] [--json] [--thresholds T...]``; without ``--model``
    the default shipped model is evaluated."""
    from lpr_lib.metrics import format_report

    model = load_model(args.model)
    thresholds = list(args.thresholds)
    chosen = stored_threshold(model)
    if chosen is not None and chosen not in thresholds:
        thresholds.append(chosen)
    temperature = stored_temperature(model)
    results = {str(d): evaluate_model(model, d, thresholds=thresholds, temperature=temperature)
               for d in args.data}
    if args.json:
        print(json.dumps({"model": model._lpr_name, "validation_threshold": chosen,
                          "temperature": temperature, "results": results},
                         ensure_ascii=False, indent=2))
    else:
        print(f"model: {model._lpr_name}")
        if not isinstance(temperature, dict) and float(temperature) != 1.0:
            print(f"confidence calibrated at temperature {float(temperature):.3f} (chosen on "
                  "validation)")
        elif isinstance(temperature, dict):
            print("confidence calibrated, a temperature per head (chosen on validation)")
        if chosen is not None:
            print(f"threshold chosen on its validation data for 99.9% precision: {chosen:.4f}")
        for data, result in results.items():
            print(f"\n== {data}")
            print(format_report(result))
    return 0
