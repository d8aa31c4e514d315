"""Why the seed's final recipe does not learn: the pulls on BatchNorm's gamma and GHM's weights.

    python experiments/final_mechanism.py [--rows v4.0 final ...] [--scale long]
        [--data synthetic] [--trained]

For each row (its experiment at ``--scale`` and ``--data``: by default where the dissection of
chapter 18 was trained), on one batch of the committed sample plates (``data_samples/``), it
measures at initialisation (and, with ``--trained``, for the trained model of
``runs/ablation/<scale>/<data>/<row>/seed2026`` when it is there):

* the mean |gradient| of the data loss (characters and length) on every BatchNorm gamma, and
  that of the penalty on gamma (``model.losses``; for L1 it is lambda on every gamma): Adam
  divides each parameter's gradient by its own running size, so where the penalty's pull is
  the larger, gamma moves towards zero at the learning rate whatever the plates say;
* the loss of the characters, and for GHM its per-position weights: at initialisation every
  character's gradient norm g = 1 - p sits in the last bin, so the weights are all one;
* the spread of the pooled features across plates: with global average pooling each head
  reads one vector pooled over the whole plate, and the heads can only tell their positions
  apart through what the backbone writes into the channels.

It writes ``results/final_mechanism.json``.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from lpr_lib.ablation import DATA_SETTINGS, SCALES
from lpr_lib.repro import REPO_ROOT, RESULTS_DIR, RUNS_DIR, write_result

ROWS = ("v4.0", "final", "final-flathead", "final-ce", "final-nol1", "final-l2gamma",
        "final-adam", "final-cosine")


def _batch(config, n: int = 64):
    from lpr_lib import plates
    from lpr_lib.data.formats import read_image
    from lpr_lib.data.loading import load_samples
    from lpr_lib.data.pydataset import preprocess_numpy

    samples = load_samples(REPO_ROOT / "data_samples")[:n]
    size = tuple(config.data.image_size)
    x = np.stack([preprocess_numpy(read_image(s), size, config.data.whiten) for s in samples])
    y = np.stack([plates.text_to_labels(s.text) for s in samples]).astype("int32")
    return x.astype("float32"), y


def measure(model, config, x, y) -> dict:
    import tensorflow as tf

    import keras
    from lpr_lib.train import _with_targets  # the targets training uses

    ds = _with_targets(tf.data.Dataset.from_tensor_slices((x, y)).batch(len(x)))
    _, targets = next(iter(ds))
    chars_loss = config.loss.build()
    gammas = [layer.gamma for layer in model.layers
              if isinstance(layer, keras.layers.BatchNormalization) and layer.gamma is not None]
    with tf.GradientTape(persistent=True) as tape:
        out = model(x, training=True)
        data = tf.reduce_mean(chars_loss(targets["chars"], out["chars"])) + \
            config.loss.length_weight * tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(targets["length"], out["length"]))
        penalty = tf.add_n(model.losses) if model.losses else tf.constant(0.0)
    g_data = [tape.gradient(data, g) for g in gammas]
    g_pen = [tape.gradient(penalty, g) for g in gammas]
    flat = lambda gs: np.concatenate([np.abs(np.asarray(g)).ravel() for g in gs if g is not None])  # noqa: E731
    data_pull, pen = flat(g_data), flat(g_pen) if any(g is not None for g in g_pen) else None
    result = {"chars_loss": float(tf.reduce_mean(chars_loss(targets["chars"], out["chars"]))),
              "gamma_n": int(sum(int(np.prod(g.shape)) for g in gammas)),
              "data_pull_on_gamma": {"mean": float(data_pull.mean()),
                                     "median": float(np.median(data_pull)),
                                     "p90": float(np.quantile(data_pull, 0.9))},
              "penalty_pull_on_gamma": None if pen is None else float(pen.mean()),
              "share_of_gammas_pulled_harder_by_the_penalty":
                  None if pen is None else float((pen > data_pull).mean()),
              "gamma_abs_median": float(np.median(np.concatenate(
                  [np.abs(np.asarray(g)).ravel() for g in gammas])))}
    if hasattr(chars_loss, "weights") and config.loss.name.startswith("ghm"):
        probs = np.asarray(out["chars"])
        labels = np.asarray(targets["chars"])
        mask = (labels >= 0).astype("float32")
        p_true = np.take_along_axis(probs, np.maximum(labels, 0)[..., None], -1)[..., 0]
        w, _ = chars_loss.weights(tf.constant(1.0 - p_true, "float32"), tf.constant(mask),
                                  update=False)
        w = np.asarray(w)[mask > 0]
        result["ghm_weights"] = {"mean": float(w.mean()), "min": float(w.min()),
                                 "max": float(w.max())}
        result["g_mean"] = float((1.0 - p_true)[mask > 0].mean())
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", nargs="+", default=list(ROWS))
    p.add_argument("--scale", default="long", choices=SCALES,
                   help="the ablation scale (default: long)")
    p.add_argument("--data", default="synthetic", choices=DATA_SETTINGS)
    p.add_argument("--trained", action="store_true",
                   help="also measure each row's trained model from runs/ablation/SCALE/DATA")
    a = p.parse_args(argv)
    import keras

    from lpr_lib.ablation import row_config
    from lpr_lib.model import build_model
    from lpr_lib.predict import load_model

    started = time.time()
    out = {}
    for row in a.rows:
        config = row_config(row, a.data, 2026, a.scale)
        keras.utils.set_random_seed(2026)
        model = build_model(config)
        x, y = _batch(config)
        out[row] = {"init": measure(model, config, x, y),
                    "bn_decay": config.model.bn_decay,
                    "bn_decay_type": config.model.bn_decay_type,
                    "loss": config.loss.name, "pooling": config.model.pooling}
        run = RUNS_DIR / "ablation" / a.scale / a.data / row / "seed2026"
        if a.trained and (run / "best.keras").is_file():
            out[row]["trained"] = measure(load_model(run), config, x, y)
        print(row, out[row], flush=True)
    path = write_result("final_mechanism", {
        "what": "the pulls on BatchNorm's gamma (data loss against penalty, mean |gradient| "
                "per gamma) and GHM's weights, on one batch of data_samples/, for the seed's "
                "final recipe and the rows that replace one of its parts",
        "scale": a.scale, "data": a.data, "rows": out},
        seed=2026, started=started, directory=RESULTS_DIR)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
