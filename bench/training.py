"""Training throughput: images per second of the library's own training step (the default
config's loss, optimizer, schedule and XLA compilation, ``lpr_lib.train.compile_model``) per
backbone, and for ResNet-18 at widths 0.25 and 0.5, each in a fresh process fed by the input
pipeline ``lpr train`` uses (JPEG plates decoded once and cached, augmented, standardised);
and that pipeline's own images per second, alone, beside it.

    python -m bench.training --one '{"backbone": "resnet18", "width": 0.5}' --folder PLATES

The plates are rendered once into the bench's work folder (not ``runs/``). A training step
costs about three forward passes (forward, and two for the backward pass): ``train_gflops``
is ``6 x MACs x images/s``, set against the all-core peak.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

def settings() -> list[dict]:
    """The rows: every backbone at the default width, and ResNet-18 at 0.25 and 0.5."""
    from lpr_lib.backbones import BACKBONES
    from lpr_lib.config import default_config

    width = default_config().model.width
    rows = [{"backbone": b, "width": width} for b in BACKBONES]
    return rows + [{"backbone": "resnet18", "width": w} for w in (0.25, 0.5) if w != width]


def _config(setting: dict, quick: bool):
    from lpr_lib.config import default_config

    cfg = default_config().override([f"model.backbone={setting['backbone']}",
                                     f"model.width={setting['width']}"])
    if quick:  # the shape of the result, not the speed: no XLA compilation, small batches
        cfg = cfg.override(["jit_compile=false", "batch_size=16"])
    return cfg


def _dataset(cfg, folder):
    import tensorflow as tf

    from lpr_lib.data import make_dataset

    ds = make_dataset(folder, batch_size=cfg.batch_size, image_size=tuple(cfg.data.image_size),
                      whiten=cfg.data.whiten, augment=cfg.data.augment, shuffle=True,
                      seed=cfg.seed, repeat=True, drop_remainder=True)
    return ds.map(lambda im, lab: (im, {"chars": lab,
                                        "length": tf.cast(lab[:, 7] >= 0, tf.int32)}),
                  num_parallel_calls=tf.data.AUTOTUNE)


def measure_training(setting: dict, folder, steps: int, warmup: int, quick: bool) -> dict:
    """One row, in this process: build and compile the default model with ``setting``'s backbone
    and width, and time ``steps`` training steps after ``warmup`` (``lpr_lib.benchmark
    .time_fit``)."""
    import keras

    from lpr_lib.benchmark import peak_rss_mb, time_fit
    from lpr_lib.model import build_model, count_flops
    from lpr_lib.train import compile_model, configure_tensorflow

    cfg = _config(setting, quick)
    configure_tensorflow(cfg)
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(cfg)
    compile_model(model, cfg, steps_per_epoch=warmup + steps)
    out = {"setting": setting, "batch_size": cfg.batch_size, "jit_compile": cfg.jit_compile,
           "params": int(model.count_params()), "macs": int(count_flops(model)["macs"])}
    out.update(time_fit(model, {"x": _dataset(cfg, folder)}, cfg.batch_size, steps, warmup,
                        cfg.steps_per_execution))
    out["train_gflops"] = round(6 * out["macs"] * out["img_per_s"] / 1e9, 2)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def measure_pipeline(folder, batches: int, quick: bool) -> dict:
    """The training input pipeline alone: images per second over windows of ``batches``
    batches after the cache's first pass (``lpr_lib.data.bench.dataset_rate``)."""
    from lpr_lib.benchmark import peak_rss_mb, spread
    from lpr_lib.data.bench import dataset_rate
    from lpr_lib.data.loading import load_samples

    cfg = _config({"backbone": "resnet18", "width": 0.25}, quick)
    n = len(load_samples(folder))
    r = dataset_rate(_dataset(cfg, folder), batches, warmup=n // cfg.batch_size + 2,
                     repeats=3 if quick else 5)
    s = spread(r["windows_img_per_s"])
    return {"img_per_s": round(s["median"], 1), "iqr_img_per_s": [round(v, 1) for v in s["iqr"]],
            "windows_img_per_s": r["windows_img_per_s"],
            "images_per_window": r["images_per_window"],
            "batch_size": cfg.batch_size, "files": n, "augment": True, "cached": True,
            "peak_rss_mb": peak_rss_mb()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--one", help="JSON setting: time its training here and print JSON")
    p.add_argument("--pipeline", action="store_true", help="time the input pipeline alone")
    p.add_argument("--folder", required=True, help="the rendered plates")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batches", type=int, default=8)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.pipeline:
        print(json.dumps(measure_pipeline(Path(args.folder), args.batches, args.quick)))
    if args.one:
        print(json.dumps(measure_training(json.loads(args.one), Path(args.folder), args.steps,
                                          args.warmup, args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
