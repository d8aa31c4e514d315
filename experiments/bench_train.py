"""What bounds a training step of the plate reader on a CPU? Measure img/s of ``model.fit``.

Each measurement runs in its own Python process (thread settings must be fixed before
TensorFlow starts, and one setting must not warm the caches of the next): it builds the
model, compiles it, runs ``warmup`` steps (tracing, XLA compilation) and then times
``steps`` more with a callback (``lpr_lib.benchmark.time_fit``, which ``make bench`` uses too),
and prints one JSON line. ``os.getloadavg()`` is recorded
before and after every measurement: the machine is shared, and a busy machine is slow.

    python experiments/bench_train.py                       # before/after at widths 1.0, 0.5, 0.25
    python experiments/bench_train.py --study               # one factor at a time, at width 0.5
    python experiments/bench_train.py --one '{"width": 0.5, "jit": true}'

Results go to ``results/train_speed.json`` (via ``lpr_lib.repro.write_result``).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from lpr_lib.benchmark import matmul_peak, measure_in_process, time_fit

#: What the issue's throw-away run did: plain ``fit`` on NumPy arrays, 8 Dense heads, one
#: Keras BatchNormalization per conv, no XLA (Keras' "auto" means off on a CPU).
NAIVE = dict(width=0.5, batch=64, size=[48, 144], jit=False, heads="separate", spe=1,
             data="numpy", intra=0, inter=0, bn="keras", loss="masked", precision="float32")
#: The settings chosen from the study (ExperimentConfig's defaults).
CHOSEN = dict(NAIVE, jit=True, heads="stacked", data="pipeline")


def _build(s):
    import keras

    from lpr_lib.backbones import get_backbone
    from lpr_lib.plates import MAX_LEN, NUM_CLASSES

    if s["precision"] != "float32":
        keras.mixed_precision.set_global_policy(s["precision"])
    inputs = keras.Input((*s["size"], 3))
    x = get_backbone("resnet18", inputs, width=s["width"], stage_widths=(64, 128, 256, 384),
                     conv_decay=5e-4, fused_bn=s["bn"] == "fused")
    x = keras.layers.GlobalAveragePooling2D()(x)
    if s["heads"] == "stacked":
        c = keras.layers.Dense(MAX_LEN * NUM_CLASSES)(x)
        c = keras.layers.Reshape((MAX_LEN, NUM_CLASSES))(c)
        chars = keras.layers.Softmax(axis=-1, dtype="float32", name="chars")(c)
    else:  # eight Dense(C, softmax) heads, stacked to honour the same output contract
        heads = [keras.layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32",
                                    name=f"head{k}")(x) for k in range(MAX_LEN)]
        chars = keras.layers.Lambda(lambda t: keras.ops.stack(t, axis=1), name="chars")(heads)
    length = keras.layers.Dense(2, activation="softmax", dtype="float32", name="length")(x)
    return keras.Model(inputs, {"chars": chars, "length": length})


def _data(s, n_batches=8):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    n = s["batch"] * n_batches
    x = rng.normal(size=(n, *s["size"], 3)).astype("float32")
    y = rng.integers(0, 74, size=(n, 8)).astype("int32")
    y[: n // 2, 7] = -1
    targets = {"chars": y, "length": (y[:, 7] != -1).astype("int32")}
    if s["data"] == "numpy":  # what a first attempt does: fit(x, y, batch_size=...)
        return dict(x=x, y=targets, batch_size=s["batch"])
    if s["data"] == "memory":  # batches already made, cached, repeated
        ds = tf.data.Dataset.from_tensor_slices((x, targets)).batch(s["batch"]).cache()
        return dict(x=ds.repeat().prefetch(2))
    if s["data"] == "pipeline":  # the library's pipeline: JPEG plates, augment, whiten
        from lpr_lib.data import make_dataset
        from lpr_lib.train import synthetic_folder

        folder = synthetic_folder(1024, tuple(s["size"]), seed=0)
        ds = make_dataset(folder, batch_size=s["batch"], image_size=tuple(s["size"]),
                          augment=True, shuffle=True, repeat=True, drop_remainder=True)
        ds = ds.map(lambda im, lab: (im, {"chars": lab,
                                          "length": tf.cast(lab[:, 7] != -1, "int32")}))
        return dict(x=ds)
    raise ValueError(s["data"])


def measure(settings: dict, steps: int = 30, warmup: int = 5) -> dict:
    """Time ``steps`` training steps after ``warmup`` ones; run this in a fresh process."""
    s = dict(NAIVE, **settings)
    import tensorflow as tf

    if s["intra"] or s["inter"]:
        tf.config.threading.set_intra_op_parallelism_threads(s["intra"])
        tf.config.threading.set_inter_op_parallelism_threads(s["inter"])
    import keras

    from lpr_lib.losses import MaskedCrossEntropy

    keras.utils.set_random_seed(0)
    model = _build(s)
    if s["loss"] == "masked":
        char_loss = MaskedCrossEntropy()
    else:  # Keras' own sparse CE, which also skips -1 labels (ignore_class)
        char_loss = keras.losses.SparseCategoricalCrossentropy(ignore_class=-1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss={"chars": char_loss, "length": "sparse_categorical_crossentropy"},
                  jit_compile=s["jit"], steps_per_execution=s["spe"])
    return {"settings": s, **time_fit(model, _data(s), s["batch"], steps, warmup, s["spe"])}


def model_macs(width: float, size=(48, 144)) -> int:
    from lpr_lib.model import ModelConfig, build_model, count_flops

    return count_flops(build_model(ModelConfig(width=width), image_size=tuple(size)))["macs"]


def run_one(settings: dict, steps: int, warmup: int, repeats: int = 1) -> dict:
    """Measure in ``repeats`` fresh processes; report each run and the median."""
    runs = [measure_in_process([__file__, "--one", json.dumps(settings), "--steps", str(steps),
                                "--warmup", str(warmup)], what=f"measurement {settings}")
            for _ in range(repeats)]
    rates = [r["img_per_s"] for r in runs]
    out = dict(runs[0])
    out["img_per_s"] = statistics.median(rates)
    out["runs_img_per_s"] = rates
    out["img_per_s_best_quarter"] = statistics.median(r["img_per_s_best_quarter"] for r in runs)
    out["cpu_ms_per_image"] = statistics.median(r["cpu_ms_per_image"] for r in runs)
    out["loadavg_before"] = [r["loadavg_before"] for r in runs]
    out["loadavg_after"] = [r["loadavg_after"] for r in runs]
    return out


STUDY = {  # one factor at a time from NAIVE (width 0.5)
    "naive": {},
    "data=memory": {"data": "memory"},
    "data=pipeline (augment)": {"data": "pipeline"},
    "heads=stacked": {"heads": "stacked"},
    "jit": {"jit": True},
    "bn=fused": {"bn": "fused"},
    "loss=keras_sparse_ce": {"loss": "keras"},
    "steps_per_execution=8": {"spe": 8, "data": "memory"},
    "batch=128": {"batch": 128},
    "batch=256": {"batch": 256},
    "threads intra=2 inter=1": {"intra": 2, "inter": 1},
    "threads intra=1 inter=1": {"intra": 1, "inter": 1},
    "mixed_bfloat16": {"precision": "mixed_bfloat16"},
    "size=32x96": {"size": [32, 96]},
    "size=24x96": {"size": [24, 96]},
    "chosen": CHOSEN,
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", help="JSON settings: measure once in this process, print JSON")
    ap.add_argument("--study", action="store_true", help="one factor at a time at width 0.5")
    ap.add_argument("--only", nargs="*", help="study entries to run (default all)")
    ap.add_argument("--widths", type=float, nargs="+", default=[1.0, 0.5, 0.25])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--name", default=None,
                    help="results/<name>.json (default train_speed, or train_speed_study)")
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure(json.loads(args.one), args.steps, args.warmup)), flush=True)
        return 0

    from lpr_lib.repro import quick_mode, write_result

    if quick_mode():
        args.steps, args.warmup, args.repeats, args.widths = 4, 2, 1, [0.25]
    started = time.time()
    result = {"steps": args.steps, "warmup": args.warmup, "repeats": args.repeats,
              "naive": NAIVE, "chosen": CHOSEN, "study": {}, "before_after": [],
              "matmul_peak": matmul_peak()}
    print(f"matmul peak: {result['matmul_peak']}", flush=True)
    if args.study:
        for label, change in STUDY.items():
            if args.only and label not in args.only:
                continue
            r = run_one(dict(NAIVE, **change), args.steps, args.warmup, args.repeats)
            result["study"][label] = r
            print(f"{label:28s} {r['img_per_s']:7.1f} img/s  best-quarter "
                  f"{r['img_per_s_best_quarter']:7.1f}  cpu {r['cpu_ms_per_image']:6.2f} ms/img  "
                  f"runs {r['runs_img_per_s']}  load {r['loadavg_before'][0][0]}", flush=True)
    else:
        for width in args.widths:
            row = {"width": width}
            for which, base in (("before", NAIVE), ("after", CHOSEN)):
                r = run_one(dict(base, width=width), args.steps, args.warmup, args.repeats)
                row[which] = r
                print(f"width {width:4} {which:6s} {r['img_per_s']:7.1f} img/s  best-quarter "
                      f"{r['img_per_s_best_quarter']:7.1f}  cpu {r['cpu_ms_per_image']:6.2f} "
                      f"ms/img  runs {r['runs_img_per_s']}  load {r['loadavg_before'][0][0]}",
                      flush=True)
            row["speedup"] = round(row["after"]["img_per_s"] / row["before"]["img_per_s"], 2)
            row["forward_macs"] = model_macs(width)
            # a training step is ~3 forward passes (forward, and two for the backward pass)
            row["after_train_gflops"] = round(6 * row["forward_macs"] *
                                              row["after"]["img_per_s"] / 1e9, 1)
            result["before_after"].append(row)
    name = args.name or ("train_speed_study" if args.study else "train_speed")
    path = write_result(name, result, started=started)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
