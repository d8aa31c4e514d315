"""What a training run looked like inside: its loss every few steps, and its weights after
every epoch (the norm of each kernel, the histogram of BatchNorm's |gamma|), for the book's
figures of weight decay, warmup and slimming. Also the diagnostics of a trained model's
predictions: the reliability of its confidences and the density of its gradient norms.

    train(config, run, callbacks=[TrainingTrace(run / "trace.json")])

The trace file is rewritten (atomically) after every epoch; a resumed run drops what the
killed one recorded after its last committed epoch, so the file matches ``history.csv``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import keras

__all__ = ["TrainingTrace", "weight_stats", "GAMMA_BINS", "reliability", "g_density",
           "confidence_histograms"]

#: bin edges of the |gamma| histograms (the last bin also holds everything above 2)
GAMMA_BINS = np.linspace(0.0, 2.0, 41)


def weight_stats(model) -> dict:
    """The L2 norm of every conv and dense kernel (by layer name), their total sum of squares,
    and the histogram (:data:`GAMMA_BINS`) and quantiles of |gamma| over every BatchNorm."""
    norms, total, gammas = {}, 0.0, []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and layer.gamma is not None:
            gammas.append(np.abs(np.asarray(layer.gamma)))
        for w in layer.weights:
            if w.path.endswith(("kernel", "depthwise_kernel")):
                v = np.asarray(w, dtype=np.float64)
                norms[layer.name] = round(float(np.sqrt((v ** 2).sum())), 5)
                total += float((v ** 2).sum())
    out = {"kernel_norms": norms, "kernel_sq_sum": round(total, 4)}
    if gammas:
        g = np.concatenate(gammas)
        counts, _ = np.histogram(np.clip(g, 0, GAMMA_BINS[-1]), GAMMA_BINS)
        out["gamma"] = {"n": int(g.size), "hist": counts.tolist(),
                        "quantiles": {str(q): round(float(np.quantile(g, q)), 5)
                                      for q in (0.05, 0.25, 0.5, 0.75, 0.95)},
                        "below_0.05": round(float((g < 0.05).mean()), 5)}
    return out


class TrainingTrace(keras.callbacks.Callback):
    """Record the mean training loss of every ``every`` steps and :func:`weight_stats` after
    every epoch into the JSON file ``path`` (``{"every", "steps": [[step, loss]...],
    "epochs": [{"epoch", ...weight_stats}]}``); the stats of the weights before training are
    epoch ``-1``."""

    def __init__(self, path, every: int = 10):
        super().__init__()
        self.path, self.every = Path(path), int(every)
        self.data = {"every": self.every, "gamma_bins": GAMMA_BINS.tolist(), "steps": [],
                     "epochs": []}
        if self.path.is_file():
            self.data = json.loads(self.path.read_text(encoding="utf-8"))

    def _write(self) -> None:
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data) + "\n", encoding="utf-8")
        tmp.replace(self.path)

    def on_epoch_begin(self, epoch, logs=None):
        steps = self.params.get("steps") or 0
        self._epoch, self._steps, self._sum, self._last = epoch, steps, 0.0, 0
        # a resumed run: forget what came after the last committed epoch
        self.data["epochs"] = [e for e in self.data["epochs"] if e["epoch"] < epoch]
        self.data["steps"] = [s for s in self.data["steps"] if s[0] <= epoch * steps]
        if epoch == 0 and not self.data["epochs"]:
            self.data["epochs"].append({"epoch": -1, **weight_stats(self.model)})

    def on_train_batch_end(self, batch, logs=None):
        # Keras' logs hold the mean since the epoch began: the mean of the last `every`
        # batches is the difference of the running sums
        if not logs or "loss" not in logs or (batch + 1) % self.every:
            return
        total = float(logs["loss"]) * (batch + 1)
        mean = (total - self._sum) / (batch + 1 - self._last)
        self._sum, self._last = total, batch + 1
        self.data["steps"].append([self._epoch * self._steps + batch + 1, round(mean, 5)])

    def on_epoch_end(self, epoch, logs=None):
        self.data["epochs"].append({"epoch": epoch, **weight_stats(self.model)})
        self._write()


# ------------------------------------------------------------------ prediction diagnostics


def _char_probs(chars_probs, labels):
    """``(top probability, top is right, probability of the true class)`` at every position
    that holds a character (label >= 0)."""
    probs = np.asarray(chars_probs, dtype=np.float64)
    labels = np.asarray(labels)
    mask = labels >= 0
    p = probs[mask]  # (n, classes)
    y = labels[mask]
    top = p.max(1)
    right = p.argmax(1) == y
    return top, right, p[np.arange(len(y)), y]


def reliability(chars_probs, labels, bins: int = 15) -> dict:
    """The reliability diagram of the per-character confidence (its top probability): for
    ``bins`` equal-width bins of confidence, the count, mean confidence and accuracy; and the
    expected calibration error ``sum(n_b / n * |acc_b - conf_b|)``."""
    top, right, _ = _char_probs(chars_probs, labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(top, edges[1:-1]), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    conf = np.bincount(which, top, minlength=bins)
    acc = np.bincount(which, right.astype(float), minlength=bins)
    with np.errstate(invalid="ignore"):
        conf, acc = conf / count, acc / count
    ece = float(np.nansum(count / max(count.sum(), 1) * np.abs(acc - conf)))
    return {"edges": edges.round(4).tolist(), "count": count.tolist(),
            "confidence": [None if np.isnan(v) else round(float(v), 5) for v in conf],
            "accuracy": [None if np.isnan(v) else round(float(v), 5) for v in acc],
            "ece": round(ece, 5)}


def g_density(chars_probs, labels, bins: int = 30) -> dict:
    """The histogram of GHM's gradient norm ``g = 1 - p_true`` over every character position
    (``bins`` equal bins of [0, 1], as :class:`lpr_lib.losses.GHMC` counts them)."""
    _, _, p_true = _char_probs(chars_probs, labels)
    counts, edges = np.histogram(np.clip(1.0 - p_true, 0.0, 1.0), np.linspace(0, 1, bins + 1))
    return {"edges": edges.round(4).tolist(), "count": counts.tolist()}


def confidence_histograms(confidence, correct, bins: int = 20) -> dict:
    """Histograms of the plate confidence for the plates read right and those read wrong."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    conf, ok = np.asarray(confidence), np.asarray(correct, dtype=bool)
    return {"edges": edges.round(4).tolist(),
            "right": np.histogram(conf[ok], edges)[0].tolist(),
            "wrong": np.histogram(conf[~ok], edges)[0].tolist()}
