"""Read crops with HyperLPR (PyPI ``hyperlpr2``), in HyperLPR's own environment:

    .venv-hyperlpr/bin/python bench/hyperlpr_worker.py SPEC.json

``SPEC.json``: ``{"files": [...], "timing_files": [...], "repeats", "warmup", "max_seconds",
"out"}``. Writes ``{"texts": [...], "confidence": [...], "latency": {...}, "versions": {...}}``
to ``out``. One path for every crop (:data:`PATH`), chosen before any result was seen: the full
pipeline a user would run (``LPR.plate_recognition``: its SSD detector, its corner-refining
step, its recogniser) on the crop set in a grey margin of half the crop's width on every side,
so that the detector sees a plate with something around it. The first detection is read
(``detect_ssd`` returns at most one); none is an empty reading. OpenCV runs on one thread.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

PATH = ("full pipeline (LPR.plate_recognition: SSD detector, corner refinement, recogniser) on "
        "the crop padded with grey (127) by half the crop's width on every side; the first "
        "detection's text, no detection read as an empty text")
GREY = 127


def pad(bgr):
    """The crop in a grey margin of half its width on every side."""
    import cv2

    m = bgr.shape[1] // 2
    return cv2.copyMakeBorder(bgr, m, m, m, m, cv2.BORDER_CONSTANT, value=(GREY, GREY, GREY))


def read(lpr, bgr) -> tuple[str, float]:
    try:
        found = lpr.plate_recognition(pad(bgr))
    except TypeError:  # detect_ssd returns None when its network outputs no row at all
        found = None
    if not found:
        return "", 0.0
    text, confidence = found[0][0], found[0][1]
    return str(text), float(confidence)


def main(argv=None) -> int:
    import cv2
    import numpy as np
    from importlib import metadata

    import hyperlpr2

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from clock import time_calls

    spec = json.loads(Path((argv or sys.argv[1:])[0]).read_text(encoding="utf-8"))
    cv2.setNumThreads(1)
    lpr = hyperlpr2.PR

    def load(path):
        image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{path}: not an image OpenCV can decode")
        return image
    texts, confidence = [], []
    for path in spec["files"]:
        t, c = read(lpr, load(path))
        texts.append(t)
        confidence.append(c)
    timing = [load(p) for p in spec["timing_files"]]
    latency = {"end_to_end": time_calls(lambda im: read(lpr, im), timing, spec["repeats"],
                                        spec["warmup"], spec["max_seconds"])}
    out = {"texts": texts, "confidence": confidence, "latency": latency, "path": PATH,
           "threads": {"opencv": cv2.getNumThreads()},
           "versions": {n: metadata.version(n) for n in ("hyperlpr2", "opencv-python", "numpy")}}
    Path(spec["out"]).write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
