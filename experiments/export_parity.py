"""Chapter 10's export check: the shipped ``slim`` reader in every format, read back.

    .venv/bin/python experiments/export_parity.py     # about half a minute on 2 CPU cores

Exports ``slim`` as a SavedModel, a float TFLite, an int8-weight TFLite and ONNX into a
temporary folder, each checked against the Keras model on 8 rendered plates (the largest
difference of any output probability, how many readings agree), then reads the first four
plates of ``data_samples/`` with the Keras model and with each export. The checks and the
readings go to ``results/export_parity.json``; chapter 10 prints them.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

# this checkout's library, not whichever one the environment installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODEL, FORMATS, PLATES = "slim", ("savedmodel", "tflite", "tflite_int8", "onnx"), 4


def measure() -> dict:
    import numpy as np

    from lpr_lib.export import LABELS, write_exports
    from lpr_lib.predict import Predictor, load_model
    from lpr_lib.repro import REPO_ROOT
    from lpr_lib.runtime import EXPORT_NAMES

    model = load_model(MODEL)
    plates = sorted((REPO_ROOT / "data_samples").glob("*.jpg"))[:PLATES]
    readings = {"Keras": [t for t, _ in Predictor(model, min_confidence=0).predict(plates)]}
    checks = {}

    def plain(value):  # numpy scalars and arrays as JSON numbers and lists
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (np.generic, np.ndarray)):
            return value.tolist()
        return value

    with tempfile.TemporaryDirectory() as tmp:
        write_exports(model, Path(tmp), list(FORMATS),
                      report=lambda fmt, path, check: checks.__setitem__(fmt, plain(check)))
        for fmt in FORMATS:
            reader = Predictor(load_model(Path(tmp) / EXPORT_NAMES[fmt]), min_confidence=0)
            readings[LABELS[fmt]] = [t for t, _ in reader.predict(plates)]
    return {"model": MODEL, "plates": [p.name.split("_")[0] for p in plates],
            "parity": checks, "readings": readings}


def main() -> int:
    from lpr_lib.repro import REPO_ROOT, write_result

    started = time.time()
    path = write_result("export_parity", measure(),
                        config={"model": MODEL, "formats": list(FORMATS), "plates": PLATES},
                        started=started)
    print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
