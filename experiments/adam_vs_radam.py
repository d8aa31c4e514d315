"""Chapter 6's comparison: Adam and RAdam, with and without warm-up, on a small teacher task.

    .venv/bin/python experiments/adam_vs_radam.py     # about a minute on 2 CPU cores

A 32-128-128-10 MLP learns the classes of a fixed random teacher (4,096 points), 300 steps of
batch 64, at learning rates 1e-2 and 5e-2, three seeds each, with Adam, RAdam, and both behind
a 50-step linear warm-up. Every step's training loss goes to ``results/adam_vs_radam.json``;
chapter 6 draws the curves and the table from it.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# this checkout's library, not whichever one the environment installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

STEPS, SEEDS, RATES, BATCH, WARMUP = 300, (0, 1, 2), (1e-2, 5e-2), 64, 50


def teacher_task(seed: int = 0):
    """4,096 Gaussian points and the argmax of a random two-layer teacher."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4096, 32)).astype("float32")
    teacher = (rng.normal(size=(32, 64)), rng.normal(size=(64, 10)))
    y = (np.tanh(x @ teacher[0] / np.sqrt(32)) @ teacher[1]).argmax(1).astype("int32")
    return x, y


def train(optimizer, x, y, steps: int = STEPS, seed: int = 0, batch: int = BATCH):
    """The training loss at every step of one run."""
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                      model.trainable_variables))
        return loss

    batches = np.random.default_rng(seed).integers(0, len(x), size=(steps, batch))
    return [float(step(x[i], y[i])) for i in batches]


def makers(steps: int = STEPS) -> dict:
    import keras

    from lpr_lib import optim

    def warm(lr):
        return optim.WarmupCosine(lr, warmup_steps=WARMUP, total_steps=steps, final_ratio=1.0)

    return {"Adam": lambda lr: keras.optimizers.Adam(lr),
            "RAdam": lambda lr: optim.RAdam(lr),
            "Adam + warmup": lambda lr: keras.optimizers.Adam(warm(lr)),
            "RAdam + warmup": lambda lr: optim.RAdam(warm(lr))}


def main() -> int:
    from lpr_lib.repro import REPO_ROOT, write_result

    started = time.time()
    x, y = teacher_task()
    # learning rate -> optimizer -> one list of losses per seed
    curves = {f"{lr:g}": {name: [[round(v, 5) for v in train(make(lr), x, y, STEPS, s)]
                                 for s in SEEDS] for name, make in makers().items()}
              for lr in RATES}
    config = {"steps": STEPS, "seeds": list(SEEDS), "learning_rates": list(RATES),
              "batch": BATCH, "warmup_steps": WARMUP, "model": "MLP 32-128-128-10",
              "data": "4,096 Gaussian points, classes from a random tanh teacher (seed 0)"}
    path = write_result("adam_vs_radam", {"loss_per_step": curves}, config=config,
                        started=started)
    print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
