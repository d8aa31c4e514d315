"""Evaluate a plate reader on a dataset: plate and character accuracy, and precision/recall
at confidence thresholds (:func:`lpr_lib.metrics.evaluate_predictions`).

    from lpr_lib.predict import load_model
    result = evaluate_model(load_model("runs/default"), "data_samples")
    print(format_report(result))
"""
from __future__ import annotations

import json

import numpy as np

from lpr_lib.predict import load_model, run_whiten, stored_threshold

__all__ = ["predict_dataset", "evaluate_model", "cli_eval"]


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


def _batches(source, batch_size: int, image_size, whiten: bool):
    """``(images, labels)`` batches of ``source`` in its order, not augmented: the ``tf.data``
    pipeline on TensorFlow's backend, :class:`~lpr_lib.data.PlateDataset` on the others."""
    from lpr_lib._tf import on_tensorflow

    if on_tensorflow():
        from lpr_lib.data import make_dataset

        yield from make_dataset(source, batch_size=batch_size, image_size=image_size,
                                whiten=whiten, augment=False, shuffle=False, repeat=False)
        return
    from lpr_lib.data.pydataset import make_pydataset

    ds = make_pydataset(source, batch_size=batch_size, image_size=image_size, whiten=whiten,
                        augment=False, shuffle=False, workers=1)
    for i in range(len(ds)):
        images, y = ds[i]
        yield images, y["chars"]


def evaluate_model(model, source, thresholds=(0.85, 0.95), batch_size: int = 256,
                   whiten: bool | None = None) -> dict:
    """Metrics of ``model`` on ``source``: :func:`lpr_lib.metrics.evaluate_predictions`'s
    dict (``plate_accuracy``, ``char_accuracy``, precision/recall at ``thresholds`` for the
    product and the minimum confidence, the 99.9%-precision operating point)."""
    from lpr_lib.metrics import evaluate_predictions

    outputs, labels = predict_dataset(model, source, batch_size, whiten)
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
    results = {str(d): evaluate_model(model, d, thresholds=thresholds) for d in args.data}
    if args.json:
        print(json.dumps({"model": model._lpr_name, "validation_threshold": chosen,
                          "results": results}, ensure_ascii=False, indent=2))
    else:
        print(f"model: {model._lpr_name}")
        if chosen is not None:
            print(f"threshold chosen on its validation data for 99.9% precision: {chosen:.4f}")
        for data, result in results.items():
            print(f"\n== {data}")
            print(format_report(result))
    return 0
