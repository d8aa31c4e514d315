"""Did moving the augmentation to NumPy slow the TensorFlow pipeline down? Side by side.

The augmentation used to be TensorFlow ops; it is now NumPy/OpenCV (``lpr_lib.data.augmentation``),
called per batch through ``tf.numpy_function``. This times, in one process, on TensorFlow's
backend:

* (A) the old TensorFlow-op augmentation (copied below from the commit before the change,
  ``git show 30dcec7:lpr_lib/data/pipeline.py``, for this measurement only) and
* (B) the NumPy augmentation as the pipeline now runs it,

each inside the same ``tf.data`` pipeline (cached uint8 plates, a per-batch key, the
augmentation, whitening, prefetch), on batches of 64 plates at the default model's input size
(48x144) with the default ``AugmentConfig``. The two alternate, round after round (A then B, B
then A, ...), so that whatever else runs on the machine slows both alike; each round times
``--batches`` batches, after ``--flush`` untimed ones that empty what the prefetch buffer
filled meanwhile. Then, unless ``--train-steps 0``, a few training steps of the book's default
model (ResNet-18 at width 0.25, XLA) are timed fed by each, alternating the same way.

    python experiments/bench_augment.py               # writes results/augment_speed.json
    python experiments/bench_augment.py --rounds 3 --batches 20 --no-save
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

import lpr_lib  # noqa: E402, F401  (quiet TensorFlow start-up)
from lpr_lib.data.augmentation import AugmentConfig  # noqa: E402
from lpr_lib.repro import DEFAULT_SEED, write_result  # noqa: E402

import tensorflow as tf  # noqa: E402

from lpr_lib.train import default_config  # noqa: E402

#: the default model's input size: the training steps below feed that model
SIZE = tuple(default_config().data.image_size)
BATCH = 64


# ------------------------------------------------------------------------------------------
# (A) The TensorFlow-op augmentation as it was (lpr_lib/data/pipeline.py at 30dcec7), verbatim
# but for names; for this benchmark only.

def _seeds(seed, n: int) -> tf.Tensor:
    if isinstance(seed, (int, np.integer)):
        seed = tf.constant([int(seed), 0], tf.int64)
    return tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=n)


def _uniform(seed, low, high, shape):
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high)


def _per_image(x):
    return x[:, None, None, None]


def _tf_affine_matrix(seed, height, width, cfg, batch=None):
    b = 1 if batch is None else batch
    s = _seeds(seed, 5)
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    angle = _uniform(s[0], -1.0, 1.0, (b,)) * cfg.rotation_deg * np.pi / 180
    shear = _uniform(s[1], -1.0, 1.0, (b,)) * cfg.shear
    shear_y = _uniform(tf.random.experimental.stateless_fold_in(s[1], 1), -1.0, 1.0,
                       (b,)) * cfg.shear_y
    zoom = _uniform(s[2], cfg.scale[0], cfg.scale[1], (b,))
    m = _uniform(s[3], -cfg.crop_jitter, cfg.crop_jitter, (4, b))
    sx = zoom / (1.0 - m[0] - m[2])
    sy = zoom / (1.0 - m[1] - m[3])
    cx_in = w * (0.5 + (m[0] - m[2]) / 2)
    cy_in = h * (0.5 + (m[1] - m[3]) / 2)
    shift = _uniform(s[4], -1.0, 1.0, (2, b))
    out_cx = w / 2 + shift[1] * cfg.shift[1] * w
    out_cy = h / 2 + shift[0] * cfg.shift[0] * h
    cos, sin = tf.cos(angle), tf.sin(angle)
    a00, a01 = (cos - sin * shear_y) * sx, (cos * shear - sin) * sy
    a10, a11 = (sin + cos * shear_y) * sx, (sin * shear + cos) * sy
    det = a00 * a11 - a01 * a10
    i00, i01, i10, i11 = a11 / det, -a01 / det, -a10 / det, a00 / det
    off_x = cx_in - (i00 * out_cx + i01 * out_cy)
    off_y = cy_in - (i10 * out_cx + i11 * out_cy)
    zero = tf.zeros_like(angle)
    matrices = tf.stack([i00, i01, off_x, i10, i11, off_y, zero, zero], axis=1)
    return matrices[0] if batch is None else matrices


def _tf_adjust_saturation(images, factor):
    v = tf.reduce_max(images, axis=-1, keepdims=True)
    spread = v - tf.reduce_min(images, axis=-1, keepdims=True)
    f = tf.minimum(_per_image(factor), tf.math.divide_no_nan(v, spread))
    return v - f * (v - images)


def _tf_adjust_hue(images, delta):
    hsv = tf.image.rgb_to_hsv(images)
    hue = tf.math.floormod(hsv[..., :1] + _per_image(delta), 1.0)
    return tf.image.hsv_to_rgb(tf.concat([hue, hsv[..., 1:]], axis=-1))


def _tf_colour(images, seed, cfg):
    b = tf.shape(images)[0]
    s = _seeds(seed, 5)
    ops = []
    if cfg.brightness > 0:
        delta = _uniform(s[0], -cfg.brightness, cfg.brightness, (b,))
        ops.append(lambda x: x + _per_image(delta))
    if cfg.contrast[1] > cfg.contrast[0]:
        f = _uniform(s[1], cfg.contrast[0], cfg.contrast[1], (b,))

        def contrast(x):
            mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
            return (x - mean) * _per_image(f) + mean

        ops.append(contrast)
    if cfg.saturation[1] > cfg.saturation[0]:
        sat = _uniform(s[2], cfg.saturation[0], cfg.saturation[1], (b,))
        ops.append(lambda x: _tf_adjust_saturation(x, sat))
    if cfg.hue > 0:
        hue = _uniform(s[3], -cfg.hue, cfg.hue, (b,))
        ops.append(lambda x: _tf_adjust_hue(x, hue))
    if cfg.channel_gain > 0:
        gain = _uniform(tf.random.experimental.stateless_fold_in(s[0], 1),
                        1.0 - cfg.channel_gain, 1.0 + cfg.channel_gain, (b, 1, 1, 3))
        ops.append(lambda x: x * gain)
    if not ops:
        return images
    order = tf.argsort(tf.random.stateless_uniform((len(ops),), s[4]))
    for step in range(len(ops)):
        images = tf.switch_case(order[step], [lambda op=op, x=images: op(x) for op in ops])
        images = tf.clip_by_value(images, 0.0, 1.0)
    return images


def tf_augment(images, seed, config):
    cfg = config
    images = tf.image.convert_image_dtype(tf.convert_to_tensor(images), tf.float32)
    s = _seeds(seed, 7)
    shape = tf.shape(images)
    b, height, width = shape[0], shape[1], shape[2]
    coin = tf.random.stateless_uniform((4, b), s[0])
    if cfg.affine_prob > 0:
        moved = tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=_tf_affine_matrix(s[1], height, width, cfg, batch=b),
            output_shape=shape[1:3], fill_value=0.0, interpolation="BILINEAR",
            fill_mode=cfg.fill_mode.upper())
        images = tf.where(_per_image(coin[0] < cfg.affine_prob), moved, images)
    if cfg.downscale_prob > 0 and cfg.downscale[0] < 1:
        f = _uniform(s[6], cfg.downscale[0], cfg.downscale[1], ())
        small = tf.cast(tf.math.ceil(tf.cast(shape[1:3], tf.float32) * f), tf.int32)
        low = tf.image.resize(tf.image.resize(images, small, method="area"), shape[1:3],
                              method="bilinear")
        images = tf.where(_per_image(coin[3] < cfg.downscale_prob), low, images)
    images = _tf_colour(images, s[2], cfg)
    if cfg.noise_prob > 0 and cfg.noise_std > 0:
        std = _uniform(s[3], 0.0, cfg.noise_std, (b,)) * tf.cast(coin[1] < cfg.noise_prob,
                                                                  tf.float32)
        images = images + _per_image(std) * tf.random.stateless_normal(shape, s[4])
    if cfg.salt_pepper_prob > 0 and cfg.salt_pepper_amount > 0:
        amount = cfg.salt_pepper_amount * tf.cast(coin[2] < cfg.salt_pepper_prob, tf.float32)
        u = tf.random.stateless_uniform(tf.concat([shape[:3], [1]], 0), s[5])
        half = _per_image(amount) / 2
        images = tf.where(u < half, 0.0, tf.where(u > 1 - half, 1.0, images))
    return tf.clip_by_value(images, 0.0, 1.0)


# ------------------------------------------------------------------------------------------
# the two pipelines, identical but for the augmentation

def plates(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rendered plates at SIZE (uint8) and their labels."""
    from lpr_lib.plates import text_to_labels
    from lpr_lib.synth import PlateGenerator, SynthConfig

    gen = PlateGenerator(SynthConfig(size=SIZE), seed=seed)
    records = [gen.sample_at(i) for i in range(n)]
    return (np.stack([r.image for r in records]),
            np.stack([text_to_labels(r.label, check=False) for r in records]).astype(np.int32))


def pipeline(images, labels, variant: str, seed: int, cfg: AugmentConfig) -> tf.data.Dataset:
    """Cached uint8 plates -> shuffle, repeat, batch -> augment (A: TF ops, B: NumPy through
    ``tf.numpy_function``) -> whiten -> targets -> prefetch, as ``lpr train`` feeds a model."""
    from lpr_lib.data.pipeline import _augment_batch
    from lpr_lib.data.preprocessing import preprocess

    ds = tf.data.Dataset.from_tensor_slices((images, labels)).cache()
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(BATCH, drop_remainder=True)
    keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def aug(key, batch):
        x, y = batch
        if variant == "A":
            x = tf_augment(x, tf.stack([tf.constant(seed, tf.int64), key]), cfg)
        else:
            x = _augment_batch(x, key, seed, cfg)
        return x, y

    def finish(x, y):
        return preprocess(x, SIZE, True), {"chars": y,
                                            "length": tf.cast(y[:, 7] >= 0, tf.int32)}

    ds = tf.data.Dataset.zip((keys, ds)).map(aug, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def time_pipeline(iterator, batches: int, flush: int = 0) -> float:
    """Images per second of ``batches`` batches drawn from ``iterator``, after ``flush``
    untimed ones (what its prefetch buffer made while the other pipeline was timed)."""
    for _ in range(flush):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * BATCH / (time.perf_counter() - start)


def time_training(model, iterator, steps: int) -> float:
    """Images per second of ``steps`` training steps, each on the next batch of ``iterator``
    (the pipeline prefetches while the step runs)."""
    start = time.perf_counter()
    for _ in range(steps):
        x, y = next(iterator)
        model.train_on_batch(x, y)
    return steps * BATCH / (time.perf_counter() - start)


def os_load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def summary(rates: list[float]) -> dict:
    return {"median_img_per_s": round(statistics.median(rates), 1),
            "min_img_per_s": round(min(rates), 1), "max_img_per_s": round(max(rates), 1),
            "rounds_img_per_s": [round(r, 1) for r in rates]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="A/B rounds (default 7)")
    parser.add_argument("--batches", type=int, default=40, help="timed batches per round")
    parser.add_argument("--flush", type=int, default=16,
                        help="untimed batches before each round (the prefetch buffer)")
    parser.add_argument("--plates", type=int, default=1024, help="plates rendered and cached")
    parser.add_argument("--train-steps", type=int, default=15,
                        help="timed training steps per round (0: no training)")
    parser.add_argument("--train-rounds", type=int, default=4, help="A/B training rounds")
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args()

    started, seed, cfg = time.time(), DEFAULT_SEED, AugmentConfig()
    images, labels = plates(args.plates, seed)
    iters = {v: iter(pipeline(images, labels, v, seed, cfg)) for v in "AB"}
    for it in iters.values():  # warm-up: tracing, thread pools, the cache's first pass
        time_pipeline(it, args.plates // BATCH + 2)
    load = [os_load()]
    rates = {"A": [], "B": []}
    for r in range(args.rounds):
        for v in ("AB" if r % 2 == 0 else "BA"):
            rates[v].append(time_pipeline(iters[v], args.batches, args.flush))
        print(f"round {r + 1}: A {rates['A'][-1]:.0f} img/s, B {rates['B'][-1]:.0f} img/s",
              flush=True)
    load.append(os_load())
    result = {
        "what": f"default AugmentConfig on batches of 64 plates at {SIZE[0]}x{SIZE[1]} inside "
                "tf.data "
                "(cached uint8, augment, whiten, prefetch); A = the TensorFlow-op augmentation "
                "before the change, B = lpr_lib.data.augmentation (NumPy/OpenCV) through "
                "tf.numpy_function; rounds alternate A/B in one process",
        "batch_size": BATCH, "image_size": list(SIZE), "batches_per_round": args.batches,
        "pipeline": {"A_tf_ops": summary(rates["A"]), "B_numpy": summary(rates["B"])},
        "B_over_A_median": round(statistics.median(rates["B"]) / statistics.median(rates["A"]),
                                 3),
        "load_average_before_after": load,
    }
    if args.train_steps:
        result["training"] = train_side_by_side(images, labels, seed, cfg, args)
    print(result)
    if not args.no_save:
        path = write_result("augment_speed", result, config=vars(args), seed=seed,
                            started=started)
        print(f"wrote {path}")


def train_side_by_side(images, labels, seed, cfg, args) -> dict:
    """Training steps of the default model fed by each pipeline, alternating."""
    from lpr_lib.model import build_model
    from lpr_lib.train import compile_model, default_config

    config = default_config()
    model = compile_model(build_model(config), config, steps_per_epoch=100)
    feeds = {v: iter(pipeline(images, labels, v, seed, cfg)) for v in "AB"}
    for v in "AB":  # tracing and XLA compilation, the pipelines' warm-up
        time_training(model, feeds[v], 3)
    rates = {"A": [], "B": []}
    for r in range(args.train_rounds):
        for v in ("AB" if r % 2 == 0 else "BA"):
            rates[v].append(time_training(model, feeds[v], args.train_steps))
        print(f"training round {r + 1}: A {rates['A'][-1]:.0f} img/s, "
              f"B {rates['B'][-1]:.0f} img/s", flush=True)
    return {"model": f"{config.model.backbone} width {config.model.width} at "
                     f"{SIZE[0]}x{SIZE[1]}, XLA, "
                     "train_on_batch on the next batch of each pipeline",
            "steps_per_round": args.train_steps, "A_tf_ops": summary(rates["A"]),
            "B_numpy": summary(rates["B"]),
            "B_over_A_median": round(statistics.median(rates["B"])
                                     / statistics.median(rates["A"]), 3)}


if __name__ == "__main__":
    main()
