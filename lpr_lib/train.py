"""One experiment = one :class:`ExperimentConfig`; :func:`train` runs it with plain ``model.fit``.

The config is a tree of dataclasses that round-trips to YAML::

    cfg = default_config()                 # the book's CPU model on synthetic plates
    cfg = ExperimentConfig.from_yaml("configs/seed_full.yaml")
    cfg = cfg.override(["model.width=0.5", "epochs=3"])   # what `lpr train --set` does
    history = train(cfg, "runs/my_run")

A run folder holds everything a run leaves behind: ``config.yaml``, ``history.csv`` (one
row per epoch, appended on resume), ``last.keras`` and ``best.keras`` (the best
validation plate accuracy), ``backup/`` (BackupAndRestore's state while the run is
unfinished: start the same command again after a kill and it continues from the last
finished epoch), ``logs/`` (TensorBoard) and ``result.json`` (final metrics, seed, git
commit, versions, time).

Speed on a CPU (see ``tools/bench_train.py`` and chapter 4): the defaults here are the
settings that study chose.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import yaml

from lpr_lib._tf import on_tensorflow, require_tensorflow
from lpr_lib.model import ModelConfig
from lpr_lib.plates import kind_indices as _kind_indices
from lpr_lib.repro import DEFAULT_SEED, REPO_ROOT, RUNS_DIR, quick_mode

__all__ = ["DataConfig", "LossConfig", "OptimizerConfig", "ScheduleConfig", "ModelConfig",
           "ExperimentConfig", "ConfigError", "default_config", "train", "prepare_data",
           "compile_model", "cli_train", "synthetic_folder", "load_history", "RUNS_DIR"]


class ConfigError(ValueError):
    """A config file or override that does not fit :class:`ExperimentConfig`."""


@dataclass
class DataConfig:
    #: training data: any format ``data.load_samples`` reads; ``None`` = synthetic plates
    train: str | None = None
    #: validation data; ``None`` = synthetic plates from another seed (or none if val_size=0)
    val: str | None = None
    #: the model's input (H, W), the seed's 48x144: the backbone's last map is 3x9 cells (2x6
    #: at 32x96, which holds every pixel of a real crop at 2.25x fewer pixels but learns far
    #: more slowly: 54.7% against 85.2% of the synthetic validation plates after the same 7
    #: epochs, results/default_input_size_trial.json)
    image_size: list[int] = field(default_factory=lambda: [48, 144])
    #: per-image standardisation (the seed's "whitening"), else scale to [0, 1]
    whiten: bool = True
    #: random geometric/photometric augmentation of training images: true (the defaults of
    #: ``data.AugmentConfig``), false, or a mapping of the ``AugmentConfig`` fields to change
    #: (``{downscale_prob: 0.6, rotation_deg: 6}``)
    augment: bool | dict = True
    #: synthetic plates rendered for training (rendered once in parallel and cached under
    #: runs/synth/, the same set every epoch; augmentation varies)
    synthetic_train: int = 40000
    #: synthetic validation plates (when ``val`` is None and no real data is mixed in); 2,048
    #: puts a plate accuracy near 90% within about +-0.7 points (one standard error)
    val_size: int = 2048
    #: several training sources mixed at weights, instead of ``train``: a list of
    #: ``{source: PATH or "synthetic", weight: W}``; each batch draws an image from source i
    #: with probability W_i / sum(W). Paths are any format ``data.load_samples`` reads.
    mix: list = field(default_factory=list)
    #: generator settings for the synthetic plates (``lpr_lib.synth.SynthConfig`` fields, e.g.
    #: ``{tight_crops: 0.0, provinces: balanced}``); empty = the generator's defaults
    synth: dict = field(default_factory=dict)
    #: share of each real (non-synthetic) source held out for validation, split by plate text
    #: (all crops of one plate on one side); the best checkpoint is chosen on it
    val_split: float = 0.1


@dataclass
class LossConfig:
    #: "ce", "smooth", "focal", "ghm_global", "ghm_labelwise" (lpr_lib.losses.get_loss)
    name: str = "ce"
    label_smoothing: float = 0.1  # "smooth"
    gamma: float = 2.0  # "focal"
    alpha: float | None = 0.25  # "focal"
    bins: int = 30  # GHM
    momentum: float = 0.75  # GHM
    #: weight of the length head's cross-entropy (and of the kind head's)
    length_weight: float = 1.0

    def build(self):
        from lpr_lib.losses import get_loss

        kw = {"smooth": dict(label_smoothing=self.label_smoothing),
              "focal": dict(gamma=self.gamma, alpha=self.alpha),
              "ghm_global": dict(bins=self.bins, momentum=self.momentum),
              "ghm_labelwise": dict(bins=self.bins, momentum=self.momentum)}.get(self.name, {})
        return get_loss(self.name, **kw)


@dataclass
class OptimizerConfig:
    #: "radam" (the seed's), "adam" or "sgd" (lpr_lib.optim.get_optimizer); the default
    #: model uses Adam: in a few-minute budget RAdam's rectified start is too slow (ch. 4)
    name: str = "adam"
    #: the peak learning rate (the "seed" schedule has its own values); 8e-3 read the most
    #: synthetic plates in the default run's budget (results/default_lr_trial.json: 72.9%
    #: after 7 epochs, against 71.1% at 6e-3, 65.8% at 4e-3 and 48.8% at 2e-3)
    learning_rate: float = 8e-3
    clipnorm: float | None = None


@dataclass
class ScheduleConfig:
    #: "seed" (1e-5 warmup, 1e-3, 1e-4, 1e-5, 1e-6 by epoch), "cosine" (warmup + cosine)
    #: or "constant"
    name: str = "cosine"
    warmup_epochs: float = 0.5  # cosine
    final_ratio: float = 0.01  # cosine


@dataclass
class ExperimentConfig:
    name: str = "default"
    seed: int = DEFAULT_SEED
    epochs: int = 9
    batch_size: int = 64
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    #: bit-identical runs for a seed on CPU (TF deterministic ops; a little slower)
    deterministic: bool = False
    #: XLA-compile the training step (the speed study's main win on CPU)
    jit_compile: bool = True
    #: training steps per call into the compiled step (Keras' per-step Python overhead)
    steps_per_execution: int = 1
    #: TensorFlow thread pools; 0 = TensorFlow's choice (set before TF starts)
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    #: "none", "mirrored" (TensorFlow: tf.distribute.MirroredStrategy over all visible
    #: devices) or "data_parallel" (JAX: keras.distribution.DataParallel over all devices)
    strategy: str = "none"
    #: split the CPU into this many logical devices (for MirroredStrategy on one CPU)
    logical_cpus: int = 0
    #: fine-tune: start from the weights of this model (a .keras file or a run folder; the
    #: architecture must match), instead of a random initialisation
    init_from: str | None = None
    #: training steps per epoch; 0 = one pass over the training data (the synthetic set
    #: when the data are mixed)
    steps_per_epoch: int = 0
    #: Keras progress display: 1 = bar, 2 = one line per epoch, 0 = silent
    verbose: int = 2
    #: TensorBoard logs in <run>/logs (when the tensorboard package is installed)
    tensorboard: bool = True

    # ------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        return asdict(self)

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: dict | None, source: str = "config") -> ExperimentConfig:
        """Build from a (possibly partial) dict; missing keys keep their defaults, unknown
        keys raise :class:`ConfigError` naming the key and ``source``."""
        return _from_dict(cls, data or {}, source, prefix="").validate(source)

    def validate(self, source: str = "config") -> ExperimentConfig:
        """Check the values a type check lets through (sizes, counts, ranges); a
        :class:`ConfigError` naming ``source`` and the key. Returns ``self``."""
        d, m = self.data, self.model
        checks = [
            ("epochs", self.epochs >= 1, "must be at least 1"),
            ("batch_size", self.batch_size >= 1, "must be at least 1"),
            ("steps_per_epoch", self.steps_per_epoch >= 0, "must be 0 (one pass) or more"),
            ("steps_per_execution", self.steps_per_execution >= 1, "must be at least 1"),
            ("data.image_size", len(d.image_size) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 16
                for v in d.image_size), "must be [height, width], each an integer >= 16"),
            ("data.synthetic_train", d.synthetic_train >= 1, "must be at least 1"),
            ("data.val_size", d.val_size >= 0, "must be 0 or more"),
            ("data.val_split", 0.0 <= d.val_split < 1.0, "must be in [0, 1)"),
            ("model.width", m.width > 0, "must be > 0"),
            ("model.dropout", 0.0 <= m.dropout < 1.0, "must be in [0, 1)"),
            ("optimizer.learning_rate", self.optimizer.learning_rate >= 0,
             "must be 0 (frozen) or more"),
        ]
        for key, ok, what in checks:
            if not ok:
                value = self.to_dict()
                for part in key.split("."):
                    value = value[part]
                raise ConfigError(f"{source}: {key} {what}, got {value!r}")
        return self

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> ExperimentConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: config file not found")
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
        except UnicodeDecodeError as err:
            raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") \
                from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of config keys, got "
                              f"{type(data).__name__}")
        return cls.from_dict(data, source=str(path))

    def override(self, assignments, source: str = "--set") -> ExperimentConfig:
        """Return a copy with ``KEY=VALUE`` assignments applied (``model.width=0.5``); the
        value is read as YAML (``true``, ``[32, 96]``, ``null``, ``1e-3``)."""
        data = self.to_dict()
        for item in assignments or []:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ConfigError(f"{source}: expected KEY=VALUE, got {item!r}")
            node = data
            parts = key.strip().split(".")
            for part in parts[:-1]:
                if not isinstance(node.get(part), dict):
                    raise ConfigError(f"{source}: unknown config key {key!r}")
                node = node[part]
            if parts[-1] not in node:
                raise ConfigError(f"{source}: unknown config key {key!r}")
            node[parts[-1]] = yaml.safe_load(value)
        return type(self).from_dict(data, source=source)

    def quick(self) -> ExperimentConfig:
        """A seconds-long version for CI (LPR_QUICK=1): a few hundred plates, 1 epoch."""
        return self.override(["epochs=1", "data.synthetic_train=256", "data.val_size=64"])


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (YAML
    itself keeps the last one without a word)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _from_dict(cls, data: dict, source: str, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'config'} must be a mapping, "
                          f"got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: unknown config key {prefix + unknown[0]!r} "
                          f"(known at this level: {', '.join(fields)})")
    kwargs = {}
    for name, value in data.items():
        f = fields[name]
        default = _default(f)
        if dataclasses.is_dataclass(default):
            kwargs[name] = _from_dict(type(default), value or {}, source, prefix + name + ".")
        elif cls is DataConfig and name == "augment" and isinstance(value, dict):
            kwargs[name] = _augment_fields(value, source, prefix + name)
        else:
            kwargs[name] = _coerce(value, default, source, prefix + name)
    return cls(**kwargs)


def _augment_fields(value: dict, source: str, key: str) -> dict:
    """``data.augment`` as a mapping: checked against ``AugmentConfig`` now, not at epoch 1."""
    from lpr_lib.data.augmentation import AugmentConfig

    try:
        AugmentConfig.from_dict(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: {key}: {err}") from None
    return dict(value)


def _default(f):
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def _coerce(value: Any, default: Any, source: str, key: str):
    """Check a value against its field's default type (ints are accepted for floats)."""
    if value is None or default is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, (list, tuple)):
        if isinstance(value, (list, tuple)):
            return list(value)
    else:
        return value
    raise ConfigError(f"{source}: {key} must be a {type(default).__name__}, got {value!r}")


def default_config() -> ExperimentConfig:
    """The book's default: ResNet-18 at width 0.25 (the seed's stem, 384-wide last stage) on
    40,000 synthetic plates at 48x144, 9 epochs: under 15 minutes on 2 CPU cores, rendering
    included (the shipped model ``synthetic``); shrunk to seconds in quick mode
    (``LPR_QUICK=1``)."""
    cfg = ExperimentConfig()
    return cfg.quick() if quick_mode() else cfg


# ------------------------------------------------------------------------ data


def _with_targets(ds, kind_head: bool = False):
    """(images, labels) -> (images, {"chars": labels, "length": 8-character?}) for a
    ``tf.data`` dataset; a :class:`~lpr_lib.data.PlateDataset` makes its targets itself (told
    here whether to add the kind)."""
    from lpr_lib.data.pydataset import PlateDataset

    if isinstance(ds, PlateDataset):
        ds.kind_head = kind_head
        return ds
    tf = require_tensorflow("training from a tf.data dataset")

    def to_targets(images, labels):
        labels = tf.cast(labels, tf.int32)
        y = {"chars": labels, "length": tf.cast(labels[:, 7] >= 0, tf.int32)}
        if kind_head:
            y["kind"] = tf.numpy_function(_kind_indices, [labels], tf.int32)
            y["kind"].set_shape(labels.shape[:1])
        return images, y

    return ds.map(to_targets, num_parallel_calls=tf.data.AUTOTUNE)


def _resolve_source(source: str) -> str:
    """A data path as written in a config: relative to the working folder, else (a notebook in
    ``book/``, a run started elsewhere) to the repository root, where the committed configs'
    paths such as ``../shared/real_plates/train`` start."""
    if source == "synthetic" or Path(source).is_absolute() or Path(source).exists():
        return source
    beside_repo = REPO_ROOT / source
    return str(beside_repo) if beside_repo.exists() else source


def _mix_parts(d: DataConfig) -> list[tuple[str, float]]:
    """``data.mix`` as ``[(source, weight)]``, checked (the error names the entry)."""
    if d.mix and d.train is not None:
        raise ConfigError("data.train and data.mix are exclusive: put the training source in "
                          "data.mix")
    parts = []
    for i, entry in enumerate(d.mix):
        if not isinstance(entry, dict) or set(entry) - {"source", "weight"} \
                or "source" not in entry:
            raise ConfigError(f"data.mix[{i}] must be a mapping {{source: PATH or synthetic, "
                              f"weight: W}}, not {entry!r}")
        weight = entry.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
            raise ConfigError(f"data.mix[{i}].weight must be a positive number, not {weight!r}")
        parts.append((_resolve_source(str(entry["source"])), float(weight)))
    if not 0 <= d.val_split < 1:
        raise ConfigError(f"data.val_split must be in [0, 1), not {d.val_split!r}")
    return parts


def prepare_data(config: ExperimentConfig):
    """Build ``(train_ds, val_ds or None, steps_per_epoch)`` for a config. On TensorFlow's
    backend these are ``tf.data`` datasets of ``(images, labels (B, 8))`` (targets are added by
    :func:`train`); on any other backend, :class:`~lpr_lib.data.PlateDataset` s (NumPy, no
    TensorFlow) that serve the same batches with their targets.

    With ``data.mix``, every real source is split by plate text (``data.val_split``); the
    training stream mixes the synthetic plates and the real crops' training side at their
    weights, and validation is the real crops' held-out side (unless ``data.val`` is given):
    the checkpoint is chosen on real plates, never on a test set.
    """
    from lpr_lib import data

    d, size = config.data, tuple(config.data.image_size)
    common = dict(batch_size=config.batch_size, image_size=size, whiten=d.whiten)
    tf_data = on_tensorflow()
    make = data.make_dataset if tf_data else data.make_pydataset
    mixed = data.mixed_dataset if tf_data else data.mixed_pydataset

    def epoch_of(steps: int) -> dict:  # a PlateDataset's epoch is `steps` batches long
        return {} if tf_data else {"steps": steps}
    parts = _mix_parts(d)
    val_src = d.val
    if parts:
        train_parts, held_out = [], []
        for source, weight in parts:
            check = True
            if source == "synthetic":  # rendered here: no need to decode every image first
                samples = data.load_samples(synthetic_folder(d.synthetic_train, size, config.seed,
                                                             synth=d.synth))
                check = "labels"
            else:
                samples = data.load_samples(source)
                if d.val_split:
                    samples, val = data.split_by_plate(samples, d.val_split, config.seed)
                    held_out += val
            if not samples:
                raise ValueError(f"{source}: no training samples")
            train_parts.append((samples, weight, check))
        synth = [s for (src, _), (s, _, _) in zip(parts, train_parts) if src == "synthetic"]
        n = len(synth[0]) if synth else sum(len(s) for s, _, _ in train_parts)
        steps = config.steps_per_epoch or max(1, n // config.batch_size)
        train_ds = mixed(train_parts, augment=d.augment, seed=config.seed, **common,
                         **epoch_of(steps))
        if val_src is None and held_out:
            val_src = held_out
    else:
        train_src = d.train if d.train is not None else \
            synthetic_folder(d.synthetic_train, size, config.seed, synth=d.synth)
        samples = data.load_samples(train_src)
        if not samples:
            raise ValueError(f"{train_src}: no training samples")
        steps = config.steps_per_epoch or max(1, len(samples) // config.batch_size)
        train_ds = make(samples, augment=d.augment, shuffle=True, seed=config.seed,
                        repeat=True, drop_remainder=True,
                        check=True if d.train is not None else "labels", **common,
                        **epoch_of(steps))
    if val_src is None and d.val_size:
        val_src = synthetic_folder(d.val_size, size, config.seed + 1, synth=d.synth)
    val_ds = None
    if val_src is not None:
        val_ds = make(val_src, augment=False, shuffle=False, repeat=False, **common)
    return train_ds, val_ds, steps


def synthetic_folder(count: int, image_size, seed: int, root: Path | None = None,
                     synth: dict | None = None) -> Path:
    """Render ``count`` synthetic plates once (in parallel, on every core) into
    ``runs/synth/<count>-<H>x<W>-seed<seed>-g<generator version>[-<settings hash>]/`` (reused
    by later runs and by a resumed run) and return the folder. ``synth``: generator settings
    (``SynthConfig`` fields) other than its defaults."""
    import hashlib
    import json

    from lpr_lib.synth import GENERATOR_VERSION, SynthConfig, generate

    try:
        synth_cfg = SynthConfig.from_dict({**(synth or {}), "size": list(image_size)})
    except (TypeError, ValueError) as err:
        raise ConfigError(f"data.synth: {err}") from None
    root = Path(root) if root is not None else RUNS_DIR / "synth"
    name = f"{count}-{image_size[0]}x{image_size[1]}-seed{seed}-g{GENERATOR_VERSION}"
    if synth:
        digest = hashlib.sha1(json.dumps(synth, sort_keys=True, default=str).encode())
        name += "-" + digest.hexdigest()[:8]
    folder = root / name
    if not (folder / "labels.txt").is_file():  # generate() renames a complete folder in
        try:
            generate(count, folder, seed=seed, size=tuple(image_size), config=synth_cfg,
                     progress=False)
        except FileExistsError:
            if not (folder / "labels.txt").is_file():  # not a concurrent run's finished set
                raise
    return folder


# ------------------------------------------------------------------------ training


def compile_model(model, config: ExperimentConfig, steps_per_epoch: int):
    """Compile ``model`` with the config's loss, optimizer, schedule and metrics."""
    from lpr_lib.losses import state_metrics
    from lpr_lib.metrics import PlateAccuracy
    from lpr_lib.optim import WarmupCosine, get_optimizer, seed_schedule

    s, o = config.schedule, config.optimizer
    total = steps_per_epoch * config.epochs
    if s.name == "seed":
        lr = seed_schedule(steps_per_epoch, epochs=config.epochs)
    elif s.name == "cosine":
        warm = int(round(s.warmup_epochs * steps_per_epoch))
        lr = WarmupCosine(o.learning_rate, warm, max(total, warm + 1), final_ratio=s.final_ratio)
    elif s.name == "constant":
        lr = o.learning_rate
    else:
        raise ConfigError(f"schedule.name must be 'seed', 'cosine' or 'constant', not {s.name!r}")
    opt_kw = {"clipnorm": o.clipnorm} if o.clipnorm else {}
    chars_loss = config.loss.build()
    losses = {"chars": chars_loss, "length": keras.losses.SparseCategoricalCrossentropy()}
    weights = {"chars": 1.0, "length": config.loss.length_weight}
    # state_metrics: GHM's histogram persists across steps on JAX too (lpr_lib.losses.LossState)
    metrics = {"chars": [PlateAccuracy(), *state_metrics(chars_loss)], "length": ["accuracy"]}
    if "kind" in model.output:
        losses["kind"] = keras.losses.SparseCategoricalCrossentropy()
        weights["kind"] = config.loss.length_weight
        metrics["kind"] = ["accuracy"]
    jit = config.jit_compile
    if jit and keras.backend.backend() == "tensorflow" and _replicas() > 1:
        # XLA cannot place a replica's variables on another logical device (TF known issue)
        print("note: jit_compile is off under a multi-replica strategy", file=sys.stderr)
        jit = False
    model.compile(optimizer=get_optimizer(o.name, learning_rate=lr, **opt_kw), loss=losses,
                  loss_weights=weights, metrics=metrics, jit_compile=jit,
                  steps_per_execution=config.steps_per_execution)
    return model


def _replicas() -> int:
    """Replicas of the current ``tf.distribute`` strategy; 1 on the other backends."""
    if not on_tensorflow():
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def configure_tensorflow(config: ExperimentConfig) -> None:
    """Thread pools and logical CPUs: these only work before TensorFlow initialises its
    devices, so call this first (``train`` does). A clear error if it is too late. On the
    other backends, ``logical_cpus`` is a :class:`ConfigError` and the thread settings are
    ignored with a note (TensorFlow is not imported)."""
    if not on_tensorflow():
        _refuse_tensorflow_only(config)
        if config.intra_op_threads or config.inter_op_threads:
            print("note: intra_op_threads / inter_op_threads are TensorFlow's thread pools: "
                  f"ignored on the {keras.backend.backend()} backend", file=sys.stderr)
        return
    import tensorflow as tf

    try:
        if config.intra_op_threads:
            tf.config.threading.set_intra_op_parallelism_threads(config.intra_op_threads)
        if config.inter_op_threads:
            tf.config.threading.set_inter_op_parallelism_threads(config.inter_op_threads)
        if config.logical_cpus > 1:
            cpu = tf.config.list_physical_devices("CPU")[0]
            current = tf.config.get_logical_device_configuration(cpu)
            if not current or len(current) != config.logical_cpus:
                tf.config.set_logical_device_configuration(
                    cpu, [tf.config.LogicalDeviceConfiguration()] * config.logical_cpus)
    except RuntimeError as err:
        raise RuntimeError(
            "threads / logical_cpus must be set before TensorFlow starts (run the training in "
            f"a fresh process, e.g. `lpr train`): {err}") from None


def _refuse_tensorflow_only(config: ExperimentConfig) -> None:
    """A :class:`ConfigError` for the settings that only TensorFlow's backend has."""
    backend = keras.backend.backend()
    if config.logical_cpus > 1:
        raise ConfigError(f"logical_cpus={config.logical_cpus} splits the CPU into TensorFlow "
                          f"devices; it needs KERAS_BACKEND=tensorflow (the backend is "
                          f"{backend}): set logical_cpus=0")
    _known_strategy(config)
    if config.strategy == "mirrored":
        raise ConfigError(f"strategy 'mirrored' is tf.distribute.MirroredStrategy; it needs "
                          f"KERAS_BACKEND=tensorflow (the backend is {backend}): set "
                          "strategy=none")


class _NoStrategy:
    """Stands in for ``tf.distribute``'s default strategy on the other backends."""

    num_replicas_in_sync = 1

    def scope(self):
        return contextlib.nullcontext()


STRATEGIES = ("none", "mirrored", "data_parallel")


def _known_strategy(config: ExperimentConfig) -> None:
    if config.strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {', '.join(map(repr, STRATEGIES))}, not "
                          f"{config.strategy!r}")


def _data_parallel(config: ExperimentConfig) -> None:
    """``keras.distribution.DataParallel`` over every device JAX sees: the model replicated,
    each batch split between the devices (so ``batch_size`` must divide among them)."""
    backend = keras.backend.backend()
    if backend != "jax":
        raise ConfigError(f"strategy 'data_parallel' is keras.distribution.DataParallel, which "
                          f"Keras implements for JAX (the backend is {backend}): on TensorFlow "
                          "use strategy=mirrored")
    devices = keras.distribution.list_devices()
    if config.batch_size % len(devices):
        raise ConfigError(f"batch_size={config.batch_size} does not split evenly over the "
                          f"{len(devices)} devices of strategy 'data_parallel'")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    print(f"data_parallel: each batch split over {len(devices)} devices "
          f"({', '.join(devices)})", file=sys.stderr)


def _strategy(config: ExperimentConfig):
    if config.strategy == "data_parallel":
        _data_parallel(config)
        return _NoStrategy()
    if not on_tensorflow():
        _refuse_tensorflow_only(config)  # which refuses an unknown strategy too
        return _NoStrategy()
    _known_strategy(config)
    import tensorflow as tf

    if config.strategy == "none":
        return tf.distribute.get_strategy()
    devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
        [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=devices)


class EpochSpeed(keras.callbacks.Callback):
    """Adds ``seconds`` and ``img_per_s`` (training images per second, validation included
    in the time) of each epoch to the logs, so that CSVLogger writes them."""

    def __init__(self, batch_size: int, steps: int):
        super().__init__()
        self.images = batch_size * steps

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        dt = time.perf_counter() - self.t0
        if logs is not None:
            logs["seconds"] = round(dt, 2)
            logs["img_per_s"] = round(self.images / dt, 1)


def train(config: ExperimentConfig, out_dir: str | os.PathLike | None = None,
          train_data=None, val_data=None, steps_per_epoch: int | None = None,
          callbacks=(), overwrite: bool = False):
    """Train ``config`` into the run folder ``out_dir`` (default ``runs/<name>``); return the
    Keras ``History`` of this call (resumed epochs only, after a restart; the whole run is
    in ``history.csv``).

    ``train_data`` / ``val_data``: optional ``tf.data`` datasets of ``(images, labels)``, or
    :class:`~lpr_lib.data.PlateDataset` s (any backend), to use instead of the config's data
    (then ``steps_per_epoch`` is required when ``train_data`` repeats). Running the same
    call again after a kill resumes after the last committed epoch (:mod:`lpr_lib.runs`).
    The config and the data are checked before the run folder is touched; a folder that
    holds a finished run, or a run started with another config, is refused unless
    ``overwrite`` (the old run is then kept aside until the new one has committed its first
    epoch).
    """
    from lpr_lib.model import build_model, count_flops, count_params
    from lpr_lib.repro import set_seed, write_result
    from lpr_lib.runs import CommitEpochs, RunFolder

    started = time.time()
    config.validate()
    out = Path(out_dir) if out_dir is not None else RUNS_DIR / config.name
    run = RunFolder(out)
    mode = run.check_can_train(config.to_dict(), overwrite)
    configure_tensorflow(config)
    set_seed(config.seed, deterministic=config.deterministic)

    if train_data is None:
        train_data, cfg_val, steps = prepare_data(config)
        val_data = cfg_val if val_data is None else val_data
        steps_per_epoch = steps_per_epoch or steps
    elif steps_per_epoch is None:
        steps_per_epoch = _batches_per_pass(train_data)
    kind = config.model.kind_head
    train_ds = _with_targets(train_data, kind)
    val_ds = _with_targets(val_data, kind) if val_data is not None else None

    strategy = _strategy(config)
    with strategy.scope():
        model = build_model(config)
        if config.init_from and mode != "resume":
            _load_initial_weights(model, config.init_from)
        compile_model(model, config, steps_per_epoch)

    if mode == "overwrite":
        print(f"replacing the run in {out} (the old one is kept in {run.replaced_path()} "
              "until the first epoch is saved)", file=sys.stderr)
    run.begin(mode, config.to_yaml())  # the first write into the run folder
    initial_epoch = 0
    if mode == "resume":
        state = run.state()
        initial_epoch = state.epochs_done
        if initial_epoch < config.epochs:  # else only the run's last writes are missing
            checkpoint, state = run.resume_checkpoint(state)
            initial_epoch = state.epochs_done
            if checkpoint is not None:
                model.optimizer.build(model.trainable_variables)
                model.load_weights(checkpoint)

    monitor = "val_chars_plate_acc" if val_ds is not None else "chars_plate_acc"
    cbs = [
        *_epoch_pins(train_ds),
        EpochSpeed(config.batch_size, steps_per_epoch),
        keras.callbacks.TerminateOnNaN(),
        *callbacks,
        CommitEpochs(run, monitor),  # last: it writes what the others added to the logs
    ]
    if config.tensorboard and _has_tensorboard(out):
        cbs.insert(0, keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False,
                                                  profile_batch=0))
    history = keras.callbacks.History()
    if initial_epoch < config.epochs:
        history = model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                            initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                            callbacks=cbs, verbose=config.verbose,
                            shuffle=False)  # the dataset shuffles

    rows = _read_history(out / "history.csv")
    final = rows[-1] if rows else {}
    if final and any(isinstance(v, float) and math.isnan(v) for v in final.values()):
        print(f"warning: the run {out} ended with NaN in its logs", file=sys.stderr)
    write_result("result", {
        "run": str(out), "epochs_done": len(rows), "final": final,
        "best": {monitor: run.state().best_value},
        "params": count_params(model), "macs": count_flops(model)["macs"],
        "steps_per_epoch": steps_per_epoch,
    }, config=config.to_dict(), seed=config.seed, started=started, directory=out)
    run.finish()
    return history


def _epoch_pins(train_ds) -> list:
    """A :class:`~lpr_lib.data.PlateDataset` learns each epoch's number from ``fit`` (so a
    resumed run sees the batches the first would have); ``tf.data`` needs nothing."""
    from lpr_lib.data.pydataset import PinEpoch, PlateDataset

    return [PinEpoch(train_ds)] if isinstance(train_ds, PlateDataset) else []


def _load_initial_weights(model, source) -> None:
    """Copy the weights of a trained model (file or run folder) into ``model``, layer by
    layer; a clear error when the two architectures differ."""
    from lpr_lib.predict import load_model

    trained = load_model(source)
    ours = {w.path: w for w in model.weights}
    theirs = {w.path: w for w in trained.weights}
    if set(ours) != set(theirs) or any(ours[k].shape != theirs[k].shape for k in ours):
        raise ConfigError(f"init_from {source}: its architecture differs from this config's "
                          f"model ({trained.name} vs {model.name}); fine-tune with the same "
                          "model section")
    for key, w in ours.items():
        w.assign(theirs[key])


def _has_tensorboard(out: Path) -> bool:
    """Whether the TensorBoard callback can write ``<out>/logs`` (it writes through
    ``tf.summary``: on the other backends it is left out, and TensorFlow not imported)."""
    import importlib.util

    if not on_tensorflow():
        print(f"note: no TensorBoard logs in {out / 'logs'} on the {keras.backend.backend()} "
              "backend (Keras writes them through TensorFlow); history.csv has every epoch",
              file=sys.stderr)
        return False
    if importlib.util.find_spec("tensorboard") is None:
        print("note: TensorBoard is not installed (pip install tensorboard): no logs/ written",
              file=sys.stderr)
        return False
    return True


def _batches_per_pass(ds) -> int:
    """Batches in one pass of a finite dataset (``tf.data`` or ``PyDataset``); a
    ``ValueError`` when it repeats or its size is unknown."""
    n = len(ds) if hasattr(ds, "__len__") and not hasattr(ds, "cardinality") \
        else int(ds.cardinality())
    if n <= 0:
        raise ValueError("train_data repeats (or its size is unknown): give steps_per_epoch")
    return n


def _read_history(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return [{k: _num(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _num(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        try:
            return float(v)
        except (TypeError, ValueError):
            return v


def load_history(run_dir) -> list[dict]:
    """The per-epoch rows of a run's ``history.csv`` (the whole run, resumes included; only
    committed epochs: not the row of an epoch a kill cut short while it was being saved)."""
    from lpr_lib.runs import RunFolder

    path = Path(run_dir) / "history.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no history (is {run_dir} a run folder?)")
    rows = _read_history(path)
    state = RunFolder(run_dir).state()
    return rows[:state.epochs_done] if state is not None else rows


def cli_train(args) -> int:
    """``lpr train [CONFIG.yaml] [--out DIR] [--epochs N] [--set KEY=VALUE ...]``."""
    cfg = ExperimentConfig.from_yaml(args.config) if args.config else default_config()
    cfg = cfg.override(args.set or [])
    if args.epochs is not None:
        cfg = cfg.override([f"epochs={args.epochs}"], source="--epochs")
    out = Path(args.out) if args.out else RUNS_DIR / cfg.name
    print(f"training {cfg.name!r} into {out} ({cfg.model.backbone} width {cfg.model.width:g}, "
          f"{cfg.epochs} epochs; run the same command again to resume after a stop)")
    train(cfg, out, overwrite=args.overwrite)
    print(f"done: {out}/best.keras, history in {out}/history.csv")
    return 0
