"""Read crops with one plate reader in a process of its own (started by :mod:`bench.readers`
with one thread), and time it at batch 1 after warm-up:

    python -m bench.reader_worker SPEC.json

``SPEC.json``: ``{"reader": "mixed"|"mixed-located"|"slim"|"synthetic"|"lprnet", "files": [...],
"timing_files": [...], "repeats", "warmup", "max_seconds", "out", "workdir"}``. Writes
``{"texts", "confidence", "latency": {name: {...}}, ...}`` to ``out``.

- Ours (the shipped models, :func:`lpr_lib.predict.load_model`): the texts are what ``lpr
  predict`` says (:class:`~lpr_lib.predict.Predictor`, the most probable valid plate), with no
  confidence floor, so that every crop gets a reading; ``texts_argmax`` are each head's most
  probable character (what ``lpr eval`` and ``results/shipped_*.json`` score). Timed four
  ways: ``end_to_end`` (a decoded RGB crop to its text through ``Predictor.read``:
  preprocessing, the model, decoding) and ``model`` (the network alone on a preprocessed
  crop) in Keras, and the same two with the model exported to ONNX (``lpr export --format
  onnx``) in ONNX Runtime on one thread. A name ending in ``-located`` is the same model read
  with ``Predictor(locate=True)`` (:mod:`lpr_lib.locate`: each crop cut to its plate first).
- LPRNet (``../shared/anchors/lprnet``): ONNX Runtime on one thread, one plate at a time, as
  its README says: BGR, ``cv2.resize`` to 94x24 (bilinear), ``(x - 127.5) * 0.0078125``, greedy
  CTC decoding (argmax per column, repeats collapsed, blank dropped). Timed ``end_to_end`` (a
  decoded BGR crop to its text) and ``model`` (the network alone).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from bench.clock import time_calls

OURS = ("mixed", "mixed-located", "slim", "synthetic")
LPRNET_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "anchors" / "lprnet"


def _bgr(path) -> np.ndarray:
    import cv2

    image = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not an image OpenCV can decode")
    return image


def ours(spec: dict) -> dict:
    from lpr_lib.export import write_exports
    from lpr_lib.predict import Predictor, load_model
    from lpr_lib.runtime import EXPORT_NAMES, load_exported

    locate = spec["reader"].endswith("-located")
    model = load_model(spec["reader"].removesuffix("-located"))
    reader = Predictor(model, min_confidence=0.0, locate=locate)
    argmax = Predictor(model, min_confidence=0.0, constrained=False, locate=locate)
    texts, confidence, texts_argmax = [], [], []
    files = spec["files"]
    for i in range(0, len(files), 64):
        images = [_bgr(p)[..., ::-1] for p in files[i:i + 64]]
        outputs = reader.probabilities(images)
        t, c, _ = reader.decode(outputs)
        texts += t
        confidence += [float(v) for v in c]
        texts_argmax += argmax.decode(outputs)[0]
    timing = [np.ascontiguousarray(_bgr(p)[..., ::-1]) for p in spec["timing_files"]]
    args = (spec["repeats"], spec["warmup"], spec["max_seconds"])
    latency = {}
    prepared = [reader.preprocess([im]) for im in timing]
    latency["keras_end_to_end"] = time_calls(lambda im: reader.read([im]), timing, *args)
    latency["keras_model"] = time_calls(model.predict_on_batch, prepared, *args)
    folder = Path(spec["workdir"]) / f"{spec['reader']}_onnx"
    check = write_exports(model, folder, ["onnx"], strict=False,
                          on_error=lambda fmt, err: None)["onnx"]
    if "error" in check:
        latency["onnx"] = {"error": check["error"]}
    else:
        onnx_model = load_exported(folder / EXPORT_NAMES["onnx"], threads=1)
        onnx_reader = Predictor(onnx_model, min_confidence=0.0, locate=locate)
        latency["onnx_end_to_end"] = time_calls(lambda im: onnx_reader.read([im]), timing,
                                                *args)
        latency["onnx_model"] = time_calls(onnx_model.predict_on_batch, prepared, *args)
    return {"texts": texts, "confidence": confidence, "texts_argmax": texts_argmax,
            "latency": latency, "params": int(model.count_params()),
            "input": list(model.input.shape[1:3])}


class LPRNet:
    """LPRNet's ONNX file read as its README says (one plate at a time)."""

    def __init__(self, folder=LPRNET_DIR, threads: int = 1):
        import onnxruntime as ort

        folder = Path(folder)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(str(folder / "lprnet.onnx"), opts,
                                            providers=["CPUExecutionProvider"])
        self.chars = (folder / "chars.txt").read_text(encoding="utf-8").split("\n")[:68]
        self.blank = len(self.chars) - 1

    @staticmethod
    def preprocess(bgr: np.ndarray) -> np.ndarray:
        import cv2

        x = cv2.resize(bgr, (94, 24), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        return ((x - 127.5) * 0.0078125).transpose(2, 0, 1)[None]

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"image": x})[0]

    def decode(self, logits: np.ndarray) -> tuple[str, float]:
        """Greedy CTC: the argmax class of each column, repeats collapsed, blanks dropped; the
        confidence is the mean of the kept columns' softmax maxima."""
        z = logits[0] - logits[0].max(0)
        p = np.exp(z) / np.exp(z).sum(0)
        best = p.argmax(0)
        out, probs, previous = [], [], None
        for t, c in enumerate(best):
            if c != previous and c != self.blank:
                out.append(self.chars[c])
                probs.append(p[c, t])
            previous = c
        return "".join(out), float(np.mean(probs)) if probs else 0.0

    def read(self, bgr: np.ndarray) -> tuple[str, float]:
        return self.decode(self.logits(self.preprocess(bgr)))


def lprnet(spec: dict) -> dict:
    net = LPRNet(spec.get("lprnet_dir") or LPRNET_DIR)
    texts, confidence = [], []
    for path in spec["files"]:
        t, c = net.read(_bgr(path))
        texts.append(t)
        confidence.append(c)
    timing = [_bgr(p) for p in spec["timing_files"]]
    args = (spec["repeats"], spec["warmup"], spec["max_seconds"])
    latency = {"end_to_end": time_calls(net.read, timing, *args),
               "model": time_calls(net.logits, [net.preprocess(im) for im in timing], *args)}
    import onnx

    graph = onnx.load(str(Path(spec.get("lprnet_dir") or LPRNET_DIR) / "lprnet.onnx")).graph
    params = int(sum(int(np.prod(t.dims)) for t in graph.initializer))
    return {"texts": texts, "confidence": confidence, "latency": latency, "params": params,
            "input": [24, 94]}


def main(argv=None) -> int:
    from importlib import metadata

    spec = json.loads(Path((argv or sys.argv[1:])[0]).read_text(encoding="utf-8"))
    if spec["reader"] in OURS:
        out = ours(spec)
    elif spec["reader"] == "lprnet":
        out = lprnet(spec)
    else:
        raise SystemExit(f"unknown reader {spec['reader']!r}")
    out["versions"] = {}
    for name in ("tensorflow", "keras", "onnxruntime", "opencv-python-headless", "numpy"):
        try:
            out["versions"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    Path(spec["out"]).write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
