"""One experiment = one :class:`ExperimentConfig`; :func:`train` runs it with plain ``model.fit``.

The config (:mod:`lpr_lib.config`, whose names are importable from here too) is a tree of
validated models that round-trips to YAML::

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

Speed on a CPU (see ``experiments/bench_train.py`` and chapter 4): the defaults here are the
settings that study chose.
"""
from __future__ import annotations

import contextlib
import csv
import math
import os
import sys
import time
from pathlib import Path

import keras

from lpr_lib._tf import on_tensorflow, require_tensorflow
from lpr_lib.config import (SCHEDULES, STRATEGIES, ConfigError, DataConfig, ExperimentConfig,
                            LossConfig, ModelConfig, OptimizerConfig, ScheduleConfig,
                            SynthConfig, default_config)
from lpr_lib.plates import kind_indices as _kind_indices
from lpr_lib.repro import REPO_ROOT, RUNS_DIR

__all__ = ["DataConfig", "LossConfig", "OptimizerConfig", "ScheduleConfig", "ModelConfig",
           "ExperimentConfig", "ConfigError", "default_config", "train", "prepare_data",
           "compile_model", "cli_train", "synthetic_folder", "load_history", "RUNS_DIR"]


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
    """``data.mix`` as ``[(source, weight)]``, each path resolved (:func:`_resolve_source`);
    the entries were checked when the config was made (:class:`lpr_lib.config.MixEntry`)."""
    return [(_resolve_source(entry.source), entry.weight) for entry in d.mix]


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
        val_src = synthetic_folder(d.val_size, size, config.seed + 1,  # labels always right
                                   synth=d.synth.override_clean())
    val_ds = None
    if val_src is not None:
        val_ds = make(val_src, augment=False, shuffle=False, repeat=False, **common)
    return train_ds, val_ds, steps


def synthetic_folder(count: int, image_size, seed: int, root: Path | None = None,
                     synth: SynthConfig | dict | None = None) -> Path:
    """Render ``count`` synthetic plates once (in parallel, on every core) into
    ``runs/synth/<count>-<H>x<W>-seed<seed>-g<generator version>[-<settings hash>]/`` (reused
    by later runs and by a resumed run) and return the folder. ``synth``: the generator's
    settings (a ``SynthConfig``, or a mapping of its fields; ``size`` is ``image_size``); the
    hash is that of the settings that differ from the generator's defaults."""
    import hashlib
    import json

    from lpr_lib.synth import GENERATOR_VERSION, generate

    if not isinstance(synth, SynthConfig):
        synth = SynthConfig.from_dict({k: v for k, v in (synth or {}).items() if k != "size"},
                                      source="data.synth")
    changes = synth.changes()
    synth_cfg = SynthConfig.from_dict({**synth.to_dict(), "size": list(image_size)},
                                      source="data.synth")
    root = Path(root) if root is not None else RUNS_DIR / "synth"
    name = f"{count}-{image_size[0]}x{image_size[1]}-seed{seed}-g{GENERATOR_VERSION}"
    if changes:
        digest = hashlib.sha1(json.dumps(changes, sort_keys=True, default=str).encode())
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
    from lpr_lib.optim import (WarmupCosine, WarmupPlateau, WarmupSteps, get_optimizer,
                               seed_schedule)

    s, o = config.schedule, config.optimizer
    total = steps_per_epoch * config.epochs
    if s.name == "seed":
        lr = seed_schedule(steps_per_epoch, epochs=config.epochs)
    elif s.name == "cosine":
        warm = int(round(s.warmup_epochs * steps_per_epoch))
        end = int(round(s.anneal_share * total))  # flat at final_ratio after it
        lr = WarmupCosine(o.learning_rate, warm, max(end, warm + 1), final_ratio=s.final_ratio)
    elif s.name == "constant":
        lr = o.learning_rate
    elif s.name == "plateau":  # PlateauDrops (added by train) lowers it
        lr = WarmupPlateau(o.learning_rate, int(round(s.warmup_epochs * steps_per_epoch)))
    elif s.name == "step":
        lr = WarmupSteps(o.learning_rate, int(round(s.warmup_epochs * steps_per_epoch)),
                         [int(round(f * total)) for f in s.drops_at], factor=s.factor)
    else:
        raise ConfigError(f"schedule.name must be one of {', '.join(SCHEDULES)}, "
                          f"not {s.name!r}")
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


def _holding_run_lock(fn):
    """Run ``train`` holding its run folder's lock (:meth:`lpr_lib.runs.RunFolder.locked`):
    a second run into the same folder, from another process, stops at once with an error
    naming the first; the lock goes when the call ends, however it ends."""
    import functools

    @functools.wraps(fn)
    def locked(config: ExperimentConfig, out_dir=None, *args, **kwargs):
        from lpr_lib.runs import RunFolder

        config.validate()
        out = Path(out_dir) if out_dir is not None else RUNS_DIR / config.name
        with RunFolder(out).locked():
            return fn(config, out_dir, *args, **kwargs)
    return locked


@_holding_run_lock
def train(config: ExperimentConfig, out_dir: str | os.PathLike | None = None,
          train_data=None, val_data=None, steps_per_epoch: int | None = None,
          callbacks=(), overwrite: bool = False, model=None):
    """Train ``config`` into the run folder ``out_dir`` (default ``runs/<name>``); return the
    Keras ``History`` of this call (resumed epochs only, after a restart; the whole run is
    in ``history.csv``). While it trains, the folder's lock file (``.NAME.lock`` beside it:
    pid, host, command) makes a second run into the same folder stop with an error naming
    this one; a lock a crashed run left is cleared.

    ``model``: train this Keras model (its architecture and weights) instead of building
    the config's, as ``lpr prune`` does with a narrower model; the config still gives the
    data, loss, optimizer and schedule (``init_from`` is then refused: the model is the start).

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
    if model is not None and config.init_from:
        raise ConfigError("train(model=...) starts from the model it is given; "
                          f"init_from={config.init_from!r} would overwrite its weights")
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
        if model is None:
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
    plateau = _plateau_drops(model, config, monitor, out, initial_epoch)
    cbs = [
        *_epoch_pins(train_ds),
        EpochSpeed(config.batch_size, steps_per_epoch),
        keras.callbacks.TerminateOnNaN(),
        *([plateau] if plateau else []),
        *callbacks,
        CommitEpochs(run, monitor),  # last: it writes what the others added to the logs
    ]
    if config.tensorboard and _has_tensorboard(out):
        cbs.insert(0, keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False,
                                                  profile_batch=0))
    history = keras.callbacks.History()
    if initial_epoch < config.epochs and not (plateau and plateau.done()):
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


def _plateau_drops(model, config: ExperimentConfig, monitor: str, out: Path,
                   initial_epoch: int):
    """The :class:`~lpr_lib.optim.PlateauDrops` of a ``plateau`` schedule (None for the
    others), carrying on from the committed epochs of a resumed run."""
    if config.schedule.name != "plateau":
        return None
    from lpr_lib.optim import PlateauDrops

    s = config.schedule
    done = load_history(out)[:initial_epoch] if initial_epoch else []
    return PlateauDrops(model.optimizer._learning_rate, monitor, factor=s.factor, drops=s.drops,
                        patience=s.patience, min_delta=s.min_delta, history=done)


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
