"""RAdam, and the learning-rate schedules of the recipe: the seed's warmup-then-steps
schedule, a warmup-cosine alternative, and warm-up then drops on a plateau of validation
(:class:`WarmupPlateau` with the callback :class:`PlateauDrops`), which stops a run once it
has converged.

Keras 3 ships no RAdam, so :class:`RAdam` is written here, as a
``keras.optimizers.Optimizer``, to match ``torch.optim.RAdam`` step for step (the
tests replay trajectories recorded from PyTorch 2.13).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import ops

__all__ = ["RAdam", "rho", "rectification", "seed_schedule", "SEED_LR_VALUES",
           "SEED_FRACTIONS", "WarmupCosine", "WarmupSteps", "WarmupPlateau", "PlateauDrops",
           "get_optimizer", "OPTIMIZERS"]


def rho(step, beta_2: float = 0.999):
    """``rho_t``, the length of the approximated simple moving average (Liu et al. 2020,
    eq. 7): ``rho_inf - 2 t beta2^t / (1 - beta2^t)`` with ``rho_inf = 2 / (1 - beta2) - 1``.
    Works on Python numbers and NumPy arrays (``step`` >= 1)."""
    rho_inf = 2.0 / (1.0 - beta_2) - 1.0
    b2t = beta_2 ** step
    return rho_inf - 2.0 * step * b2t / (1.0 - b2t)


def rectification(step, beta_2: float = 0.999):
    """The variance rectification term ``r_t`` (eq. 8), defined where ``rho_t > 4``
    (``nan`` elsewhere); RAdam uses it only where ``rho_t > 5``."""
    import numpy as np

    rho_inf = 2.0 / (1.0 - beta_2) - 1.0
    r = np.asarray(rho(step, beta_2), dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt((r - 4) * (r - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * r))
    return np.where(r > 4, out, np.nan)


@keras.saving.register_keras_serializable(package="lpr")
class RAdam(keras.optimizers.Optimizer):
    """Rectified Adam (Liu et al., ICLR 2020, "On the Variance of the Adaptive Learning
    Rate and Beyond"), exactly as ``torch.optim.RAdam`` computes it.

    At step ``t`` (1-based), with gradient ``g``::

        g   = g + wd * theta                       (L2, the default; torch's default too)
        m   = beta1 m + (1 - beta1) g ;   v = beta2 v + (1 - beta2) g^2
        m_hat = m / (1 - beta1^t)
        rho_inf = 2 / (1 - beta2) - 1 ;   rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        if rho_t > threshold (5):
            r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))
            theta -= lr * m_hat * r_t * sqrt(1 - beta2^t) / (sqrt(v) + eps)
        else:                                      (the variance of 1/sqrt(v) is intractable)
            theta -= lr * m_hat                    (SGD with momentum, un-adapted)

    With ``beta2 = 0.999`` the first 5 steps are un-adapted momentum steps; this is
    RAdam's built-in warmup. The paper's own code uses the threshold 4 in one version
    and 5 in another; torch uses 5, configurable here as ``rectify_threshold``.

    ``weight_decay``: with ``decoupled_weight_decay=False`` (the default, as torch) it is
    an L2 term added to the gradient, so it passes through the adaptive scaling; with
    ``True`` it is AdamW-style decay ``theta -= lr * wd * theta`` applied before the step
    (Keras' own mechanism, so ``exclude_from_weight_decay`` works). The coupled form
    also honours ``exclude_from_weight_decay``.
    """

    def __init__(self, learning_rate=1e-3, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, weight_decay: float | None = None,
                 decoupled_weight_decay: bool = False, rectify_threshold: float = 5.0,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name: str = "radam", **kwargs):
        super().__init__(
            learning_rate=learning_rate, name=name,
            weight_decay=weight_decay if decoupled_weight_decay else None,
            clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm,
            use_ema=use_ema, ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        if not 0.0 <= beta_1 < 1.0 or not 0.0 <= beta_2 < 1.0:
            raise ValueError(f"betas must be in [0, 1), got {beta_1}, {beta_2}")
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.rectify_threshold = float(rectify_threshold)
        self.decoupled_weight_decay = bool(decoupled_weight_decay)
        self.l2 = 0.0 if (weight_decay is None or self.decoupled_weight_decay) else float(
            weight_decay)
        self._l2_weight_decay = None if weight_decay is None else float(weight_decay)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"])

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        if self.l2 and self._use_weight_decay(variable):
            gradient = gradient + ops.convert_to_tensor(self.l2, dtype) * variable
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign(m, m + (gradient - m) * (1.0 - self.beta_1))  # torch: exp_avg.lerp_(g, 1-b1)
        self.assign(v, v * self.beta_2 + (1.0 - self.beta_2) * gradient * gradient)

        # The step scalars in float64, as torch computes them (in Python floats): rho_t is
        # a difference of two numbers near rho_inf (1999 for beta2 = 0.999), and in
        # float32 that cancellation moves r_t at step 6 by ~1e-4.
        f64 = "float64"
        step = ops.cast(self.iterations + 1, f64)
        beta_1 = ops.convert_to_tensor(self.beta_1, f64)
        beta_2 = ops.convert_to_tensor(self.beta_2, f64)
        bias_correction1 = 1.0 - ops.power(beta_1, step)
        beta_2_power = ops.power(beta_2, step)
        bias_correction2 = 1.0 - beta_2_power
        rho_inf = 2.0 / (1.0 - self.beta_2) - 1.0
        rho_t = rho_inf - 2.0 * step * beta_2_power / bias_correction2
        rectify = ops.greater(rho_t, ops.convert_to_tensor(self.rectify_threshold, f64))
        # r_t is only used where rho_t > threshold >= 4; keep its argument positive elsewhere.
        safe_rho = ops.where(rectify, rho_t, ops.convert_to_tensor(rho_inf, f64))
        r_t = ops.sqrt((safe_rho - 4.0) * (safe_rho - 2.0) * rho_inf
                       / ((rho_inf - 4.0) * (rho_inf - 2.0) * safe_rho))
        m_hat = m / ops.cast(bias_correction1, dtype)
        sqrt_bc2 = ops.cast(ops.sqrt(bias_correction2), dtype)
        r_t = ops.cast(r_t, dtype)
        adaptive = sqrt_bc2 / (ops.sqrt(v) + ops.convert_to_tensor(self.epsilon, dtype))
        scale = ops.where(rectify, adaptive * r_t, ops.ones_like(adaptive))
        self.assign_sub(variable, m_hat * lr * scale)

    def get_config(self):
        config = super().get_config()
        config.update(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
                      weight_decay=self._l2_weight_decay,
                      decoupled_weight_decay=self.decoupled_weight_decay,
                      rectify_threshold=self.rectify_threshold)
        return config


# ----------------------------------------------------------------------------- schedules
#: The seed's learning rates: a 1e-5 warmup, then 1e-3, and three tenfold drops.
SEED_LR_VALUES = (1e-5, 1e-3, 1e-4, 1e-5, 1e-6)
#: Where (as fractions of the epochs) each value after the first begins: warmup for the
#: first 5% of training, 1e-3 until half way, 1e-4 until 75%, 1e-5 until 90%, then 1e-6.
SEED_FRACTIONS = (0.05, 0.5, 0.75, 0.9)


def seed_epoch_boundaries(epochs: int, n_values: int = len(SEED_LR_VALUES),
                          fractions: Sequence[float] = SEED_FRACTIONS) -> list[int]:
    """The (0-based) epochs at which values 2, 3, ... start: ``round(f * epochs)`` for
    each fraction, at least 1 and at least one epoch after the previous boundary (so
    every value gets at least one epoch when ``epochs >= n_values``)."""
    if len(fractions) != n_values - 1:
        raise ValueError(f"{n_values} values need {n_values - 1} fractions, got {len(fractions)}")
    out, prev = [], 0
    for f in fractions:
        e = max(prev + 1, int(round(f * epochs)))
        out.append(e)
        prev = e
    return out


def seed_schedule(steps_per_epoch: int, epochs: int | None = None,
                  values: Sequence[float] = SEED_LR_VALUES,
                  epochs_per_step: int | Sequence[int] | None = None,
                  fractions: Sequence[float] = SEED_FRACTIONS):
    """The seed's piecewise-constant schedule (warmup 1e-5, then 1e-3, 1e-4, 1e-5, 1e-6)
    as a Keras ``PiecewiseConstantDecay`` over optimizer steps.

    The boundary rule, in epochs (the seed changed the rate by epoch):

    * ``epochs_per_step`` = an int ``k``: each value but the last holds ``k`` epochs;
      a sequence: the number of epochs of each value but the last (the last holds
      to the end);
    * otherwise ``epochs`` is required and the boundaries scale with it:
      value ``i + 1`` starts at epoch ``round(fractions[i] * epochs)`` (see
      :func:`seed_epoch_boundaries`): with 20 epochs, epochs 0 / 1-9 / 10-14 /
      15-17 / 18-19.

    The rate changes exactly at the first step of an epoch: epoch ``e`` (0-based)
    runs optimizer steps ``e * steps_per_epoch`` onwards, and since Keras uses
    ``values[i]`` while ``step <= boundaries[i]``, the step boundary is
    ``e * steps_per_epoch - 1``.
    """
    values = [float(v) for v in values]
    if epochs_per_step is not None:
        if isinstance(epochs_per_step, int):
            epochs_per_step = [epochs_per_step] * (len(values) - 1)
        if len(epochs_per_step) != len(values) - 1 or min(epochs_per_step) < 1:
            raise ValueError("epochs_per_step needs one positive count per value but the last")
        starts, total = [], 0
        for k in epochs_per_step:
            total += int(k)
            starts.append(total)
    elif epochs is not None:
        starts = seed_epoch_boundaries(epochs, len(values), fractions)
    else:
        raise ValueError("give epochs (boundaries scale with it) or epochs_per_step")
    boundaries = [int(e * steps_per_epoch - 1) for e in starts]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


@keras.saving.register_keras_serializable(package="lpr")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to ``base_lr`` over ``warmup_steps``, then a half-cosine down to
    ``base_lr * final_ratio`` at ``total_steps`` (and flat after it)::

        lr(t) = base_lr * (start_ratio + (1 - start_ratio) * t / warmup_steps)   t < warmup
        lr(t) = base_lr * (final_ratio + (1 - final_ratio) * (1 + cos(pi * s)) / 2),
                s = min(1, (t - warmup_steps) / (total_steps - warmup_steps))

    The same curve as Keras' ``CosineDecay(start_ratio * base_lr, total - warmup,
    alpha=final_ratio, warmup_target=base_lr, warmup_steps=warmup)``, written out
    here so that the book can show the formula.
    """

    def __init__(self, base_lr: float, warmup_steps: int, total_steps: int,
                 final_ratio: float = 0.0, start_ratio: float = 0.0, name: str = "warmup_cosine"):
        super().__init__()
        if total_steps <= warmup_steps:
            raise ValueError(f"total_steps ({total_steps}) must exceed warmup_steps "
                             f"({warmup_steps})")
        self.base_lr = float(base_lr)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.final_ratio = float(final_ratio)
        self.start_ratio = float(start_ratio)
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = max(self.warmup_steps, 1)
        warmup = self.base_lr * (self.start_ratio + (1.0 - self.start_ratio) * step / warm)
        s = ops.clip((step - self.warmup_steps) / (self.total_steps - self.warmup_steps), 0.0, 1.0)
        cosine = self.base_lr * (self.final_ratio + (1.0 - self.final_ratio)
                                 * 0.5 * (1.0 + ops.cos(math.pi * s)))
        return ops.where(step < self.warmup_steps, warmup, cosine)

    def get_config(self):
        return {"base_lr": self.base_lr, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps, "final_ratio": self.final_ratio,
                "start_ratio": self.start_ratio, "name": self.name}


@keras.saving.register_keras_serializable(package="lpr")
class WarmupSteps(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to ``base_lr`` over ``warmup_steps``, then steps down by ``factor`` at
    each of ``boundaries`` (optimizer steps)::

        lr(t) = base_lr * t / warmup_steps                      t < warmup_steps
        lr(t) = base_lr * factor ** (number of boundaries <= t)  otherwise

    The classic schedule of ResNet training: its last phase runs at the lowest rate, so a run
    that has converged there is flat over it.
    """

    def __init__(self, base_lr: float, warmup_steps: int, boundaries, factor: float = 0.1,
                 name: str = "warmup_steps"):
        super().__init__()
        self.base_lr = float(base_lr)
        self.warmup_steps = int(warmup_steps)
        self.boundaries = [int(b) for b in boundaries]
        if self.boundaries != sorted(self.boundaries):
            raise ValueError(f"boundaries must be increasing, got {self.boundaries}")
        self.factor = float(factor)
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = self.base_lr * step / max(self.warmup_steps, 1)
        passed = ops.zeros_like(step)
        for b in self.boundaries:
            passed = passed + ops.cast(step >= b, "float32")
        stepped = self.base_lr * ops.power(self.factor, passed)
        return ops.where(step < self.warmup_steps, warmup, stepped)

    def get_config(self):
        return {"base_lr": self.base_lr, "warmup_steps": self.warmup_steps,
                "boundaries": self.boundaries, "factor": self.factor, "name": self.name}


class WarmupPlateau(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``base_lr`` over ``warmup_steps``, then ``base_lr`` times ``scale``,
    a variable that :class:`PlateauDrops` lowers when validation stops improving::

        lr(t) = base_lr * scale * min(1, t / warmup_steps)

    (with no warm-up, ``base_lr * scale`` from the first step).
    """

    def __init__(self, base_lr: float, warmup_steps: int, scale: float = 1.0,
                 name: str = "warmup_plateau"):
        super().__init__()
        self.base_lr = float(base_lr)
        self.warmup_steps = int(warmup_steps)
        self.name = name
        self.scale = keras.Variable(float(scale), trainable=False, dtype="float32",
                                    name="lr_scale")

    def __call__(self, step):
        step = ops.cast(step, "float32")
        ramp = ops.minimum(1.0, step / max(self.warmup_steps, 1)) if self.warmup_steps else 1.0
        return self.base_lr * ops.convert_to_tensor(self.scale) * ramp

    def get_config(self):
        return {"base_lr": self.base_lr, "warmup_steps": self.warmup_steps,
                "scale": float(ops.convert_to_numpy(self.scale)), "name": self.name}


def _plateaued(values: list[float], window: int, min_delta: float) -> bool:
    """Whether the best of the last ``window`` values is less than ``min_delta`` above the
    best before them (and there were values before them)."""
    if window < 1 or len(values) <= window:
        return False
    return max(values[-window:]) - max(values[:-window]) < min_delta


class PlateauDrops(keras.callbacks.Callback):
    """Drive a :class:`WarmupPlateau`: after every epoch, when the best ``monitor`` of the last
    ``patience`` epochs at the current rate is less than ``min_delta`` above the best before
    them, multiply the rate by ``factor``; after ``drops`` drops, stop the run once the last
    quarter of its epochs (at least ``patience``, all at the lowest rate) gained less than
    ``min_delta``: the run has converged.

    It adds ``lr_scale`` (the scale the next epoch runs at) and ``stopped`` (1 on the epoch
    after which the run stopped) to the epoch's logs, so ``history.csv`` records them; a
    resumed run passes the rows already done as ``history`` and continues where they left
    off (:meth:`done` tells whether the run had already stopped).
    """

    def __init__(self, schedule: WarmupPlateau, monitor: str = "val_chars_plate_acc",
                 factor: float = 0.1, drops: int = 2, patience: int = 2,
                 min_delta: float = 0.005, history=()):
        super().__init__()
        if not 0.0 < factor < 1.0 or drops < 0 or patience < 1:
            raise ValueError("PlateauDrops needs 0 < factor < 1, drops >= 0 and patience >= 1")
        self.schedule, self.monitor = schedule, monitor
        self.factor, self.drops, self.patience = float(factor), int(drops), int(patience)
        self.min_delta = float(min_delta)
        self.values = [float(row[monitor]) for row in history]
        self.scales = [float(row.get("lr_scale", 1.0)) for row in history]
        self.stopped = bool(history) and bool(int(float(history[-1].get("stopped", 0) or 0)))
        if self.scales:
            self.schedule.scale.assign(self.scales[-1])

    def _drops_done(self) -> tuple[int, int]:
        """``(drops so far, index of the epoch after which the last one came, or -1)``."""
        count, last, previous = 0, -1, 1.0
        for i, scale in enumerate(self.scales):
            if scale < previous:
                count, last = count + 1, i
            previous = scale
        return count, last

    def done(self) -> bool:
        return self.stopped

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        self.values.append(float(logs[self.monitor]))
        scale = float(ops.convert_to_numpy(self.schedule.scale))
        drops, last = self._drops_done()
        at_rate = self.values[last + 1:]  # the epochs run at the current rate
        if drops < self.drops:
            if len(at_rate) > self.patience and _plateaued(at_rate, self.patience,
                                                            self.min_delta):
                scale *= self.factor
                self.schedule.scale.assign(scale)
        else:
            window = max(self.patience, math.ceil(len(self.values) / 4))
            if len(at_rate) >= window and _plateaued(self.values, window, self.min_delta):
                self.stopped = True
                self.model.stop_training = True
        self.scales.append(scale)
        logs["lr_scale"] = scale
        logs["stopped"] = int(self.stopped)


#: The optimizers by their config name (``optimizer.name``)
OPTIMIZERS = ("radam", "adam", "sgd")


def get_optimizer(name: str, learning_rate=1e-3, **kwargs) -> keras.optimizers.Optimizer:
    """An optimizer by its config name: ``"radam"`` (:class:`RAdam`), ``"adam"``
    (``keras.optimizers.Adam``) or ``"sgd"`` (``keras.optimizers.SGD``, momentum 0.9
    unless given). ``learning_rate`` may be a float or a schedule."""
    name = name.lower()
    if name == "radam":
        return RAdam(learning_rate=learning_rate, **kwargs)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate, **kwargs)
    if name == "sgd":
        kwargs.setdefault("momentum", 0.9)
        return keras.optimizers.SGD(learning_rate=learning_rate, **kwargs)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
