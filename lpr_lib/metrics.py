"""How well plates are read: decoding, plate and character accuracy, plate confidence,
and the precision/recall trade-off of accepting only confident reads.

Everything but :class:`PlateAccuracy` (a Keras metric for training logs) is NumPy and takes
the model's outputs as arrays:

* ``chars_probs``: ``(N, 8, C)`` softmax probabilities of the 8 heads;
* ``length_probs``: ``(N, 2)`` probabilities of {7 characters, 8 characters}, optional;
* ``labels``: ``(N, 8)`` class indices, ``-1`` at absent positions.

The seed's operating numbers, kept here under their meaning:

* **precision** (the seed's "acc") at threshold ``t``: among the plates whose
  confidence is ``>= t`` (accepted), the share read exactly right;
* **recall** at ``t``: the share of *all* plates that are accepted *and* right;
* the commercial spec: a threshold with precision >= 99.9% and recall >= 80%.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import keras
import numpy as np
from keras import ops

from lpr_lib.plates import ABSENT

__all__ = ["score_readings", "decode", "plate_confidence", "plate_correct", "char_accuracy",
           "per_position_accuracy", "confusions", "precision_recall_at", "pr_curve",
           "threshold_for_precision", "evaluate_predictions", "PlateAccuracy",
           "format_report", "LENGTHS", "SPEC_PRECISION", "SPEC_RECALL", "decode_outputs"]

#: What the length head's two classes mean.
LENGTHS = (7, 8)
SPEC_PRECISION = 0.999
SPEC_RECALL = 0.80


def decode(chars_probs, length_probs=None, default_length: int = 7):
    """Read plates from the heads' probabilities.

    Returns ``(pred_labels, top_probs)``, both ``(N, 8)``: the argmax class of each
    head, with ``-1`` beyond the plate's predicted length, and each head's top
    probability (for every head, read or not).

    The length: with ``length_probs``, 8 positions are read only when the length head
    says 8 (its argmax), else 7. Without a length head, ``default_length`` (7)
    positions are read: the 8th head is trained only on 8-character plates (its label
    is ``-1`` on the others), so its output says nothing about whether an 8th
    character is there.
    """
    probs = np.asarray(chars_probs)
    if probs.ndim != 3:
        raise ValueError(f"chars_probs must be (N, heads, classes), got shape {probs.shape}")
    pred = probs.argmax(-1).astype(np.int32)
    top = probs.max(-1)
    n, heads = pred.shape
    if length_probs is None:
        length = np.full(n, default_length)
    else:
        length = np.asarray(LENGTHS)[np.asarray(length_probs).argmax(-1)]
    pred[np.arange(heads)[None, :] >= length[:, None]] = ABSENT
    return pred, top


def plate_confidence(top_probs, pred_labels, mode: str = "product", length_probs=None):
    """A plate's confidence from its read positions' top probabilities.

    ``mode="product"``: the product (the probability of the whole reading when the
    heads are independent); ``mode="min"``: the least sure character. Positions
    with ``pred_labels == -1`` (not read) are left out. With ``length_probs`` the
    length head's top probability joins in (multiplies the product, or enters the
    minimum); without it, it does not.
    """
    top = np.asarray(top_probs, dtype=np.float64)
    read = np.asarray(pred_labels) != ABSENT
    if mode == "product":
        conf = np.prod(np.where(read, top, 1.0), axis=-1)
        if length_probs is not None:
            conf = conf * np.asarray(length_probs, dtype=np.float64).max(-1)
    elif mode == "min":
        conf = np.min(np.where(read, top, np.inf), axis=-1)
        if length_probs is not None:
            conf = np.minimum(conf, np.asarray(length_probs, dtype=np.float64).max(-1))
    else:
        raise ValueError(f"mode must be 'product' or 'min', got {mode!r}")
    return conf


def plate_correct(pred_labels, labels):
    """True where the whole plate is read right: every position equal, ``-1`` included
    (so a 7-character reading of an 8-character plate is wrong)."""
    return np.all(np.asarray(pred_labels) == np.asarray(labels), axis=-1)


def char_accuracy(pred_labels, labels) -> float:
    """Share of the present label positions read right (an unread position is wrong)."""
    pred, labels = np.asarray(pred_labels), np.asarray(labels)
    present = labels != ABSENT
    return float((pred[present] == labels[present]).mean()) if present.any() else math.nan


def per_position_accuracy(pred_labels, labels):
    """Character accuracy of each position (``nan`` where no plate has that position)."""
    pred, labels = np.asarray(pred_labels), np.asarray(labels)
    present = labels != ABSENT
    hits = ((pred == labels) & present).sum(0)
    counts = present.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)


def confusions(pred_labels, labels, top: int | None = 20) -> list[dict]:
    """The most frequent misreadings: ``[{"position", "true", "read", "count"}, ...]`` over
    the present label positions, most frequent first (``top=None`` for all). ``read`` is
    ``""`` where the position was not read at all (a 7-character reading of an 8-character
    plate)."""
    from collections import Counter

    from lpr_lib.plates import CHARS

    pred, labels = np.asarray(pred_labels), np.asarray(labels)
    wrong = (labels != ABSENT) & (pred != labels)
    counts = Counter((int(j), CHARS[labels[i, j]], CHARS[pred[i, j]] if pred[i, j] >= 0 else "")
                     for i, j in zip(*np.nonzero(wrong)))
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"position": j, "true": a, "read": b, "count": n}
            for (j, a, b), n in rows[:top]]


def precision_recall_at(confidence, correct, thresholds):
    """Precision and recall when plates with ``confidence >= t`` are accepted.

    Returns ``(precision, recall)``, arrays with one value per threshold. When no
    plate is accepted, precision is ``nan`` (undefined: there is no accepted plate
    to be right or wrong) and recall is 0.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    t = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    accepted = conf[None, :] >= t[:, None]
    n_acc = accepted.sum(1)
    n_right = (accepted & ok[None, :]).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(n_acc > 0, n_right / np.maximum(n_acc, 1), np.nan)
    recall = n_right / max(len(conf), 1)
    return precision, recall


def pr_curve(confidence, correct):
    """Precision and recall at every distinct confidence value, in one sort.

    Returns ``(thresholds, precision, recall)`` with thresholds in decreasing order;
    at ``thresholds[k]`` the accepted plates are those with ``confidence >=
    thresholds[k]`` (tied plates are accepted together).
    """
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    if conf.size == 0:
        return np.empty(0), np.empty(0), np.empty(0)
    order = np.argsort(-conf, kind="stable")
    conf, ok = conf[order], ok[order]
    right = np.cumsum(ok)
    # the last index of each run of equal confidences
    last = np.flatnonzero(np.r_[conf[1:] != conf[:-1], True])
    n_acc = last + 1
    return conf[last], right[last] / n_acc, right[last] / conf.size


def threshold_for_precision(confidence, correct, target: float = SPEC_PRECISION):
    """The lowest threshold (among the confidence values) whose precision reaches
    ``target``: it accepts the most plates, so it has the highest recall of all
    thresholds that qualify.

    Returns ``{"threshold", "precision", "recall", "coverage"}`` (coverage = share of
    plates accepted), or ``None`` when no threshold reaches the target.
    """
    thr, prec, rec = pr_curve(confidence, correct)
    ok = np.flatnonzero(prec >= target)
    if ok.size == 0:
        return None
    k = ok[-1]  # thresholds decrease along the curve
    n = len(np.asarray(confidence))
    coverage = float(np.sum(np.asarray(confidence, dtype=np.float64) >= thr[k]) / n)
    return {"threshold": float(thr[k]), "precision": float(prec[k]), "recall": float(rec[k]),
            "coverage": coverage}


def _num(x):
    x = float(x)
    return None if math.isnan(x) else x


def evaluate_predictions(chars_probs, labels, length_probs=None,
                         thresholds: Iterable[float] = (0.85, 0.95),
                         target_precision: float = SPEC_PRECISION) -> dict:
    """Everything ``lpr eval`` prints, as a JSON-ready dict (``nan`` becomes ``None``).

    ``plate_accuracy``, ``char_accuracy``, ``per_position``; for each confidence mode
    (``"product"``, ``"min"``; the length head's probability included when
    ``length_probs`` is given) the precision and recall at each threshold, and the
    operating point: the lowest threshold with precision >= ``target_precision``
    (``None`` if unreachable) and whether its recall meets the spec (>= 80%).
    """
    labels = np.asarray(labels)
    pred, top = decode(chars_probs, length_probs)
    correct = plate_correct(pred, labels)
    thresholds = [float(t) for t in thresholds]
    out = {"n_plates": int(len(labels)),
           "plate_accuracy": _num(correct.mean()) if len(labels) else None,
           "char_accuracy": _num(char_accuracy(pred, labels)),
           "per_position": [_num(v) for v in per_position_accuracy(pred, labels)],
           "thresholds": thresholds, "confidence": {}}
    for mode in ("product", "min"):
        conf = plate_confidence(top, pred, mode, length_probs)
        precision, recall = precision_recall_at(conf, correct, thresholds)
        op = threshold_for_precision(conf, correct, target_precision)
        out["confidence"][mode] = {
            "precision": [_num(p) for p in precision], "recall": [_num(r) for r in recall],
            "operating_point": op,
            "meets_spec": bool(op is not None and op["recall"] >= SPEC_RECALL),
        }
    out["target_precision"] = target_precision
    return out


def format_report(result: dict) -> str:
    """A short human-readable table of :func:`evaluate_predictions`' result."""
    def pct(x):
        return "   n/a" if x is None else f"{100 * x:6.2f}%"
    lines = [f"plates          {result['n_plates']}",
             f"plate accuracy  {pct(result['plate_accuracy'])}",
             f"char accuracy   {pct(result['char_accuracy'])}",
             "per position    " + " ".join(pct(v).strip() for v in result["per_position"])]
    for mode, r in result["confidence"].items():
        for t, p, rc in zip(result["thresholds"], r["precision"], r["recall"]):
            lines.append(f"{mode:>7} >= {t:.2f}  precision {pct(p)}  recall {pct(rc)}")
        op = r["operating_point"]
        target = 100 * result["target_precision"]
        if op is None:
            lines.append(f"{mode:>7}: no threshold reaches {target:g}% precision")
        else:
            lines.append(f"{mode:>7}: {target:g}% precision from threshold {op['threshold']:.4f},"
                         f" recall {pct(op['recall'])}"
                         f" ({'meets' if r['meets_spec'] else 'misses'} the 80% spec)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- Keras
@keras.saving.register_keras_serializable(package="lpr")
class PlateAccuracy(keras.metrics.Metric):
    """Share of plates whose every present position's argmax equals its label, for the
    training logs of the ``"chars"`` output (``y_true (batch, 8)`` with ``-1`` at absent
    positions, ``y_pred (batch, 8, C)``). ``-1`` positions are skipped and the length
    head is not consulted, so this can be a little higher than :func:`plate_correct`
    on decoded readings."""

    def __init__(self, name: str = "plate_acc", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.right = self.add_variable(shape=(), initializer="zeros", name="right")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(ops.round(ops.cast(y_true, "float32")), "int32")
        pred = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        ok = ops.logical_or(ops.equal(pred, y_true), ops.less(y_true, 0))
        plate = ops.cast(ops.all(ok, axis=-1), "float32")
        if sample_weight is None:
            w = ops.ones_like(plate)
        else:
            w = ops.reshape(ops.cast(sample_weight, "float32"), ops.shape(plate))
        self.right.assign_add(ops.sum(plate * w))
        self.total.assign_add(ops.sum(w))

    def result(self):
        return ops.divide_no_nan(self.right, self.total)

    def reset_state(self):
        self.right.assign(0.0)
        self.total.assign(0.0)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def decode_outputs(outputs: dict, constrained: bool = True, mode: str = "product",
                   as_labels: bool = False):
    """``(texts, confidences, kinds)`` from a model's outputs (probabilities, calibrated or
    not): with ``constrained`` the most probable valid plate
    (:func:`lpr_lib.plates.constrained_decode`) and its joint probability (``mode="min"``:
    its least sure character or length), else each head's argmax with
    :func:`lpr_lib.metrics.plate_confidence`. ``as_labels``: class indices ``(N, 8)`` instead
    of texts."""
    from lpr_lib.plates import constrained_decode, labels_to_text

    lengths = outputs.get("length")
    if not constrained:
        pred, top = decode(outputs["chars"], lengths)
        conf = plate_confidence(top, pred, mode, lengths)
        return (pred if as_labels else [labels_to_text(row) for row in pred]), conf, \
            [None] * len(pred)
    labels, chosen, conf, kinds = constrained_decode(outputs["chars"], lengths, lengths=LENGTHS)
    if mode == "min":
        read = labels != ABSENT
        conf = np.min(np.where(read, chosen, np.inf), axis=-1)
        if lengths is not None:
            which = [LENGTHS.index(int(n)) for n in read.sum(-1)]
            conf = np.minimum(conf, np.asarray(lengths, np.float64)[np.arange(len(conf)),
                                                                    which])
    return (labels if as_labels else [labels_to_text(row) for row in labels]), conf, kinds


def score_readings(items, texts) -> dict:
    """Accuracy of the readings ``texts`` (strings, ``""`` for no reading) against ``items``
    (``(path, text, framing)`` triples): plate, character and per-position accuracy, per
    province (first character) and per framing, and the share of empty readings. Any reader's
    text output can be scored this way, ours or a public one (the readers bench does)."""
    n = len(items)
    truth = [t for _, t, _ in items]
    right = [p == t for p, t in zip(texts, truth)]
    positions = []
    for i in range(max(len(t) for t in truth)):
        hits = [p[i:i + 1] == t[i] for p, t in zip(texts, truth) if len(t) > i]
        positions.append(round(sum(hits) / len(hits), 4) if hits else None)
    chars = sum(sum(p[i:i + 1] == c for i, c in enumerate(t)) for p, t in zip(texts, truth))

    def group(key) -> dict:
        out = {}
        for (_, t, framing), p, ok in zip(items, texts, right):
            g = out.setdefault(key(t, framing), [0, 0, 0])
            g[0] += 1
            g[1] += ok
            g[2] += p[:1] == t[0]
        return {k: {"plates": v[0], "plate_accuracy": round(v[1] / v[0], 4),
                    "province_accuracy": round(v[2] / v[0], 4)}
                for k, v in sorted(out.items(), key=lambda kv: (-kv[1][0], kv[0]))}
    return {"plates": n, "plate_accuracy": round(sum(right) / n, 4),
            "char_accuracy": round(chars / sum(len(t) for t in truth), 4),
            "per_position": positions, "no_reading": round(sum(not p for p in texts) / n, 4),
            "provinces": group(lambda t, f: t[0]), "framings": group(lambda t, f: f)}
