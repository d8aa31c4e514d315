"""Losses for a plate read as 8 softmax heads: masked cross-entropy, label smoothing,
focal loss and GHM-C (global and label-wise).

Every loss here takes

* ``y_true``: ``(batch, 8)`` class indices (int, or float that holds ints), ``-1``
  where a position is absent (a 7-character plate has no 8th character);
* ``y_pred``: ``(batch, 8, C)`` softmax probabilities (the model's ``"chars"``
  output), or logits with ``from_logits=True``.

A ``-1`` position contributes nothing: not to the loss, not to the gradient, not
to GHM's histogram. The per-sample loss is the **sum over the present positions**
(a plate's negative log-likelihood when the heads are independent); Keras then
averages over the batch (``reduction="sum_over_batch_size"``).

All classes are registered as ``lpr>ClassName`` and have ``get_config``, so a model
compiled with them saves and loads again.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import keras
import numpy as np
from keras import ops

from lpr_lib.plates import MAX_LEN

__all__ = ["MaskedCrossEntropy", "FocalLoss", "GHMC", "LossState", "state_metrics", "get_loss",
           "LOSSES", "LossSpec"]


def _prepare(y_true, y_pred, from_logits: bool):
    """Return ``(labels, mask, log_probs, probs)``.

    ``labels`` are int32 with absent positions replaced by class 0 (so that
    one-hot/gather stay valid), ``mask`` is 1.0 on present positions.
    Probabilities are clipped to ``[eps, 1 - eps]`` before the log, as Keras does.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    dtype = keras.backend.standardize_dtype(y_pred.dtype)
    dtype = dtype if dtype in ("float32", "float64") else "float32"  # half precision: log in fp32
    y_pred = ops.cast(y_pred, dtype)
    y_true = ops.cast(ops.round(ops.cast(y_true, "float32")), "int32")
    present = ops.greater_equal(y_true, 0)
    labels = ops.where(present, y_true, ops.zeros_like(y_true))
    mask = ops.cast(present, dtype)
    if from_logits:
        log_probs = ops.log_softmax(y_pred, axis=-1)
        probs = ops.exp(log_probs)
    else:
        eps = keras.backend.epsilon()
        probs = ops.clip(y_pred, eps, 1.0 - eps)
        log_probs = ops.log(probs)
    return labels, mask, log_probs, probs


def _smoothed_onehot(labels, num_classes, label_smoothing, dtype):
    onehot = ops.one_hot(labels, num_classes, dtype=dtype)
    if label_smoothing:
        onehot = onehot * (1.0 - label_smoothing) + label_smoothing / num_classes
    return onehot


@keras.saving.register_keras_serializable(package="lpr")
class MaskedCrossEntropy(keras.losses.Loss):
    """Cross-entropy summed over the present positions; ``-1`` labels are ignored.

    With ``label_smoothing = eps`` the target of every head is
    ``(1 - eps) * onehot + eps / C`` (Szegedy et al. 2016, as in Keras'
    ``CategoricalCrossentropy``): the true class gets ``1 - eps + eps/C``, every
    other class ``eps/C``.
    """

    def __init__(self, label_smoothing: float = 0.0, from_logits: bool = False,
                 name: str = "masked_ce", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        labels, mask, log_probs, _ = _prepare(y_true, y_pred, self.from_logits)
        target = _smoothed_onehot(labels, ops.shape(log_probs)[-1], self.label_smoothing,
                                  log_probs.dtype)
        per_position = -ops.sum(target * log_probs, axis=-1)  # (batch, 8)
        return ops.sum(per_position * mask, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(label_smoothing=self.label_smoothing, from_logits=self.from_logits)
        return config


@keras.saving.register_keras_serializable(package="lpr")
class FocalLoss(keras.losses.Loss):
    """Softmax focal loss (Lin et al. 2017), summed over the present positions.

    Per position: ``FL = -alpha * sum_k (1 - p_k)**gamma * t_k * log p_k``, which for a
    one-hot target ``t`` is ``-alpha * (1 - p_t)**gamma * log p_t``. This is exactly
    Keras' ``CategoricalFocalCrossentropy`` on each present position (``alpha=None``
    means no alpha weighting, i.e. ``alpha = 1``). ``gamma = 0, alpha = None`` is
    plain cross-entropy. In the multi-class form alpha is one constant for every
    class, so it only rescales the loss (it balances foreground/background in the
    paper's binary form).
    """

    def __init__(self, gamma: float = 2.0, alpha: float | None = 0.25,
                 label_smoothing: float = 0.0, from_logits: bool = False,
                 name: str = "focal", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = float(gamma)
        self.alpha = None if alpha is None else float(alpha)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        labels, mask, log_probs, probs = _prepare(y_true, y_pred, self.from_logits)
        target = _smoothed_onehot(labels, ops.shape(log_probs)[-1], self.label_smoothing,
                                  log_probs.dtype)
        modulating = ops.power(1.0 - probs, self.gamma)
        per_position = -ops.sum(modulating * target * log_probs, axis=-1)
        if self.alpha is not None:
            per_position = per_position * self.alpha
        return ops.sum(per_position * mask, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(gamma=self.gamma, alpha=self.alpha,
                      label_smoothing=self.label_smoothing, from_logits=self.from_logits)
        return config


@keras.saving.register_keras_serializable(package="lpr")
class LossState(keras.metrics.Metric):
    """Carries a loss's own variables (GHM's histogram) through a stateless training step.

    On JAX (and any backend whose ``train_step`` is a pure function) Keras passes the step
    the model's variables and its metrics' variables, and keeps what the step wrote to
    those, but not what a loss wrote to its own: GHM's moving average would start from zero
    at every step. Compiled among the metrics, this metric lists the loss's variables as its
    own, so they travel with the step's state; it reports nothing and never resets them
    (``reset_state`` does nothing: the histogram spans epochs, as on TensorFlow, where it is
    harmless). A model loaded with ``compile=True`` gets an empty carrier; ``lpr train``
    compiles afresh when it resumes.
    """

    def __init__(self, loss=None, name: str = "loss_state", dtype=None):
        super().__init__(name=name, dtype=dtype)
        for variable in getattr(loss, "state_variables", []):
            self._tracker.add_to_store("variables", variable)

    def update_state(self, *args, **kwargs):
        pass

    def result(self):
        return {}  # no entry in the logs

    def reset_state(self):
        pass


def state_metrics(loss) -> list:
    """``[LossState(loss)]`` for a loss with state (GHM), else ``[]``: add these to the
    compile metrics so that the loss's state persists on every backend."""
    return [LossState(loss, name=f"{loss.name}_state")] if getattr(loss, "state_variables", None) \
        else []


@keras.saving.register_keras_serializable(package="lpr")
class GHMC(keras.losses.Loss):
    """Gradient Harmonizing Mechanism for classification (Li, Liu & Wang, AAAI 2019),
    adapted to softmax heads.

    **Gradient norm.** For softmax cross-entropy the gradient with respect to the
    logits is ``p - onehot``. Its largest component (its max-norm) is the true
    class's, ``|p_t - 1| = 1 - p_t`` (every other component is ``p_k <= 1 - p_t``),
    and its L1 norm is ``2 (1 - p_t)``. So we take ``g = 1 - p_t`` in ``[0, 1]``: the
    same quantity the paper's sigmoid form gives for a positive target
    (``g = |sigmoid(x) - 1|``), one value per (plate, position).

    **Density and weights.** ``[0, 1]`` is cut into ``bins`` equal bins (the last
    edge nudged by 1e-6 so that ``g = 1`` falls in the last bin), as in
    mmdetection's ``GHMC``. With ``N`` present positions in the batch, ``count[b]``
    of them in bin ``b`` and ``n`` non-empty bins, the moving average is updated
    only for non-empty bins, ``acc[b] = momentum * acc[b] + (1 - momentum) * count[b]``
    (``acc = count`` when ``momentum = 0``), and each position gets the weight
    ``w = N / (acc[bin] * n)`` (mmdetection's form of the paper's ``beta = N / GD(g)``;
    the weights are piecewise constant in ``g``, and are wrapped in ``stop_gradient``
    besides: no gradient flows through them).

    **Normalisation.** mmdetection returns ``sum(w * CE) / N``. To keep the scale of
    every other loss here (per-plate sum over positions, mean over plates) this
    class returns per plate ``sum_positions(w * CE)``, so Keras' batch mean is
    ``sum(w * CE) / batch = mmdet_loss * N / batch``. With ``bins=1, momentum=0``
    every weight is 1 and GHM-C equals :class:`MaskedCrossEntropy`.

    **Modes.** ``"global"``: one histogram (``acc`` of shape ``(bins,)``) shared by
    all 8 heads, ``N`` = all present positions. ``"labelwise"``: one histogram per
    head (``acc`` of shape ``(8, bins)``), with ``N``, ``count`` and ``n`` taken per
    head; then the loss is the sum over heads of 8 independent mmdetection GHMC
    losses, each times ``N_head / batch`` (= 1 for a head present on every plate).

    **State.** ``acc`` is a non-trainable ``keras.Variable`` created in ``__init__``
    (label-wise needs ``num_heads``, 8 by default) and updated in place on every call,
    so it persists across steps of ``model.fit`` (graph mode, with or without XLA
    ``jit_compile``). On JAX, whose training step is a pure function of the variables Keras
    hands it, the histogram persists only when :class:`LossState` carries it: compile with
    ``metrics=state_metrics(loss)`` among the metrics (``lpr train`` does). It is not saved
    with the model: a loaded model starts from
    zero counts, as mmdetection does. Under ``tf.distribute.MirroredStrategy`` (checked
    with two logical CPUs) each replica computes counts and weights from its own slice
    of the batch; built inside ``strategy.scope()`` the variable is mirrored and the
    replicas' updates are averaged (``aggregation="mean"``).
    Keras gives a loss no ``training`` flag, so ``model.evaluate`` (and the validation
    pass of ``fit``) update the histogram too, as mmdetection's ``forward`` does in eval
    mode. Call :meth:`reset_state` to start the histogram again.
    """

    def __init__(self, bins: int = 30, momentum: float = 0.75, mode: str = "global",
                 num_heads: int = MAX_LEN, from_logits: bool = False, name: str = "ghmc",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if mode not in ("global", "labelwise"):
            raise ValueError(f"mode must be 'global' or 'labelwise', got {mode!r}")
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.bins = int(bins)
        self.momentum = float(momentum)
        self.mode = mode
        self.from_logits = bool(from_logits)
        edges = np.arange(self.bins + 1, dtype=np.float32) / np.float32(self.bins)
        edges[-1] += 1e-6
        self.edges = edges  # as mmdetection: float32 edges i / bins
        self.num_heads = int(num_heads)
        # Created here, eagerly, not inside the first (traced) call: a variable born
        # inside tf.function would be re-created or rejected on a retrace.
        shape = (self.bins,) if mode == "global" else (self.num_heads, self.bins)
        self.acc = keras.Variable(np.zeros(shape, np.float32), trainable=False,
                                  dtype="float32", aggregation="mean", name=f"{name}_acc")

    @property
    def state_variables(self) -> list:
        """The variables this loss updates as it runs (see :class:`LossState`)."""
        return [self.acc]

    def reset_state(self):
        """Forget the histogram (all moving-average counts back to zero)."""
        self.acc.assign(np.zeros(self.acc.shape, np.float32))

    def bin_index(self, g):
        """The bin of each gradient norm: the number of inner edges ``<= g``
        (identical to mmdetection's ``edges[i] <= g < edges[i+1]`` test)."""
        inner = ops.convert_to_tensor(self.edges[1:-1])
        return ops.sum(ops.cast(ops.greater_equal(ops.expand_dims(g, -1), inner), "int32"),
                       axis=-1)

    def weights(self, g, mask, update: bool = True):
        """GHM weights for gradient norms ``g`` (batch, heads), and the new ``acc``.

        With ``update=True`` the moving average is written back to ``self.acc``.
        """
        onehot = ops.one_hot(self.bin_index(g), self.bins, dtype="float32")
        onehot = onehot * ops.expand_dims(mask, -1)  # (batch, heads, bins)
        if self.mode == "global":
            count = ops.sum(onehot, axis=(0, 1))  # (bins,)
            total = ops.sum(mask)
        else:
            count = ops.sum(onehot, axis=0)  # (heads, bins)
            total = ops.sum(mask, axis=0, keepdims=True)  # (1, heads)
        acc = ops.convert_to_tensor(self.acc)
        nonempty = ops.greater(count, 0.0)
        if self.momentum > 0:
            new_acc = ops.where(nonempty,
                                self.momentum * acc + (1.0 - self.momentum) * count, acc)
        else:
            new_acc = count
        if update:
            self.acc.assign(new_acc)
        n_valid = ops.sum(ops.cast(nonempty, "float32"), axis=-1, keepdims=True)
        # 1 / (acc * n) on non-empty bins; empty bins are never looked up by a position.
        inv = ops.where(nonempty, 1.0 / ops.maximum(new_acc * n_valid, 1e-12), 0.0)
        if self.mode == "global":
            w = ops.sum(onehot * inv, axis=-1) * total  # (batch, heads)
        else:
            w = ops.sum(onehot * ops.expand_dims(inv, 0), axis=-1) * total
        return ops.stop_gradient(w * mask), new_acc

    def call(self, y_true, y_pred):
        labels, mask, log_probs, probs = _prepare(y_true, y_pred, self.from_logits)
        onehot = ops.one_hot(labels, ops.shape(log_probs)[-1], dtype=log_probs.dtype)
        ce = -ops.sum(onehot * log_probs, axis=-1)  # (batch, heads)
        p_true = ops.sum(onehot * probs, axis=-1)
        g = ops.stop_gradient(ops.cast(1.0 - p_true, "float32"))
        w, _ = self.weights(g, ops.cast(mask, "float32"))
        return ops.sum(ops.cast(w, ce.dtype) * ce * mask, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(bins=self.bins, momentum=self.momentum, mode=self.mode,
                      num_heads=self.num_heads, from_logits=self.from_logits)
        return config


class LossSpec(NamedTuple):
    """One entry of :data:`LOSSES`: how to make the loss, and which fields of
    :class:`lpr_lib.config.LossConfig` it takes (``LossConfig.build`` passes those)."""

    make: Callable[..., keras.losses.Loss]
    params: tuple[str, ...] = ()


#: The losses by their config name (``loss.name``): the one list of them.
LOSSES = {
    "ce": LossSpec(MaskedCrossEntropy),
    "smooth": LossSpec(lambda label_smoothing=0.1, **kw: MaskedCrossEntropy(
        label_smoothing=label_smoothing, **kw), ("label_smoothing",)),
    "focal": LossSpec(FocalLoss, ("gamma", "alpha")),
    "ghm_global": LossSpec(functools.partial(GHMC, mode="global"), ("bins", "momentum")),
    "ghm_labelwise": LossSpec(functools.partial(GHMC, mode="labelwise"), ("bins", "momentum")),
}


def get_loss(name: str, **kwargs) -> keras.losses.Loss:
    """A loss by its config name: ``"ce"``, ``"smooth"`` (label smoothing, default
    0.1), ``"focal"``, ``"ghm_global"``, ``"ghm_labelwise"`` (30 bins, momentum 0.75
    by default, as the seed's recipe). Keyword arguments go to the class."""
    try:
        spec = LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}") from None
    return spec.make(**kwargs)
