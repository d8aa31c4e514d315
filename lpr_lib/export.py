"""Load a trained plate reader, read plates with it, and export it (SavedModel, TFLite).

    predictor = Predictor(load_model("runs/default"))
    predictor.predict(["plate1.jpg", "plate2.jpg"])   # [("皖A12345", 0.998), ...]

Preprocessing (resize to the model's input size, per-image standardisation when the run
was trained with ``data.whiten``) is :func:`lpr_lib.data.preprocess`, the same function
training used. The exported SavedModel and TFLite models take the *preprocessed* image
(float32 ``(batch, H, W, 3)``): preprocessing stays in one place (this module and
``lpr_lib.data``), and an app feeding the TFLite model must standardise each crop
(subtract its mean, divide by its standard deviation, as ``tf.image.per_image_standardization``).
``export`` writes a ``preprocessing.json`` next to the models saying exactly this.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from lpr_lib.repro import REPO_ROOT

__all__ = ["load_model", "resolve_model", "latest_run", "run_config", "run_whiten", "Predictor",
           "predict",
           "export_savedmodel", "export_tflite", "tflite_predict", "cli_predict", "cli_export"]

RUNS_DIR = REPO_ROOT / "runs"
MODEL_FILES = ("best.keras", "last.keras", "model.keras")  # in this order of preference


def latest_run(runs_dir: str | os.PathLike | None = None) -> Path:
    """The most recently written run folder under ``runs/`` that holds a model."""
    runs_dir = Path(runs_dir) if runs_dir is not None else RUNS_DIR
    candidates = [f for f in runs_dir.glob("*/*.keras") if f.name in MODEL_FILES] \
        if runs_dir.is_dir() else []
    if not candidates:
        raise FileNotFoundError(f"{runs_dir}: no run folder with a model (train one with "
                                "`lpr train`, or pass --model)")
    return max(candidates, key=lambda f: f.stat().st_mtime).parent


def _model_file(path: Path) -> Path:
    if path.is_dir():
        for name in MODEL_FILES:
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"{path}: no {', '.join(MODEL_FILES)} in this folder")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    if path.suffix != ".keras":
        raise ValueError(f"{path}: expected a .keras model file or a run folder")
    return path


def resolve_model(path: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Where a model comes from, and how to name it to the user: ``None`` = the default
    shipped model; a shipped model's name (``"synthetic"``, see :mod:`lpr_lib.models`);
    ``"latest"`` = the latest run under ``runs/``; else a run folder or a ``.keras`` file."""
    from lpr_lib.models import DEFAULT_MODEL, SHIPPED, is_shipped, shipped_path

    if path is None:
        path = DEFAULT_MODEL
    if is_shipped(path):
        return _model_file(shipped_path(str(path))), f"{path} (shipped: {SHIPPED[str(path)]})"
    if str(path) == "latest" and not Path(path).exists():
        file = _model_file(latest_run())
        return file, f"latest run {file.parent}"
    file = _model_file(Path(path))
    return file, str(file)


def load_model(path: str | os.PathLike | None = None):
    """Load a model: ``None`` = the default shipped model (``"mixed"``), a shipped model's
    name, ``"latest"`` (the latest run under ``runs/``), a ``.keras`` file or a run folder
    (its ``best.keras``, else ``last.keras``). Loaded for inference (uncompiled); the
    model's ``_lpr_name`` says which one it is."""
    import keras

    import lpr_lib.backbones  # noqa: F401  registers FusedBatchNormalization
    import lpr_lib.losses  # noqa: F401

    file, name = resolve_model(path)
    model = keras.models.load_model(file, compile=False)
    model._lpr_source = file  # where it came from: run_config() reads the run's config
    model._lpr_name = name
    return model


def run_config(model_or_path):
    """The ``ExperimentConfig`` of the run a model belongs to (its folder's
    ``config.yaml``), or ``None`` when the model file has none beside it."""
    from lpr_lib.train import ExperimentConfig

    source = getattr(model_or_path, "_lpr_source", model_or_path)
    if source is None:
        return None
    source = Path(source)
    cfg = (source if source.is_dir() else source.parent) / "config.yaml"
    return ExperimentConfig.from_yaml(cfg) if cfg.is_file() else None


def run_whiten(model) -> bool:
    """Whether ``model`` was trained on whitened images: its run's ``data.whiten``, or
    ``True`` (the library's default) when the model has no run config beside it."""
    cfg = run_config(model)
    return True if cfg is None else cfg.data.whiten


def _read_rgb(path) -> np.ndarray:
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image not found")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as err:
        raise ValueError(f"{path}: not a readable image ({err})") from None


class Predictor:
    """Reads plates: images (paths or uint8 RGB arrays) -> ``[(text, confidence), ...]``.

    ``confidence`` is the product of the read heads' top probabilities times the length
    head's (``metrics.plate_confidence(mode="product")``); ``mode="min"`` takes the least
    sure of them instead. ``whiten`` defaults to the run's config (True without one).
    """

    def __init__(self, model, whiten: bool | None = None, mode: str = "product",
                 batch_size: int = 128):
        if whiten is None:
            whiten = run_whiten(model)
        self.model, self.whiten, self.mode, self.batch_size = model, whiten, mode, batch_size
        self.image_size = tuple(model.input.shape[1:3])

    def preprocess(self, images) -> np.ndarray:
        from lpr_lib.data import preprocess

        arrays = [_read_rgb(im) if isinstance(im, (str, Path)) else np.asarray(im)
                  for im in images]
        return np.stack([preprocess(a, self.image_size, self.whiten).numpy() for a in arrays])

    def probabilities(self, images) -> dict:
        """The model's outputs (NumPy) for a list of images."""
        x = self.preprocess(images)
        outs = [self.model.predict_on_batch(x[i:i + self.batch_size])
                for i in range(0, len(x), self.batch_size)]
        return {k: np.concatenate([np.asarray(o[k]) for o in outs]) for k in outs[0]}

    def predict(self, images) -> list[tuple[str, float]]:
        from lpr_lib.metrics import decode, plate_confidence
        from lpr_lib.plates import labels_to_text

        images = list(images)
        if not images:
            return []
        p = self.probabilities(images)
        pred, top = decode(p["chars"], p.get("length"))
        conf = plate_confidence(top, pred, self.mode, p.get("length"))
        return [(labels_to_text(row), float(c)) for row, c in zip(pred, conf)]


def predict(images, model=None, **kw) -> list[tuple[str, float]]:
    """Read the plate in each image (paths or arrays) with ``model`` (a model, a path, or
    ``None`` for the latest run): a list of ``(text, confidence)``."""
    if model is None or isinstance(model, (str, Path)):
        model = load_model(model)
    return Predictor(model, **kw).predict(images)


# ------------------------------------------------------------------------ export


def export_savedmodel(model, out_dir) -> Path:
    """Write a TensorFlow SavedModel (``serve`` endpoint: preprocessed images -> outputs)."""
    out_dir = Path(out_dir)
    model.export(str(out_dir), format="tf_saved_model", verbose=False)
    return out_dir


def export_tflite(model, path, quantize: bool = False) -> Path:
    """Convert ``model`` to a TFLite flatbuffer at ``path`` (float32 unless ``quantize``:
    dynamic-range int8 weights). Input: one preprocessed image batch ``(1, H, W, 3)``."""
    import tempfile

    import tensorflow as tf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        export_savedmodel(model, Path(tmp) / "sm")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(Path(tmp) / "sm"))
        if quantize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        path.write_bytes(converter.convert())
    return path


def tflite_predict(tflite_path, images: np.ndarray) -> dict:
    """Run a TFLite model on preprocessed images ``(N, H, W, 3)``; return its outputs by
    name (``"chars"``, ``"length"``)."""
    import tensorflow as tf

    import warnings

    with warnings.catch_warnings():  # "use ai_edge_litert": not a dependency of ours
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_path=str(tflite_path))
    runner = interpreter.get_signature_runner()
    input_name = next(iter(runner.get_input_details()))
    outs = [runner(**{input_name: images[i:i + 1].astype(np.float32)})
            for i in range(len(images))]
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


# ------------------------------------------------------------------------ CLI


def cli_predict(args) -> int:
    """``lpr predict IMAGE... [--model M] [--json]``. With a model whose threshold was chosen
    on validation (the shipped ones), each reading says whether it reaches that threshold
    (99.9% precision on the model's validation plates): below it, treat the reading as
    unsure."""
    from lpr_lib.evaluate import stored_threshold

    model = load_model(args.model)
    results = Predictor(model).predict(args.images)
    threshold = stored_threshold(model)
    sure = [None if threshold is None else c >= threshold for _, c in results]
    if args.json:
        print(json.dumps({"model": model._lpr_name, "threshold": threshold, "plates": [
            {"image": str(p), "text": t, "confidence": round(c, 6), "sure": s}
            for p, (t, c), s in zip(args.images, results, sure)]}, ensure_ascii=False))
    else:
        print(f"model: {model._lpr_name}" + ("" if threshold is None else
              f"; readings below confidence {threshold:.4f} are marked unsure"), file=sys.stderr)
        for path, (text, conf), s in zip(args.images, results, sure):
            print(f"{text}\t{conf:.4f}\t{path}" + ("\tunsure" if s is False else ""))
    return 0


def cli_export(args) -> int:
    """``lpr export --out DIR [--model M] [--format savedmodel|tflite|both]``."""
    model = load_model(args.model)
    print(f"model: {model._lpr_name}", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = run_config(model)
    whiten = True if cfg is None else cfg.data.whiten
    if args.format in ("savedmodel", "both"):
        print(f"SavedModel: {export_savedmodel(model, out / 'savedmodel')}")
    if args.format in ("tflite", "both"):
        print(f"TFLite:     {export_tflite(model, out / 'model.tflite')}")
    (out / "preprocessing.json").write_text(json.dumps({
        "input": "float32 (batch, H, W, 3) RGB, preprocessed",
        "image_size": list(model.input.shape[1:3]),
        "steps": ["scale uint8 to [0, 1]", "resize bilinear (antialias) to image_size"]
        + (["per-image standardisation: (x - mean) / max(std, 1/sqrt(H*W*3))"] if whiten
           else ["clip to [0, 1]"]),
        "outputs": {"chars": "(batch, 8, 74) softmax per position over lpr_lib.plates.CHARS",
                    "length": "(batch, 2) softmax over {7, 8} characters"},
    }, indent=2) + "\n")
    print(f"notes:      {out / 'preprocessing.json'}", file=sys.stderr)
    return 0
