"""Make the committed ``data_samples/`` folder: 8 synthetic plates of every kind at 48x144.

    .venv/bin/python tools/make_data_samples.py [--per-kind 8] [--out data_samples]

Kinds cycle with the image index so that every kind is present; image ``i`` depends only on
(seed, i). Written in the same format as ``lpr synth`` (``labels.txt`` and ``meta.tsv``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from lpr_lib.plates import KINDS
from lpr_lib.repro import REPO_ROOT
from lpr_lib.synth import PlateGenerator, SynthConfig
from lpr_lib.synth.generator import _label_line

SEED = 2026


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-kind", type=int, default=8)
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "data_samples")
    args = ap.parse_args()
    kinds = list(KINDS)
    gen = PlateGenerator(SynthConfig(), seed=SEED)
    args.out.mkdir(parents=True, exist_ok=True)
    old_labels = args.out / "labels.txt"
    if old_labels.is_file():  # replace only the images of the previous run, nothing else
        for line in old_labels.read_text(encoding="utf-8").splitlines():
            (args.out / line.split(" ")[0]).unlink(missing_ok=True)
    labels, meta = [], ["file\tlabel\ttext\tkind\tnoise"]
    for i in range(args.per_kind * len(kinds)):
        kind = kinds[i % len(kinds)]
        s = gen.sample_record(np.random.default_rng([SEED, i]), kind=kind)
        name = f"{s.label}_{i:04d}.jpg"
        ok, buf = cv2.imencode(".jpg", s.image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        (args.out / name).write_bytes(buf.tobytes())
        labels.append(_label_line(name, s.label))
        meta.append(f"{name}\t{s.label}\t{s.text}\t{s.kind}\t{s.noise}")
    (args.out / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    (args.out / "meta.tsv").write_text("\n".join(meta) + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"{args.out}: {len(labels)} plates, {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
