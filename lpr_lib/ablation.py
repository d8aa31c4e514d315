"""The ablation table: every row of the seed's recipe trained, measured and summarised.

A row is a config, not a code path: ``configs/ablation/<row>.yaml`` holds what the row
changes (``config:``, a partial :class:`~lpr_lib.config.ExperimentConfig`), the row it builds
on (``base:``), the seed's own figures (``seed_result:``) and, for v7, the pruning step
(``prune: {ratio, epochs}``). The experiment a job trains is, merged in this order::

    ExperimentConfig defaults  <-  scale_book.yaml (or scale_full.yaml, --full)
                               <-  the row (its bases first)
                               <-  data_synthetic.yaml or data_mixed.yaml
                               <-  name and seed

``lpr ablate`` trains every (seed, data setting, row) job in that order, seed first, so that
the first pass over the table gives one seed of every row. Each job:

1. trains into ``runs/ablation/<scale>/<data>/<row>/seed<N>`` (:func:`lpr_lib.train.train`:
   resumable after a kill), then prunes and fine-tunes it when the row says so;
2. measures its best checkpoint (chosen on validation) on its validation split, on the
   synthetic validation plates, on ``../shared/real_plates/test`` (when present) and on a
   synthetic test of the plate kinds the real photographs lack: plate accuracy, and precision
   and recall at confidence 0.85 and at the threshold that reads 99.9% precision on the
   validation split (chosen there, applied to the tests), for a plate's confidence taken
   both as the product of its characters' top probabilities and as the least sure one's;
3. writes ``results/ablation/<scale>/<data>/<row>-seed<N>.json`` (config, seed, commit,
   versions, wall time, history, the figures; the trained model beside it when it is
   small), then ``results/ablation/<scale>/summary.csv`` (mean and spread over seeds) and
   ``runs.csv`` (one line a job).

A job whose result file exists (with the same config) is skipped, so running the command
again after a kill continues where it stopped. ``lpr ablate --close`` then gives a third seed
to the rows of every pair whose difference is at most twice its spread (:func:`close_jobs`),
and ``lpr ablate --remeasure`` measures finished jobs again from their trained models when
:func:`measure` has learned to record more (:func:`remeasure_job`).
"""
from __future__ import annotations

import csv
import io
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lpr_lib.config import ConfigError, ExperimentConfig, parse_yaml
from lpr_lib.repro import REPO_ROOT, RESULTS_DIR, RUNS_DIR, SHARED_REAL

__all__ = ["ROWS", "EXTRA_ROWS", "DISSECTION", "NOISE", "DATA_SETTINGS", "SCALES", "SEEDS",
           "ROWS_DIR", "Row", "load_row",
           "row_config", "Job", "plan", "run_job", "summarise", "summary_lines",
           "load_results", "judge", "compare", "PRIMARY", "CLOSE_FACTOR", "close_pairs",
           "close_rows", "close_jobs", "paired", "prune_epochs", "unresolved_jobs",
           "MORE_SEEDS", "CONVERGED_GAIN", "remeasure_job",
           "finished_jobs", "MEASURE_VERSION",
           "cli_ablate"]

ROWS_DIR = REPO_ROOT / "configs" / "ablation"
#: the table's rows, in the seed's order (v4.3-v4.5 and v7 the seed never measured)
ROWS = ("baseline", "v1", "v2", "v3", "v4.0", "v4-radam", "v4.1", "v4.2", "v4.3", "v4.4",
        "v4.5", "v5", "v6", "v6-multi", "v7", "final", "final-flatten")
#: the rows that test GHM against label noise (synthetic data): cross-entropy, global and
#: label-wise GHM with 5% and 15% of the training labels wrong (0% is the table's own rows)
NOISE = tuple(f"{r}-noise{n}" for r in ("v4.0", "v6", "v6-multi") for n in (5, 15))
#: rows the chapters add beside the table (``lpr ablate --rows ...`` runs them; the default
#: plan does not): warm-up off for Adam and RAdam, the focal loss, the dissection of the
#: seed's final recipe (:data:`DISSECTION`) and GHM under label noise (:data:`NOISE`)
EXTRA_ROWS = ("v4.0-nowarmup", "v4-radam-nowarmup", "v4.0-focal", "final-cosine",
              *("final-ce", "final-adam", "final-flathead", "final-nol1", "final-l2gamma"),
              "final-steps8", *NOISE)
#: the rows that dissect the seed's final recipe: each replaces one of its parts by the
#: book's choice (``final-cosine`` its schedule, ``final-l2gamma`` the other reading of its
#: BatchNorm penalty; ``final-steps8`` keeps the seed's steps at the book's peak rate)
DISSECTION = ("final", "final-ce", "final-adam", "final-cosine", "final-flathead",
              "final-nol1", "final-l2gamma", "final-steps8")
DATA_SETTINGS = ("synthetic", "mixed")
#: the scales: one ``configs/ablation/scale_<name>.yaml`` each, the book's first
SCALES = ("book", *sorted(p.stem[len("scale_"):] for p in ROWS_DIR.glob("scale_*.yaml")
                          if p.stem != "scale_book"))
#: the seeds of the table; apart by more than one, since a run's synthetic validation plates
#: are rendered with its seed + 1 (no seed's validation set is another seed's training set)
SEEDS = (2026, 3031, 4036)
#: the seed's later threshold
THRESHOLD = 0.85
#: a trained model is copied next to its result file when it is at most this big
SMALL_MODEL_BYTES = 2_000_000
#: the plate kinds the real photographs have (all 7-character single-row blue and yellow);
#: the synthetic kinds test covers the others
REAL_KINDS = ("blue", "yellow")
#: plates a kind in the synthetic kinds test (the shipped models' test set, cached)
KINDS_PER_KIND = 200
#: what :func:`measure` records; 2 added the least sure character's confidence ("min") beside
#: the product. ``lpr ablate --remeasure`` brings older results up to it.
MEASURE_VERSION = 2


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ablation config not found")
    data, _ = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping, got {type(data).__name__}")
    return data


def _merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``, mappings merged key by key (lists are replaced)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Row:
    """One row of the table, its bases resolved: ``config`` is the partial experiment config
    the row (with everything it builds on) sets."""

    name: str
    description: str
    bases: tuple[str, ...]
    config: dict
    seed_result: dict | None
    prune: dict | None


_ROW_KEYS = {"row", "base", "seed_result", "prune", "config"}


def load_row(name: str, rows_dir: Path | None = None) -> Row:
    """The row ``name`` from ``configs/ablation/<name>.yaml``, merged over its bases."""
    rows_dir = Path(rows_dir or ROWS_DIR)
    chain, seen = [], set()
    current = name
    while current is not None:
        if current in seen:
            names = " -> ".join([n for n, _ in chain] + [current])
            raise ConfigError(f"{rows_dir}: the rows {names} build on each other in a circle")
        seen.add(current)
        path = rows_dir / f"{current}.yaml"
        data = _read_yaml(path)
        unknown = set(data) - _ROW_KEYS
        if unknown:
            raise ConfigError(f"{path}: unknown ablation key(s) {sorted(unknown)}; "
                              f"known: {', '.join(sorted(_ROW_KEYS))}")
        if data.get("row", current) != current:
            raise ConfigError(f"{path}: says it is row {data['row']!r}, but its file is "
                              f"named for {current!r}")
        chain.append((current, data))
        current = data.get("base")
    config, prune = {}, None
    for _, data in reversed(chain):
        config = _merge(config, data.get("config") or {})
        prune = data.get("prune", prune)
    head = chain[0][1]
    if prune is not None and not (isinstance(prune, dict)
                                  and set(prune) <= {"ratio", "epochs", "share"}
                                  and not {"epochs", "share"} <= set(prune)
                                  and 0 <= prune.get("ratio", -1) < 1
                                  and 0 < prune.get("share", 0.5) < 1):
        raise ConfigError(f"{rows_dir / (name + '.yaml')}: prune must be "
                          f"{{ratio: in [0, 1), epochs: N}} or {{ratio: R, share: S in (0, 1)}},"
                          f" got {prune!r}")
    text = (rows_dir / f"{name}.yaml").read_text(encoding="utf-8")
    description = " ".join(line.lstrip("# ").strip() for line in text.splitlines()
                           if line.startswith("#"))
    return Row(name, description, tuple(n for n, _ in chain[1:]), config,
               head.get("seed_result"), prune)


def row_config(row: str | Row, data: str, seed: int, scale: str = "book",
               rows_dir: Path | None = None) -> ExperimentConfig:
    """The experiment of ``row`` for the data setting ``data`` and ``seed`` at ``scale``."""
    rows_dir = Path(rows_dir or ROWS_DIR)
    if data not in DATA_SETTINGS:
        raise ConfigError(f"unknown data setting {data!r}; known: {', '.join(DATA_SETTINGS)}")
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}")
    row = load_row(row, rows_dir) if isinstance(row, str) else row
    tree = _read_yaml(rows_dir / f"scale_{scale}.yaml")
    tree = _merge(tree, row.config)
    tree = _merge(tree, _read_yaml(rows_dir / f"data_{data}.yaml"))
    tree = _merge(tree, {"name": f"ablation-{scale}-{data}-{row.name}-seed{seed}",
                         "seed": int(seed)})
    if row.prune and "share" in row.prune:  # the fine-tuning's epochs come out of the budget
        tree["epochs"] -= prune_epochs(row, tree["epochs"])
    return ExperimentConfig.from_dict(tree, source=f"ablation row {row.name} ({data}, {scale})")


def prune_epochs(row: Row, budget: int) -> int:
    """The fine-tuning epochs after ``row``'s cut: ``prune.epochs``, or ``prune.share`` of the
    scale's ``budget`` epochs (at least one, and one fewer than the budget), which
    :func:`row_config` then takes off the sparsity training so that training, cut and
    fine-tuning together take the budget of every other row."""
    if "share" not in row.prune:
        return int(row.prune.get("epochs", 1))
    return min(max(1, round(row.prune["share"] * budget)), budget - 1)


@dataclass(frozen=True)
class Job:
    row: str
    data: str
    seed: int
    scale: str = "book"

    @property
    def key(self) -> str:
        return f"{self.data}/{self.row}-seed{self.seed}"

    def run_dir(self, runs_root: Path) -> Path:
        return runs_root / self.scale / self.data / self.row / f"seed{self.seed}"

    def result_path(self, results_root: Path) -> Path:
        return results_root / self.scale / self.data / f"{self.row}-seed{self.seed}.json"


def plan(rows=ROWS, data=DATA_SETTINGS, seeds=SEEDS, scale: str = "book") -> list[Job]:
    """Every job, seed first, then data setting, then row (a first pass gives every row)."""
    unknown = [r for r in rows if r not in ROWS + EXTRA_ROWS]
    if unknown:
        raise ConfigError(f"unknown ablation row(s) {unknown}; rows: "
                          f"{', '.join(ROWS + EXTRA_ROWS)}")
    return [Job(r, d, int(s), scale) for s in seeds for d in data for r in rows]


# ------------------------------------------------------------------ measuring one job


def _at(confidence, correct, threshold):
    """Precision and recall at ``threshold`` (None for no threshold)."""
    from lpr_lib.metrics import precision_recall_at

    if threshold is None:
        return {"threshold": None, "precision": None, "recall": None}
    p, r = precision_recall_at(confidence, correct, [threshold])
    p = None if np.isnan(p[0]) else float(p[0])
    return {"threshold": float(threshold), "precision": p, "recall": float(r[0])}


def _scores(model, source, diagnostics: dict | None = None):
    """``(correct, product confidence, min confidence, char accuracy)`` of ``model`` on
    ``source``; with a ``diagnostics`` dict, add the reliability diagram, the density of GHM's
    gradient norm and the confidence histograms (:mod:`lpr_lib.trace`) to it."""
    from lpr_lib.evaluate import predict_dataset
    from lpr_lib.metrics import char_accuracy, decode, plate_confidence, plate_correct
    from lpr_lib.trace import confidence_histograms, g_density, reliability

    outputs, labels = predict_dataset(model, source)
    pred, top = decode(outputs["chars"], outputs.get("length"))
    correct = plate_correct(pred, labels)
    conf = plate_confidence(top, pred, "product", outputs.get("length"))
    least = plate_confidence(top, pred, "min", outputs.get("length"))
    if diagnostics is not None:
        diagnostics.update(reliability=reliability(outputs["chars"], labels),
                           g_density=g_density(outputs["chars"], labels),
                           confidence=confidence_histograms(conf, correct))
    return correct, conf, least, float(char_accuracy(pred, labels))


#: the lighting changes of the robustness test: (name, gain, contrast) on [0, 1] images,
#: ``x -> clip(0.5 + (gain * x - 0.5) * contrast)``
LIGHTING = (("as rendered", 1.0, 1.0), ("dark (x0.5)", 0.5, 1.0), ("dim (x0.75)", 0.75, 1.0),
            ("bright (x1.4)", 1.4, 1.0), ("low contrast (x0.5)", 1.0, 0.5),
            ("high contrast (x1.5)", 1.0, 1.5))


def lighting_robustness(model, source, whiten: bool, limit: int = 1024) -> dict:
    """Plate accuracy of ``model`` on the first ``limit`` plates of ``source`` under each
    change of :data:`LIGHTING`, applied to the image before the model's preprocessing (so a
    whitening model sees it whitened away, as it would see a darker photograph)."""
    import tensorflow as tf

    from lpr_lib import data
    from lpr_lib.data.preprocessing import decode_image, preprocess
    from lpr_lib.metrics import decode, plate_correct

    samples = data.load_samples(source)[:limit]
    size = tuple(model.input.shape[1:3])
    raw = np.stack([decode_image(tf.io.read_file(str(s.path)), size).numpy()
                    for s in samples]).astype(np.float32) / 255.0
    labels = np.stack([s.labels for s in samples])
    out = {}
    for name, gain, contrast in LIGHTING:
        x = np.clip(0.5 + (gain * raw - 0.5) * contrast, 0.0, 1.0)
        outputs = [model.predict_on_batch(preprocess(x[i:i + 256], size, whiten))
                   for i in range(0, len(x), 256)]
        probs = np.concatenate([np.asarray(o["chars"]) for o in outputs])
        lengths = np.concatenate([np.asarray(o["length"]) for o in outputs]) \
            if "length" in outputs[0] else None
        pred, _ = decode(probs, lengths)
        out[name] = float(plate_correct(pred, labels).mean())
    return {"n": len(samples), "accuracy": out}


def measure(model, config: ExperimentConfig, real_test=SHARED_REAL / "test",
            lighting: bool = True) -> dict:
    """The job's figures: see the module's docstring. The 99.9%-precision thresholds (one for
    the product confidence, one for the least sure character's, under ``"min"``) are chosen
    on the run's validation split (:func:`lpr_lib.models.ship.validation_source`).
    ``lighting=False`` leaves out the lighting test (:func:`lighting_robustness`), the
    slowest part."""
    from lpr_lib.metrics import SPEC_PRECISION, threshold_for_precision
    from lpr_lib.models.ship import kinds_test_sets, validation_source
    from lpr_lib.train import synthetic_folder

    size = tuple(config.data.image_size)
    tests = {"synthetic_val": synthetic_folder(config.data.val_size or 2048, size,
                                               config.seed + 1,
                                               synth=config.data.synth.override_clean())}
    if Path(real_test).is_dir():
        tests["real_test"] = Path(real_test)

    def scored(source):
        diag = {}
        return (*_scores(model, source, diag), diag)
    scores = {name: scored(source) for name, source in tests.items()}
    val_source = validation_source(config)
    # a synthetic-only run validates on its synthetic validation plates: read them once
    correct, conf, least, chars, _ = scores["synthetic_val"] \
        if val_source == tests["synthetic_val"] else scored(val_source)

    def chosen(confidence):  # the threshold for 99.9% precision on the validation split
        op = threshold_for_precision(confidence, correct, SPEC_PRECISION)
        return op["threshold"] if op is not None else None
    t999, t999_min = chosen(conf), chosen(least)

    def figures(c, p, m, **more):
        """the product confidence's figures, and the least sure character's under "min"."""
        return {"n": int(len(c)), "plate_accuracy": float(c.mean()), **more,
                "at_0.85": _at(p, c, THRESHOLD), "at_99.9": _at(p, c, t999),
                "min": {"at_0.85": _at(m, c, THRESHOLD), "at_99.9": _at(m, c, t999_min)}}

    out = {"validation": figures(correct, conf, least, char_accuracy=chars)}
    for name, (c, p, m, ch, diag) in scores.items():
        out[name] = {**figures(c, p, m, char_accuracy=ch), **diag}
    if lighting:
        out["lighting"] = lighting_robustness(model, tests["synthetic_val"],
                                              config.data.whiten)
    kinds, parts = {}, []
    for kind, folder in kinds_test_sets(size, per_kind=KINDS_PER_KIND).items():
        if kind in REAL_KINDS:
            continue
        c, p, m, _ = _scores(model, folder)
        kinds[kind] = float(c.mean())
        parts.append((c, p, m))
    out["kinds_test"] = figures(*map(np.concatenate, zip(*parts)), per_kind=kinds)
    out["measure_version"] = MEASURE_VERSION
    return out


#: settings that say how a job runs, not what it trains: a result made with other values of
#: them is still the job's result (the run's ``name`` names the scale, and a scale renamed
#: keeps its results; XLA, threads and the like change the speed, not the recipe)
EXECUTION_KEYS = ("name", "deterministic", "jit_compile", "steps_per_execution",
                  "intra_op_threads", "inter_op_threads", "strategy", "logical_cpus",
                  "verbose", "tensorboard")


def _recipe(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in EXECUTION_KEYS}


def _same_config(path: Path, config: ExperimentConfig) -> bool:
    """Whether the result file ``path`` was made with ``config``'s recipe: keys a later
    version added are read at their defaults (as a run folder reads its stored config), and
    :data:`EXECUTION_KEYS` are not compared."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))["meta"]["config"]
        stored = ExperimentConfig.from_dict(stored).to_dict()
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return _recipe(stored) == _recipe(config.to_dict())


def _job_files(job: Job, runs_root, results_root, rows_dir):
    """``(runs root, row, config, result file)`` of ``job``, the roots' defaults filled in."""
    row = load_row(job.row, rows_dir)
    config = row_config(row, job.data, job.seed, job.scale, rows_dir)
    return (Path(runs_root or RUNS_DIR / "ablation"), row, config,
            job.result_path(Path(results_root or RESULTS_DIR / "ablation")))


def run_job(job: Job, runs_root: Path | None = None, results_root: Path | None = None,
            real_test=SHARED_REAL / "test", rows_dir: Path | None = None) -> Path:
    """Train, (prune,) measure and record one job; return its result file. A job whose
    result file already holds this config is not run again."""
    from lpr_lib.model import count_flops, count_params
    from lpr_lib.predict import load_model
    from lpr_lib.prune import prune_run
    from lpr_lib.repro import write_result
    from lpr_lib.trace import TrainingTrace
    from lpr_lib.train import _mix_parts, load_history, train

    runs_root, row, config, result = _job_files(job, runs_root, results_root, rows_dir)
    if result.is_file() and _same_config(result, config):
        return result
    for source, _ in _mix_parts(config.data):
        if source != "synthetic" and not Path(source).exists():
            raise FileNotFoundError(f"{job.key}: the {job.data} data setting reads {source}, "
                                    "which is not there")
    started = time.time()
    run = job.run_dir(runs_root)
    if not _same_config(run / "result.json", config):  # a finished run is measured again,
        run.mkdir(parents=True, exist_ok=True)  # not retrained; a killed one resumes
        train(config, run, callbacks=[TrainingTrace(run / "trace.json")])
    history = load_history(run)
    trace = json.loads((run / "trace.json").read_text()) if (run / "trace.json").is_file() \
        else None
    final_run, pruned = _final_run(run, row), None
    if row.prune:
        budget = _read_yaml(Path(rows_dir or ROWS_DIR) / f"scale_{job.scale}.yaml")["epochs"]
        epochs = prune_epochs(row, budget)
        if not (final_run / "prune.json").is_file():
            prune_run(run, row.prune["ratio"], final_run, epochs=epochs)
        pruned = {"ratio": row.prune["ratio"], "epochs": epochs,
                  "history": load_history(final_run),
                  "report": json.loads((final_run / "prune.json").read_text())["result"]}
    model = load_model(final_run)
    figures = measure(model, config, real_test)
    model_file = final_run / "best.keras"
    data = {"row": job.row, "data": job.data, "scale": job.scale, "seed": job.seed,
            "bases": list(row.bases), "seed_result": row.seed_result,
            "run": run.relative_to(runs_root).as_posix(),  # under the runs root
            "params": count_params(model), "macs": count_flops(model)["macs"],
            "train_seconds": round(sum(h.get("seconds") or 0 for h in history)
                                   + sum(h.get("seconds") or 0
                                         for h in (pruned or {}).get("history", [])), 1),
            "history": history, "trace": trace, "pruned": pruned, **figures}
    if model_file.is_file() and model_file.stat().st_size <= SMALL_MODEL_BYTES:
        keep = result.with_suffix(".keras")
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model_file, keep.with_suffix(".keras.tmp"))
        keep.with_suffix(".keras.tmp").replace(keep)
        data["model_file"] = keep.name
    return write_result(result.stem, data, config=config.to_dict(), seed=job.seed,
                        started=started, directory=result.parent)


def _final_run(run: Path, row: Row) -> Path:
    """The run folder of the model a job measures: the trained run, or its pruned copy."""
    return run.with_name(run.name + "-pruned") if row.prune else run


def _measured_version(result: dict) -> int:
    return int(result.get("measure_version") or 1)


def remeasure_job(job: Job, runs_root: Path | None = None, results_root: Path | None = None,
                  real_test=SHARED_REAL / "test", rows_dir: Path | None = None) -> Path:
    """Measure a finished job again from its trained model, without training it again: its
    figures become what :func:`measure` records now (:data:`MEASURE_VERSION`; the lighting
    test, which no version has changed, is kept), while its training record (history,
    trace, pruning, wall time, commit, versions) stays, and its ``meta["remeasured"]`` says
    with which commit and when. A job already at
    :data:`MEASURE_VERSION` is left as it is. Return the result file."""
    from lpr_lib.predict import load_model
    from lpr_lib.repro import run_metadata, write_result

    runs_root, row, config, result = _job_files(job, runs_root, results_root, rows_dir)
    if not (result.is_file() and _same_config(result, config)):
        raise FileNotFoundError(f"{job.key}: {result} holds no finished result of this "
                                "config to measure again")
    stored = json.loads(result.read_text(encoding="utf-8"))
    if _measured_version(stored["result"]) >= MEASURE_VERSION:
        return result
    model_run = _final_run(job.run_dir(runs_root), row)
    if not (model_run / "best.keras").is_file() and not (model_run / "last.keras").is_file():
        raise FileNotFoundError(f"{job.key}: {model_run} holds no trained model; measuring "
                                "again needs the run folder the job trained in")
    if "real_test" in stored["result"] and not Path(real_test).is_dir():
        raise FileNotFoundError(f"{job.key}: it was measured on the real test plates, and "
                                f"{real_test} is not there")
    started = time.time()
    # version 2 did not change the lighting test, the slowest part: it is kept
    figures = measure(load_model(model_run), config, real_test, lighting=False)
    again = run_metadata(started=started)
    meta = {**stored["meta"], "remeasured": {k: again[k] for k in
                                             ("git_commit", "versions", "finished_at",
                                              "run_seconds")}}
    return write_result(result.stem, {**stored["result"], **figures}, directory=result.parent,
                        meta=meta)


def finished_jobs(scale: str = "book", results_root: Path | None = None) -> list[Job]:
    """A job for every result file under ``results/ablation/<scale>/``, in the table's order."""
    return [Job(r["row"], r["data"], int(r["seed"]), scale)
            for r in load_results(scale, results_root)]


# ------------------------------------------------------------------ the summary

#: summary columns: (name, path into a result)
FIGURES = (
    ("synthetic_val", ("synthetic_val", "plate_accuracy")),
    ("real_test", ("real_test", "plate_accuracy")),
    ("kinds_test", ("kinds_test", "plate_accuracy")),
    ("real_test_p85", ("real_test", "at_0.85", "precision")),
    ("real_test_r85", ("real_test", "at_0.85", "recall")),
    ("real_test_p999", ("real_test", "at_99.9", "precision")),
    ("real_test_r999", ("real_test", "at_99.9", "recall")),
    ("real_test_p85_min", ("real_test", "min", "at_0.85", "precision")),
    ("real_test_r85_min", ("real_test", "min", "at_0.85", "recall")),
    ("real_test_p999_min", ("real_test", "min", "at_99.9", "precision")),
    ("real_test_r999_min", ("real_test", "min", "at_99.9", "recall")),
    ("synthetic_val_p85", ("synthetic_val", "at_0.85", "precision")),
    ("synthetic_val_r85", ("synthetic_val", "at_0.85", "recall")),
    ("validation", ("validation", "plate_accuracy")),
    ("train_minutes", ("train_seconds",)),
    ("last_epoch_gain", ("last_epoch_gain",)),
    ("last_quarter_gain", ("last_quarter_gain",)),
)
#: a job has converged when its best validation plate accuracy rose by less than this over the
#: last quarter of its epochs (0.5 points)
CONVERGED_GAIN = 0.005


def _last_epoch_gain(result: dict):
    """How much the validation plate accuracy rose in the last epoch: a run still learning
    when its budget ran out shows it here."""
    acc = [h.get("val_chars_plate_acc") for h in result.get("history") or []]
    acc = [a for a in acc if a is not None]
    return acc[-1] - acc[-2] if len(acc) >= 2 else None


def _last_quarter_gain(result: dict):
    """How much the best validation plate accuracy so far rose over the last quarter of the
    run's epochs (at least one): under :data:`CONVERGED_GAIN` the run has converged. The
    best so far, since the checkpoint measured is the best on validation."""
    acc = [h.get("val_chars_plate_acc") for h in result.get("history") or []]
    acc = [a for a in acc if a is not None]
    if len(acc) < 2:
        return None
    start = len(acc) - max(1, math.ceil(len(acc) / 4))
    return max(acc) - max(acc[:start])


def _get(result: dict, path):
    if path == ("last_epoch_gain",):
        return _last_epoch_gain(result)
    if path == ("last_quarter_gain",):
        return _last_quarter_gain(result)
    value = result
    for key in path:
        if not isinstance(value, dict) or value.get(key) is None:
            return None
        value = value[key]
    return value / 60 if path == ("train_seconds",) else value


def load_results(scale: str = "book", results_root: Path | None = None) -> list[dict]:
    """Every job's result (the ``result`` part of each file, with the job's wall time
    ``run_seconds`` from its ``meta``), in the table's order."""
    root = Path(results_root or RESULTS_DIR / "ablation") / scale
    out = []
    for path in sorted(root.glob("*/*-seed*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        out.append({**data["result"], "run_seconds": data["meta"].get("run_seconds")})
    order = {r: i for i, r in enumerate(ROWS + EXTRA_ROWS)}
    return sorted(out, key=lambda r: (DATA_SETTINGS.index(r["data"]),
                                      order.get(r["row"], 99), r["seed"]))


def _csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else
                             (f"{r[k]:.4f}" if isinstance(r[k], float) else r[k]))
                         for k in columns})
    return buf.getvalue()


def summarise(scale: str = "book", results_root: Path | None = None) -> list[dict]:
    """Write ``summary.csv`` (a line per data setting and row: seeds, and the mean and the
    sample standard deviation of each figure over them) and ``runs.csv`` (a line per job)
    under ``results/ablation/<scale>/``; return the summary's lines."""
    root = Path(results_root or RESULTS_DIR / "ablation") / scale
    runs, summary = summary_lines(load_results(scale, results_root))
    root.mkdir(parents=True, exist_ok=True)
    columns = ["data", "row", "seeds", "converged"] + [f"{n}_{s}" for n, _ in FIGURES
                                                      for s in ("mean", "std")]
    for name, lines, cols in (("summary.csv", summary, columns),
                              ("runs.csv", runs, ["data", "row", "seed",
                                                  *[n for n, _ in FIGURES], "converged"])):
        tmp = root / (name + ".tmp")
        tmp.write_text(_csv(lines, cols), encoding="utf-8")
        tmp.replace(root / name)
    return summary


def summary_lines(results: list[dict]) -> tuple[list[dict], list[dict]]:
    """``(runs, summary)`` of :func:`summarise`, computed without writing anything."""
    runs = [{"data": r["data"], "row": r["row"], "seed": r["seed"],
             **{name: _get(r, path) for name, path in FIGURES}} for r in results]
    for r in runs:
        gain = r["last_quarter_gain"]
        r["converged"] = None if gain is None else bool(gain < CONVERGED_GAIN)
    summary = []
    for data in DATA_SETTINGS:
        for row in ROWS + EXTRA_ROWS:
            mine = [r for r in runs if r["data"] == data and r["row"] == row]
            if not mine:
                continue
            line = {"data": data, "row": row, "seeds": len(mine),
                    "converged": sum(bool(r["converged"]) for r in mine)}
            for name, _ in FIGURES:
                values = [r[name] for r in mine if r[name] is not None]
                line[f"{name}_mean"] = float(np.mean(values)) if values else None
                line[f"{name}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 \
                    else None
            summary.append(line)
    return runs, summary


# ------------------------------------------------------------------ judging pairs of rows


def judge(line: dict, base: dict, metric: str) -> dict:
    """One summary line against another on ``metric``: ``diff`` of the means, ``spread``
    (the two seed standard deviations in quadrature) and ``verdict``: ``"larger than the
    spread"``, ``"within the spread"``, ``"one seed"`` (either has a single seed), or
    ``None`` (either is not measured)."""
    out = {"diff": None, "spread": None, "verdict": None}
    mine, theirs = line.get(f"{metric}_mean"), base.get(f"{metric}_mean")
    if mine is None or theirs is None:
        return out
    out["diff"] = mine - theirs
    s1, s2 = line.get(f"{metric}_std"), base.get(f"{metric}_std")
    if s1 is None or s2 is None:
        out["verdict"] = "one seed"
    else:
        out["spread"] = math.hypot(s1, s2)
        out["verdict"] = ("larger than the spread" if abs(out["diff"]) > out["spread"]
                          else "within the spread")
    return out


def compare(summary: list[dict], data: str, metric: str = "real_test") -> list[dict]:
    """Each row of ``data`` against the row it builds on, on ``metric`` (a summary column
    without ``_mean``): the difference of the means, the spread (the two seed standard
    deviations added in quadrature), and the verdict: ``"larger than the spread"``,
    ``"within the spread"``, or ``"one seed"`` when either row has a single seed."""
    lines = {s["row"]: s for s in summary if s["data"] == data}
    out = []
    for name in ROWS + EXTRA_ROWS:
        if name not in lines:
            continue
        row = load_row(name)
        base = row.bases[0] if row.bases else None
        out.append({"row": name, "base": base, "mean": lines[name].get(f"{metric}_mean"),
                    "std": lines[name].get(f"{metric}_std"), "seeds": lines[name]["seeds"],
                    **judge(lines[name], lines.get(base, {}), metric)})
    return out


#: the confidence of :func:`paired`'s interval
CONFIDENCE = 0.95


def paired(runs: list[dict], row: str, base: str, data: str, metric: str,
           confidence: float = CONFIDENCE) -> dict:
    """``row`` minus ``base`` on ``metric`` (a :data:`FIGURES` name) in the data setting
    ``data``, paired by seed: the seeds both rows have, the differences, their mean and its
    ``confidence`` t interval over seeds, and the verdict: ``"higher"`` or ``"lower"`` when
    the interval excludes zero, ``"not resolved at N seeds"`` when it does not, ``"one
    seed"`` when only one seed is shared. ``runs``: the per-job lines of
    :func:`summary_lines`."""
    from scipy import stats

    def values(name):
        return {r["seed"]: r[metric] for r in runs
                if r["data"] == data and r["row"] == name and r.get(metric) is not None}

    mine, theirs = values(row), values(base)
    seeds = sorted(set(mine) & set(theirs))
    diffs = [mine[s] - theirs[s] for s in seeds]
    out = {"row": row, "base": base, "data": data, "metric": metric, "seeds": seeds,
           "diffs": diffs, "n": len(diffs), "mean": None, "low": None, "high": None,
           "verdict": None}
    if not diffs:
        return out
    out["mean"] = float(np.mean(diffs))
    if len(diffs) < 2:
        out["verdict"] = "one seed"
        return out
    half = (stats.t.ppf(0.5 + confidence / 2, len(diffs) - 1)
            * float(np.std(diffs, ddof=1)) / math.sqrt(len(diffs)))
    out["low"], out["high"] = out["mean"] - half, out["mean"] + half
    out["verdict"] = ("higher" if out["low"] > 0 else "lower" if out["high"] < 0
                      else f"not resolved at {len(diffs)} seeds")
    return out


#: the figure each data setting is judged on: the real plates when real crops were in training,
#: the synthetic validation plates when they were not (the real test then measures transfer)
PRIMARY = {"mixed": "real_test", "synthetic": "synthetic_val"}
#: a pair is close when its difference is at most this many times its spread
CLOSE_FACTOR = 2.0


def close_pairs(summary: list[dict], factor: float = CLOSE_FACTOR,
                metrics: dict | None = None) -> list[dict]:
    """The pairs whose difference is small beside their spread: a row and the row it builds
    on, both with two seeds or more, whose means differ by at most ``factor`` times the
    spread on the data setting's figure (:data:`PRIMARY`). Two seeds estimate a standard
    deviation roughly, so these are the verdicts a third seed can change."""
    metrics = metrics or PRIMARY
    out = []
    for data, metric in metrics.items():
        for c in compare(summary, data, metric):
            if c["spread"] is not None and abs(c["diff"]) <= factor * c["spread"]:
                out.append({"data": data, "metric": metric, **c})
    return out


def close_rows(summary: list[dict], factor: float = CLOSE_FACTOR) -> dict[str, list[str]]:
    """``{data setting: rows}`` that get a third seed: both rows of every close pair
    (:func:`close_pairs`), in the table's order."""
    chosen: dict[str, set] = {}
    for c in close_pairs(summary, factor):
        chosen.setdefault(c["data"], set()).update((c["row"], c["base"]))
    order = ROWS + EXTRA_ROWS
    return {d: [r for r in order if r in rows] for d, rows in chosen.items()}


# ------------------------------------------------------------------ the command


def close_jobs(scale: str = "book", results_root: Path | None = None, rows=None, data=None,
               seeds=None) -> list[Job]:
    """The third seed's jobs (``lpr ablate --close``): the rows of every pair whose difference
    is at most twice its spread in the results so far
    (:func:`close_rows`), limited to ``rows`` and ``data`` when
    given, with ``seeds`` (default: the third seed)."""
    chosen = close_rows(summary_lines(load_results(scale, results_root))[1])
    seeds = seeds or SEEDS[2:]
    return [Job(r, d, int(s), scale) for s in seeds for d in DATA_SETTINGS
            if d in (data or DATA_SETTINGS) for r in chosen.get(d, [])
            if rows is None or r in rows]


#: the seeds that rows whose verdict is not resolved get, in order, after :data:`SEEDS`
MORE_SEEDS = (5041, 6046, 7051, 8056, 9061)


def unresolved_jobs(scale: str = "book", results_root: Path | None = None, rows=None,
                    data=None, max_seeds: int = 5) -> list[Job]:
    """``lpr ablate --unresolved``: the next seed for both rows of every pair (a row and the
    row it builds on, on its data setting's figure, :data:`PRIMARY`) whose paired interval
    (:func:`paired`) still holds zero with fewer than ``max_seeds`` seeds shared, limited to
    ``rows`` and ``data`` when given. A seed that one row of a pair lacks is given first."""
    runs = summary_lines(load_results(scale, results_root))[0]
    have: dict[tuple[str, str], set] = {}
    for r in runs:
        have.setdefault((r["data"], r["row"]), set()).add(r["seed"])
    order = SEEDS + MORE_SEEDS
    wanted: dict[tuple[str, str], int] = {}
    for d, metric in PRIMARY.items():
        if d not in (data or DATA_SETTINGS):
            continue
        for name in ROWS + EXTRA_ROWS:
            row = load_row(name)
            if not row.bases or (d, name) not in have or (d, row.bases[0]) not in have:
                continue
            p = paired(runs, name, row.bases[0], d, metric)
            if not (p["verdict"] or "").startswith("not resolved") or p["n"] >= max_seeds:
                continue
            both = have[(d, name)] | have[(d, row.bases[0])]
            seed = next((s for s in order if s in both and not
                         (s in have[(d, name)] and s in have[(d, row.bases[0])])), None)
            seed = seed or next(s for s in order if s not in both)
            for r in (name, row.bases[0]):
                if seed not in have[(d, r)] and (rows is None or r in rows):
                    wanted[(d, r)] = min(wanted.get((d, r), seed), seed)
    return sorted((Job(r, d, s, scale) for (d, r), s in wanted.items()),
                  key=lambda j: (order.index(j.seed), DATA_SETTINGS.index(j.data),
                                 (ROWS + EXTRA_ROWS).index(j.row)))


def cli_ablate(args) -> int:
    """``lpr ablate [--rows R...] [--data D...] [--seeds N...] [--scale S | --full] [--close]
    [--list]``."""
    if args.full and getattr(args, "scale", None) not in (None, "full"):
        raise ConfigError(f"--full and --scale {args.scale} ask for two scales")
    scale = "full" if args.full else (getattr(args, "scale", None) or "book")
    runs_root = Path(args.runs) if args.runs else None
    results_root = Path(args.results) if args.results else None
    remeasure = getattr(args, "remeasure", False)
    if remeasure and getattr(args, "close", False):
        raise ConfigError("--remeasure measures finished jobs and --close plans new ones: "
                          "give one of them")
    if remeasure:
        jobs = [j for j in finished_jobs(scale, results_root)
                if (args.rows is None or j.row in args.rows)
                and (args.data is None or j.data in args.data)
                and (args.seeds is None or j.seed in args.seeds)]
    elif getattr(args, "unresolved", False):
        if getattr(args, "close", False):
            raise ConfigError("--unresolved and --close both plan more seeds: give one of them")
        jobs = unresolved_jobs(scale, results_root, args.rows, args.data)
        if not jobs:
            print("every pair's paired interval excludes zero, or has 5 seeds",
                  file=sys.stderr)
    elif getattr(args, "close", False):
        jobs = close_jobs(scale, results_root, args.rows, args.data, args.seeds)
        if not jobs:
            print("no pair is close in the results so far (a pair is judged once both its "
                  "rows have two seeds)", file=sys.stderr)
    else:
        jobs = plan(args.rows or ROWS, args.data or DATA_SETTINGS, args.seeds or SEEDS, scale)
    # every config is built (and so checked) before anything is trained
    configs = {job: row_config(job.row, job.data, job.seed, scale) for job in jobs}
    root = Path(results_root or RESULTS_DIR / "ablation")
    if remeasure:  # a result of another config than its row's now needs training again
        changed = [j for j in jobs if not _same_config(j.result_path(root), configs[j])]
        jobs = [j for j in jobs if j not in changed]
    if args.list:
        for job in jobs:
            path = job.result_path(root)
            done = path.is_file() and _same_config(path, configs[job])
            if remeasure:
                result = json.loads(path.read_text(encoding="utf-8"))["result"]
                done = _measured_version(result) >= MEASURE_VERSION
            print(f"{'done' if done else 'todo'}  {scale}  {job.key}")
    if remeasure and changed:
        print(f"not measured again, as their rows' configs have changed since they were "
              f"trained (train them again with lpr ablate): "
              f"{', '.join(j.key for j in changed)}", file=sys.stderr)
    if args.list:
        return 0
    for i, job in enumerate(jobs, 1):
        t = time.time()
        print(f"[{i}/{len(jobs)}] {scale} {job.key}", file=sys.stderr, flush=True)
        path = (remeasure_job if remeasure else run_job)(job, runs_root, results_root)
        summarise(scale, results_root)
        print(f"[{i}/{len(jobs)}] {job.key}: {path} ({time.time() - t:.0f} s)",
              file=sys.stderr, flush=True)
    return 0
