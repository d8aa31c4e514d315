"""Confidence that means what it says: temperature scaling (Guo et al. 2017) for the
multi-head reader, expected calibration error, and the calibration a model carries.

The model's heads output softmax probabilities ``p``; a temperature ``T`` rescales each head
as ``softmax(log(p) / T)`` (the same as dividing its logits by ``T``): ``T > 1`` softens an
over-confident model, and no head's most probable class changes. ``T`` is fitted by minimising
the negative log-likelihood of the characters (every present position of every plate) on
validation data::

    T = fit_temperature(outputs["chars"], labels)          # one T for every head
    calibrated = scale_outputs(outputs, T)                 # chars, length (and kind) heads
    ece(*char_confidences(calibrated["chars"], labels))    # per character
    ece(*plate_confidences(calibrated, labels))            # per plate, as lpr predict reads

A model carries its calibration in ``calibration.json`` beside its ``model.keras`` (the
shipped models: ``lpr_lib/models/<name>/calibration.json``, written by
``experiments/calibration.py``): the temperature, the acceptance threshold on the calibrated
plate confidence, the sets both were chosen on, and the SHA-256 of the model file it was
fitted for (a model file replaced since is not given another model's calibration).
:func:`lpr_lib.predict.stored_temperature` and :func:`~lpr_lib.predict.stored_threshold` read
it; ``lpr predict``, ``lpr eval`` and the exports' ``preprocessing.json`` carry it.
"""
from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np

from lpr_lib.plates import ABSENT

__all__ = ["CALIBRATION_FILE", "ECE_BINS", "temperature_scale", "scale_outputs", "char_nll",
           "fit_temperature", "plate_nll", "fit_plate_temperature", "char_confidences",
           "plate_confidences", "ece", "reliability", "file_sha256", "read_calibration",
           "write_calibration"]

CALIBRATION_FILE = "calibration.json"
#: equal-width confidence bins of the expected calibration error
ECE_BINS = 15
#: the smallest probability taken as it is (a softmax output of exactly 0 becomes this)
_TINY = 1e-30
#: the temperatures searched (``log T`` in this interval's logs)
T_BOUNDS = (0.05, 50.0)
#: the temperatures searched by :func:`fit_plate_temperature` (each step decodes every plate)
PLATE_T_BOUNDS = (0.2, 5.0)
#: the outputs that are softmax heads (temperature-scaled together)
SOFTMAX_HEADS = ("chars", "length", "kind")


def temperature_scale(probs, temperature) -> np.ndarray:
    """``softmax(log(p) / T)`` over the last axis (float64). ``temperature`` is a number, or
    an array that broadcasts against ``probs`` without its last axis (one per head: shape
    ``(heads,)`` for ``(N, heads, C)``). ``T = 1`` gives ``p`` back (renormalised)."""
    p = np.asarray(probs, np.float64)
    t = np.asarray(temperature, np.float64)
    if np.any(~np.isfinite(t)) or np.any(t <= 0):
        raise ValueError(f"temperature must be positive and finite, got {temperature!r}")
    z = np.log(np.maximum(p, _TINY)) / t[..., None]
    z -= z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def scale_outputs(outputs: dict, temperature) -> dict:
    """The model's outputs with every softmax head (``chars``, ``length``, ``kind``) scaled
    by ``temperature``: a number for every head, or ``{"chars": T or [T per position],
    "length": T, ...}``. ``T = 1`` (or ``None``) leaves the outputs as they are."""
    if temperature is None:
        return outputs
    if not isinstance(temperature, dict):
        if float(temperature) == 1.0:
            return outputs
        temperature = {k: float(temperature) for k in SOFTMAX_HEADS}
    out = dict(outputs)
    for k, t in temperature.items():
        if k in out and t is not None:
            out[k] = temperature_scale(out[k], t)
    return out


def _present(chars_probs, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(log p (M, C), label (M,), position (M,))`` of every present position."""
    p = np.asarray(chars_probs, np.float64)
    y = np.asarray(labels)
    rows, cols = np.nonzero(y != ABSENT)
    return np.log(np.maximum(p[rows, cols], _TINY)), y[rows, cols].astype(np.int64), cols


def _nll(logp, y, t) -> float:
    z = logp / np.asarray(t, np.float64)[..., None] if np.ndim(t) else logp / t
    m = z.max(-1)
    lse = m + np.log(np.exp(z - m[:, None]).sum(-1))
    return float(np.mean(lse - z[np.arange(len(y)), y]))


def char_nll(chars_probs, labels, temperature=1.0) -> float:
    """Mean negative log-likelihood of the present characters at ``temperature`` (a number,
    or one per position)."""
    logp, y, pos = _present(chars_probs, labels)
    if len(y) == 0:
        raise ValueError("no present character to score")
    t = np.asarray(temperature, np.float64)
    return _nll(logp, y, t[pos] if t.ndim else float(t))


def _fit_one(logp, y) -> float:
    from scipy.optimize import minimize_scalar

    lo, hi = (math.log(v) for v in T_BOUNDS)
    res = minimize_scalar(lambda s: _nll(logp, y, math.exp(s)), bounds=(lo, hi),
                          method="bounded", options={"xatol": 1e-5})
    return float(math.exp(res.x))


def fit_temperature(chars_probs, labels, per_head: bool = False):
    """The temperature that minimises the characters' NLL (:func:`char_nll`) on
    ``(chars_probs (N, heads, C), labels (N, 8))``: one number, or with ``per_head`` one per
    position (``(heads,)``; a position with no present label keeps 1). Found by a bounded
    scalar search on ``log T`` within :data:`T_BOUNDS` (the NLL is convex in ``1 / T``)."""
    logp, y, pos = _present(chars_probs, labels)
    if len(y) == 0:
        raise ValueError("no present character to fit a temperature on")
    if not per_head:
        return _fit_one(logp, y)
    heads = np.asarray(chars_probs).shape[1]
    return np.array([_fit_one(logp[pos == j], y[pos == j]) if np.any(pos == j) else 1.0
                     for j in range(heads)])


def plate_nll(outputs: dict, labels, temperature=1.0, mode: str = "product") -> float:
    """Mean binary log loss of "the reading is right" against the plate confidence
    (:func:`plate_confidences`) at ``temperature``: how well the confidence ``lpr predict``
    shows predicts a right reading."""
    conf, ok = plate_confidences(scale_outputs(outputs, temperature), labels, mode)
    c = np.clip(conf, 1e-12, 1 - 1e-12)
    return float(-np.mean(np.where(ok, np.log(c), np.log1p(-c))))


def fit_plate_temperature(outputs: dict, labels, mode: str = "product") -> float:
    """The one temperature (every head) that minimises :func:`plate_nll`: temperature
    scaling fitted to the plate confidence instead of the characters. Per-character NLL
    treats the heads as independent; a plate's characters fail together (a loose crop blurs
    them all), so the T that calibrates characters can leave the plate's joint probability
    under-confident. Bounded scalar search on ``log T`` within :data:`PLATE_T_BOUNDS`."""
    from scipy.optimize import minimize_scalar

    lo, hi = (math.log(v) for v in PLATE_T_BOUNDS)
    res = minimize_scalar(lambda s: plate_nll(outputs, labels, math.exp(s), mode),
                          bounds=(lo, hi), method="bounded", options={"xatol": 1e-3})
    return float(math.exp(res.x))


def char_confidences(chars_probs, labels) -> tuple[np.ndarray, np.ndarray]:
    """``(confidence, correct)`` of every present character: its head's top probability,
    and whether that top class is the label."""
    p = np.asarray(chars_probs, np.float64)
    y = np.asarray(labels)
    rows, cols = np.nonzero(y != ABSENT)
    q = p[rows, cols]
    return q.max(-1), q.argmax(-1) == y[rows, cols]


def plate_confidences(outputs: dict, labels, mode: str = "product",
                      constrained: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(confidence, correct)`` of every plate as ``lpr predict`` reads it
    (:func:`lpr_lib.metrics.decode_outputs`: the most probable valid plate; ``mode``
    ``"product"``: its joint probability, ``"min"``: its least sure character or length),
    and whether the whole reading is right."""
    from lpr_lib.metrics import decode_outputs

    labels = np.asarray(labels)
    read, conf, _ = decode_outputs(outputs, constrained=constrained, mode=mode,
                                   as_labels=True)
    return np.asarray(conf, np.float64), np.all(read == labels, axis=-1)


def reliability(confidence, correct, bins: int = ECE_BINS) -> list[dict]:
    """The reliability diagram's bins: ``bins`` equal-width intervals of confidence,
    ``(lo, hi]`` (the first also takes 0), each with its count, mean confidence and accuracy
    (``None`` for an empty bin)."""
    conf = np.asarray(confidence, np.float64)
    ok = np.asarray(correct, bool)
    which = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        sel = which == b
        n = int(sel.sum())
        out.append({"lo": b / bins, "hi": (b + 1) / bins, "count": n,
                    "confidence": float(conf[sel].mean()) if n else None,
                    "accuracy": float(ok[sel].mean()) if n else None})
    return out


def ece(confidence, correct, bins: int = ECE_BINS) -> float:
    """Expected calibration error: ``sum_b |B_b| / n * |accuracy(B_b) - confidence(B_b)|``
    over ``bins`` equal-width confidence bins (:func:`reliability`)."""
    n = len(np.asarray(confidence))
    if n == 0:
        return math.nan
    return float(sum(r["count"] / n * abs(r["accuracy"] - r["confidence"])
                     for r in reliability(confidence, correct, bins) if r["count"]))


# ------------------------------------------------------------------ what a model carries

def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_calibration(model_file, temperature, threshold, **info) -> Path:
    """Write ``calibration.json`` beside ``model_file``: ``temperature`` (a number, or
    ``{"chars": [...], "length": T}``), the acceptance ``threshold`` on the calibrated
    plate confidence, the model file's SHA-256, and ``info`` (what they were chosen on)."""
    model_file = Path(model_file)
    record = {"temperature": temperature, "threshold": threshold,
              "model_file": model_file.name, "model_sha256": file_sha256(model_file), **info}
    path = model_file.parent / CALIBRATION_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


_warned: set[str] = set()


def read_calibration(model) -> dict | None:
    """The calibration ``model`` carries: an export's (its ``preprocessing.json``'s
    ``temperature`` and ``threshold``), or the ``calibration.json`` beside its model file
    when that file is the one it was fitted for; else ``None`` (a stale file is named on
    stderr once, and ignored)."""
    carried = getattr(model, "_lpr_calibration", None)
    if carried is not None:
        return carried
    source = getattr(model, "_lpr_source", None)
    if source is None:
        return None
    source = Path(source)
    path = (source if source.is_dir() else source.parent) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        temperature = record["temperature"]
        want = record.get("model_sha256")
    except (OSError, ValueError, KeyError, TypeError) as err:
        if str(path) not in _warned:
            _warned.add(str(path))
            print(f"warning: {path}: not a calibration file ({str(err)[:100]}); the model's "
                  "confidence is not calibrated", file=sys.stderr)
        return None
    if source.is_file() and want and file_sha256(source) != want:
        if str(path) not in _warned:
            _warned.add(str(path))
            print(f"warning: {path} was fitted for another {source.name} (its SHA-256 "
                  "differs): not applied; calibrate this model again "
                  "(experiments/calibration.py)", file=sys.stderr)
        return None
    if not isinstance(temperature, (int, float, dict)):
        return None
    return record
