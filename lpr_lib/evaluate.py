"""Evaluate a plate reader on a dataset: plate and character accuracy, and precision/recall
at confidence thresholds (:func:`lpr_lib.metrics.evaluate_predictions`).

    from lpr_lib.export import load_model
    result = evaluate_model(load_model("runs/default"), "data_samples")
    print(format_report(result))
"""
from __future__ import annotations

import json

import numpy as np

__all__ = ["predict_dataset", "evaluate_model", "cli_eval"]


def predict_dataset(model, source, batch_size: int = 256, whiten: bool | None = None):
    """Run ``model`` over ``source`` (anything :func:`lpr_lib.data.load_samples` reads, or a
    list of samples). Returns ``(outputs, labels)``: a dict of NumPy arrays by output name
    and the ``(N, 8)`` labels, in the dataset's order."""
    from lpr_lib.data import make_dataset
    from lpr_lib.export import run_whiten

    if whiten is None:
        whiten = run_whiten(model)
    ds = make_dataset(source, batch_size=batch_size, image_size=tuple(model.input.shape[1:3]),
                      whiten=whiten, augment=False, shuffle=False, repeat=False)
    outputs, labels = {}, []
    for images, y in ds:
        out = model.predict_on_batch(images)
        for k, v in out.items():
            outputs.setdefault(k, []).append(np.asarray(v))
        labels.append(y.numpy())
    if not labels:
        raise ValueError(f"{source}: no samples to evaluate")
    return {k: np.concatenate(v) for k, v in outputs.items()}, np.concatenate(labels)


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
    the latest run under ``runs/`` is evaluated."""
    from lpr_lib.export import latest_run, load_model
    from lpr_lib.metrics import format_report

    model_path = args.model if args.model is not None else latest_run()
    model = load_model(model_path)
    results = {str(d): evaluate_model(model, d, thresholds=args.thresholds) for d in args.data}
    if args.json:
        print(json.dumps({"model": str(model_path), "results": results}, ensure_ascii=False,
                         indent=2))
    else:
        print(f"model: {model_path}")
        for data, result in results.items():
            print(f"\n== {data}")
            print(format_report(result))
    return 0
