"""Pack ../shared/real_plates at the model's input size for a machine without TensorFlow.

    python tools/pack_real_plates.py .gpu/real32x96.npz [--size 32 96]

Decodes and resizes every crop exactly as the training pipeline does
(``lpr_lib.data.preprocessing.decode_image``), splits the training crops by plate text as
``lpr train`` does (``data.val_split`` 0.1, seed 2026), and writes one compressed NumPy file
with ``train_x/train_text``, ``val_x/val_text`` and ``test_x/test_text``. The file holds the
real photographs: keep it in an ignored folder, never commit it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    import tensorflow as tf

    from lpr_lib import data
    from lpr_lib.data.preprocessing import decode_image
    from lpr_lib.repro import DEFAULT_SEED, SHARED_REAL

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--size", type=int, nargs=2, default=(32, 96), metavar=("H", "W"))
    p.add_argument("--val-split", type=float, default=0.1)
    a = p.parse_args()
    size = tuple(a.size)

    def arrays(samples):
        x = np.stack([decode_image(tf.io.read_file(str(s.path)), size).numpy() for s in samples])
        return x, np.array([s.text for s in samples])

    train, val = data.split_by_plate(data.load_samples(SHARED_REAL / "train"), a.val_split,
                                     DEFAULT_SEED)
    out = {}
    for key, samples in (("train", train), ("val", val),
                         ("test", data.load_samples(SHARED_REAL / "test"))):
        out[f"{key}_x"], out[f"{key}_text"] = arrays(samples)
        print(key, out[f"{key}_x"].shape)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out, **out)


if __name__ == "__main__":
    main()
