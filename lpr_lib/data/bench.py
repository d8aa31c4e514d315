"""Is the input pipeline fast enough? Images per second of each way of feeding the model, against
the images per second one training step consumes.

    python -m lpr_lib.data --benchmark            # writes results/pipeline_benchmark.json

Each pipeline is timed in its steady state: a few batches are drawn first (tracing, thread pools,
the in-memory cache's first pass), then ``batches`` batches are timed. The file-based sources are
synthetic plates written as JPEGs by ``lpr_lib.synth.generate`` into a temporary folder (and the
real training crops, when ``../shared/real_plates`` is there). The training step is ResNet-18
at width 0.5 (twice the default model's 0.25: a stricter test), at the default input size
(``plates.DEFAULT_SIZE``, 48x144), trained with ``train_on_batch`` on one fixed batch, so
that no input pipeline is involved. The machine's load average is recorded
before and after: on a shared machine every figure is a lower bound.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from lpr_lib.plates import DEFAULT_SIZE
from lpr_lib.repro import DEFAULT_SEED, SHARED_REAL, quick_mode, write_result


def dataset_rate(ds, batches: int, warmup: int, repeats: int = 3) -> dict:
    """Images per second over ``repeats`` windows of ``batches`` batches; the best window is
    reported (as ``timeit`` does: on a shared machine the others are slowed by other work)."""
    it = iter(ds)
    for _ in range(warmup):
        next(it)
    rates = []
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        for _ in range(batches):
            x, _ = next(it)
            n += int(x.shape[0])
        rates.append(n / (time.perf_counter() - start))
    return {"img_per_s": round(max(rates), 1), "windows_img_per_s": [round(r, 1) for r in rates],
            "images_per_window": n}


def train_step_rate(batch_size: int = 64, steps: int = 10, image_size=DEFAULT_SIZE,
                    jit_compile: bool = True) -> dict:
    """Images per second of one training step of the default model (no input pipeline)."""
    import keras
    import numpy as np

    from lpr_lib.losses import MaskedCrossEntropy
    from lpr_lib.model import ModelConfig, build_model
    from lpr_lib.plates import NUM_CLASSES

    rng = np.random.default_rng(0)
    model = build_model(ModelConfig(width=0.5), image_size)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit_compile,
                  loss={"chars": MaskedCrossEntropy(),
                        "length": keras.losses.SparseCategoricalCrossentropy()})
    x = rng.normal(size=(batch_size, *image_size, 3)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, size=(batch_size, 8)).astype("int32")
    y[: batch_size // 2, 7] = -1
    targets = {"chars": y, "length": (y[:, 7] >= 0).astype("int32")}
    for _ in range(3):  # tracing and compilation
        model.train_on_batch(x, targets)
    rates = []
    for _ in range(3):  # the best of three windows, as for the pipelines
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, targets)
        rates.append(steps * batch_size / (time.perf_counter() - start))
    return {"img_per_s": round(max(rates), 1), "windows_img_per_s": [round(r, 1) for r in rates],
            "steps_per_window": steps, "batch_size": batch_size, "model": model.name,
            "jit_compile": jit_compile}


def benchmark_pipeline(batches: int | None = None, batch_size: int = 64, image_size=DEFAULT_SIZE,
                       files: int | None = None, seed: int = DEFAULT_SEED, real: bool = True,
                       train_step: bool = True, save: bool = True, verbose: bool = True) -> dict:
    """Measure every pipeline (and the training step); write ``results/pipeline_benchmark.json``.

    Returns the result dict: one entry per pipeline with ``img_per_s``, and
    ``train_step`` with the consumption the pipelines are compared against.
    """
    from lpr_lib.data.pipeline import make_dataset, synthetic_dataset
    from lpr_lib.synth import generate

    quick = quick_mode()
    batches = batches or (3 if quick else 15)
    files = files or (256 if quick else 1024)
    started = time.time()
    load_before = os.getloadavg()
    results: dict[str, dict] = {}

    def run(name, ds, warmup=3, n=batches):
        results[name] = dataset_rate(ds, n, warmup, repeats=2 if quick else 3)
        if verbose:
            print(f"{name:<40} {results[name]['img_per_s']:>8.1f} img/s")

    kw = dict(batch_size=batch_size, image_size=image_size, seed=seed, repeat=True)
    with tempfile.TemporaryDirectory() as tmp:
        generate(files, tmp, seed=seed, size=tuple(image_size), progress=False)
        # decode from JPEG every time (no cache): what a dataset larger than memory costs
        run("files: decode", make_dataset(tmp, cache=False, **kw))
        run("files: decode + augment", make_dataset(tmp, cache=False, augment=True, **kw))
        # decoded once and cached in memory (the default): what small datasets cost
        warm = files // batch_size + 2
        run("files: cached", make_dataset(tmp, **kw), warmup=warm)
        run("files: cached + augment", make_dataset(tmp, augment=True, **kw), warmup=warm)
    if real and (SHARED_REAL / "train").is_dir():
        run("real train crops: cached + augment",
            make_dataset(SHARED_REAL / "train", augment=True, **kw), warmup=1531 // batch_size + 2)
    n_synth = max(2, batches // 4)
    for workers in (1, 2):
        run(f"synthetic stream: render ({workers} worker{'s' if workers > 1 else ''})",
            synthetic_dataset(None, batch_size, image_size, seed=seed, workers=workers),
            warmup=1, n=n_synth)
    run("synthetic stream: render + augment (2 workers)",
        synthetic_dataset(None, batch_size, image_size, seed=seed, workers=2, augment=True),
        warmup=1, n=n_synth)
    out = {"pipelines": results, "batch_size": batch_size, "image_size": list(image_size),
           "files": files, "load_average_before": [round(v, 2) for v in load_before]}
    if train_step:
        out["train_step"] = train_step_rate(batch_size, steps=3 if quick else 8,
                                            image_size=image_size)
        need = out["train_step"]["img_per_s"]
        out["pipeline_over_train_step"] = {k: round(v["img_per_s"] / need, 2)
                                           for k, v in results.items()}
        if verbose:
            print(f"{'train step (' + out['train_step']['model'] + ')':<40} {need:>8.1f} img/s")
    out["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    out["cpu_count"] = os.cpu_count()
    if save:
        path = write_result("pipeline_benchmark", out, seed=seed, started=started,
                            config={"batches": batches, "batch_size": batch_size,
                                    "image_size": list(image_size), "files": files})
        if verbose:
            shown = Path(path).relative_to(Path.cwd()) if Path(path).is_relative_to(Path.cwd()) \
                else path
            print(f"written to {shown}")
    return out
