"""The sim-to-real study on Keras 3's JAX backend: no TensorFlow needed, so it runs on a GPU
machine that has only JAX, and on the CPU (where JAX trains the default model faster than
TensorFlow does).

    KERAS_BACKEND=jax python experiments/sim_to_real_study.py --real .gpu/real32x96.npz --out OUT

Trains the book's default model (``configs/default.yaml``: ResNet-18 at width 0.25, flatten
head, cross-entropy, Adam on a warm-up cosine) on synthetic plates rendered in parallel, one
set for each lettering of :data:`LETTERINGS` (the generator as it was, "legacy", then one
change at a time up to the generator's defaults, "lettering"), then on synthetic plates mixed
with real training crops ("mixed", "mixed@WIDTH"); compares the heads of :data:`HEADS` on the
generator's plates ("head_avg", "head_attention": the "lettering" run with another head);
reads the real validation and test crops after each run and writes ``OUT/study.json`` after
every run (a killed run keeps what finished) and the trained models as ``OUT/<name>.keras``.
``--results NAME`` also writes ``results/NAME.json`` after every run (with the command, the
commit and the settings: a clean tree only). Chapter 8's study is

    python tools/pack_real_plates.py runs/real32x96.npz
    KERAS_BACKEND=jax python experiments/sim_to_real_study.py --real runs/real32x96.npz \
        --out runs/sim_to_real --plates 20000 --epochs 6 --steps 400 --batch 64 --lr 8e-3 \
        --runs legacy,lettering,light_cjk,head_avg,head_attention --results sim_to_real_study

about 40 minutes on 2 CPU cores.
``--throughput CONFIG`` also times training steps of a config's model, loss and optimizer
(images/s).

The input path is NumPy (whitening per image as ``lpr_lib.data.preprocess``); the
real crops come packed at the model's input size by ``tools/pack_real_plates.py`` (never
committed). Thresholds and checkpoints are not chosen here: each model is its last epoch.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import cv2
import numpy as np

from lpr_lib.plates import labels_to_text, text_to_labels
from lpr_lib.synth import GENERATOR_VERSION
from lpr_lib.synth.config import Lettering, SynthConfig
from lpr_lib.synth.generator import PlateGenerator

# Keras (and with it JAX) is imported only after the plates are rendered: the rendering
# workers are forked, and a process must not fork once JAX has started its threads.
os.environ.setdefault("KERAS_BACKEND", "jax")

SIZE = (32, 96)


def _render_chunk(args):
    seed, start, stop, synth = args
    gen = PlateGenerator(SynthConfig.from_dict(synth), seed=seed)
    out = [gen.sample_at(i) for i in range(start, stop)]
    return np.stack([s.image for s in out]), [s.label for s in out]


def render(n: int, seed: int, synth: dict, pool) -> tuple[np.ndarray, np.ndarray]:
    step = 500
    jobs = [(seed, a, min(n, a + step), synth) for a in range(0, n, step)]
    parts = pool.map(_render_chunk, jobs)
    return np.concatenate([p[0] for p in parts]), np.array(sum((p[1] for p in parts), []))


def whiten(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    mu = x.mean(axis=(1, 2, 3), keepdims=True)
    sd = np.maximum(x.std(axis=(1, 2, 3), keepdims=True), 1.0 / np.sqrt(x[0].size))
    return (x - mu) / sd


def targets(texts) -> dict:
    y = np.stack([text_to_labels(t, check=False) for t in texts]).astype(np.int32)
    return {"chars": y, "length": (y[:, 7] >= 0).astype(np.int32)}


def jitter(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Light capture jitter for the real crops (the synthetic ones are degraded already):
    a small affine (rotation, scale, shift) and brightness/contrast."""
    out = np.empty_like(x)
    h, w = x.shape[1:3]
    for i, img in enumerate(x):
        a = rng.normal(0, 3.0)
        s = rng.uniform(0.92, 1.08)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), a, s)
        m[:, 2] += rng.uniform(-0.04, 0.04, 2) * (w, h)
        img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        c, b = rng.uniform(0.7, 1.3), rng.uniform(-30, 30)
        out[i] = np.clip((img.astype(np.float32) - 128) * c + 128 + b, 0, 255)
    return out


def read(model, x: np.ndarray, texts) -> dict:
    from lpr_lib.metrics import decode

    out = model.predict(whiten(x), batch_size=1024, verbose=0)
    pred, _ = decode(out["chars"], out["length"])
    read = [labels_to_text(row) for row in pred]
    per = [float(np.mean([len(r) > i and r[i] == t[i] for r, t in zip(read, texts)]))
           for i in range(7)]
    return {"plate_accuracy": float(np.mean([r == t for r, t in zip(read, texts)])),
            "char_accuracy": float(np.mean(per)), "per_position": per, "n": len(texts)}


def train(name, parts, epochs, steps, batch, lr, evals, out_dir, seed=2026, width=0.25,
          pooling="flatten"):
    """``parts``: list of (images, texts, weight, jitter?)."""
    import keras

    from lpr_lib.losses import get_loss
    from lpr_lib.model import ModelConfig, build_model
    from lpr_lib.optim import WarmupCosine, get_optimizer

    keras.utils.set_random_seed(seed)
    model = build_model(ModelConfig(width=width, pooling=pooling), SIZE)
    total = steps * epochs
    sched = WarmupCosine(lr, int(0.5 * steps), total, final_ratio=0.01)
    model.compile(optimizer=get_optimizer("adam", learning_rate=sched),
                  loss={"chars": get_loss("ce"),
                        "length": keras.losses.SparseCategoricalCrossentropy()})
    rng = np.random.default_rng(seed)
    w = np.array([p[2] for p in parts], float)
    w /= w.sum()
    history = []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        n = steps * batch
        counts = rng.multinomial(n, w)
        xs, ts = [], []
        for (x, t, _, jit), k in zip(parts, counts):
            idx = rng.integers(0, len(x), k)
            xs.append(jitter(x[idx], rng) if jit else x[idx])
            ts.append(t[idx])
        x, t = np.concatenate(xs), np.concatenate(ts)
        order = rng.permutation(len(x))
        h = model.fit(whiten(x[order]), targets(t[order]), batch_size=batch, epochs=1,
                      verbose=0, shuffle=False)
        row = {"epoch": epoch, "loss": float(h.history["loss"][-1]),
               "seconds": round(time.perf_counter() - t0, 1)}
        for key, (ex, et) in evals.items():
            if key != "real_test":  # the test set is read once, at the end
                row[key] = read(model, ex, et)["plate_accuracy"]
        history.append(row)
        print(name, row, flush=True)
    seconds = time.perf_counter() - t0
    result = {"name": name, "epochs": epochs, "steps_per_epoch": steps, "batch_size": batch,
              "learning_rate": lr, "width": width, "pooling": pooling,
              "params": int(model.count_params()), "train_seconds": round(seconds, 1),
              "img_per_s": round(steps * batch * epochs / seconds, 1), "history": history}
    for key, (ex, et) in evals.items():
        result[key] = read(model, ex, et)
    if name == "lettering" or name.startswith(("mixed", "head_")):
        # the weights, no optimizer state
        plain = build_model(ModelConfig(width=width, pooling=pooling), SIZE)
        plain.set_weights(model.get_weights())
        plain.save(out_dir / f"{name}.keras")
    return result


def _lettering(base: Lettering | None = None, **changes) -> dict:
    return {**(base or Lettering.legacy()).to_dict(), **changes}


#: The sim-to-real study's letterings, each one change on the one before it.
LETTERINGS = {
    "legacy": _lettering(),
    "fonts": _lettering(fonts={"noto": 1.0, "barlow": 1.0, "roboto": 1.0}),
    "plain_one": _lettering(fonts={"noto": 1.0, "barlow": 1.0, "roboto": 1.0}, plain_one=0.9),
    "lettering": None,  # the generator's defaults
    # a trial not adopted: the defaults with Noto Sans SC Light among the Chinese faces
    "light_cjk": _lettering(Lettering(), cjk_fonts={"bold": 1.0, "regular": 1.0, "light": 1.0}),
}


#: The heads compared on the generator's plates (the "lettering" run is the flatten head).
HEADS = {"head_avg": "avg", "head_attention": "attention"}


def throughput(config_path: Path, batch: int, steps: int = 40, warmup: int = 5) -> dict:
    """Images/s of training steps of a config's model, loss and optimizer on random plates."""
    import keras
    import yaml

    from lpr_lib.config import LossConfig
    from lpr_lib.model import ModelConfig, build_model
    from lpr_lib.optim import get_optimizer

    cfg = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    size = tuple(cfg["data"]["image_size"])
    model = build_model(ModelConfig(**cfg.get("model", {})), size)
    model.compile(optimizer=get_optimizer(cfg.get("optimizer", {}).get("name", "adam"),
                                          cfg.get("optimizer", {}).get("learning_rate", 1e-3)),
                  loss={"chars": LossConfig.from_dict(cfg.get("loss", {})).build(),
                        "length": keras.losses.SparseCategoricalCrossentropy()})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch * steps, *size, 3)).astype(np.float32)
    y = targets(["皖A12345"] * (batch * steps))
    model.fit(x[: batch * warmup], {k: v[: batch * warmup] for k, v in y.items()},
              batch_size=batch, epochs=1, verbose=0)
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    seconds = time.perf_counter() - t0
    return {"config": str(config_path), "batch_size": batch, "image_size": list(size),
            "params": int(model.count_params()), "steps": steps,
            "img_per_s": round(batch * steps / seconds, 1)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--real", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--plates", type=int, default=60000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--runs", default="legacy,lettering,mixed,fonts,plain_one,mixed@0.5")
    p.add_argument("--throughput", type=Path, nargs="*", default=[])
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--cache", type=Path, help="keep the rendered plates here, to reuse")
    p.add_argument("--results", metavar="NAME",
                   help="also write results/NAME.json after every run (a clean tree only)")
    a = p.parse_args()
    started = time.time()
    if a.results:  # refuse uncommitted code before hours of training, not after
        from lpr_lib.repro import check_clean
        check_clean(a.results)
    a.out.mkdir(parents=True, exist_ok=True)
    real = np.load(a.real)
    study = {"args": {k: str(v) for k, v in vars(a).items()}, "runs": {}}
    ctx = mp.get_context("fork")
    t = time.perf_counter()
    runs = a.runs.split(",")
    wanted = {"lettering" if r.startswith("mixed") or r in HEADS else r for r in runs}
    def cached(name, n, seed, synth, pool):
        path = a.cache / f"{name}-{n}-{seed}-g{GENERATOR_VERSION}.npz" if a.cache else None
        if path and path.is_file():
            z = np.load(path)
            return z["x"], z["text"]
        x, text = render(n, seed, synth, pool)
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, x=x, text=text)
        return x, text

    with ctx.Pool(a.workers) as pool:
        sets = {}
        for k, lettering in LETTERINGS.items():
            if k in wanted:
                synth = {"size": list(SIZE)} | ({"lettering": lettering} if lettering else {})
                sets[k] = cached(k, a.plates, 2026, synth, pool)
        val = cached("val", 2000, 2027, {"size": list(SIZE)}, pool)
    study["render_seconds"] = round(time.perf_counter() - t, 1)
    study["render_plates_per_s"] = round(a.plates * len(sets) / study["render_seconds"], 1)
    print("rendered", study["render_seconds"], "s", flush=True)
    import jax
    import keras

    study["backend"] = keras.backend.backend()
    study["devices"] = [str(d) for d in jax.devices()]
    evals = {"synthetic_val": val, "real_val": (real["val_x"], real["val_text"]),
             "real_test": (real["test_x"], real["test_text"])}
    real_train = (real["train_x"], real["train_text"])
    for run in runs:
        if run.startswith("mixed"):
            width = float(run.split("@")[1]) if "@" in run else 0.25
            parts = [(*sets["lettering"], 0.5, False), (*real_train, 0.5, True)]
        else:
            width = 0.25
            parts = [(*sets["lettering" if run in HEADS else run], 1.0, False)]
        study["runs"][run] = train(run.replace("@", "_w"), parts, a.epochs, a.steps, a.batch,
                                   a.lr, evals, a.out, width=width,
                                   pooling=HEADS.get(run, "flatten"))
        (a.out / "study.json").write_text(json.dumps(study, indent=1, ensure_ascii=False))
        if a.results:
            from lpr_lib.repro import write_result
            write_result(a.results, study, config=study["args"], seed=2026, started=started)
    for path in a.throughput:
        for batch in (64, 256):
            study.setdefault("throughput", []).append(throughput(path, batch))
            print(study["throughput"][-1], flush=True)
            (a.out / "study.json").write_text(json.dumps(study, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
