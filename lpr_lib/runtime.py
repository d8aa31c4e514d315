"""Run an exported plate reader (TFLite, ONNX or SavedModel, as ``lpr export`` writes them) the
way a Keras model is run: ``predict_on_batch(images) -> {"chars": ..., "length": ...}``.

    model = load_exported("exported/model.onnx")        # or .tflite, or the savedmodel folder
    model.predict_on_batch(x)                            # x: preprocessed (N, H, W, 3) float32

An exported model takes the *preprocessed* image; how to preprocess it is in the export's
``preprocessing.json`` (beside the model file, or beside the ``savedmodel`` folder), which
:func:`load_exported` reads and refuses to do without: without it nothing says whether the crops
must be standardised. :func:`lpr_lib.predict.load_model` hands exported paths to this module,
so ``lpr predict --model exported/model.tflite`` and ``lpr eval --model ...`` run them with the
same preprocessing and decoding as a Keras model.

The runtimes: TFLite through TensorFlow's interpreter (XNNPACK on a CPU), ONNX through
ONNX Runtime (``onnxruntime``, an optional dependency: ``pip install 'lpr_lib[onnx]'``), a
SavedModel through ``tf.saved_model.load``. ``threads`` (0 or ``None``: every core) sets the
interpreter's or the session's threads; TensorFlow's own pools (SavedModel) are fixed when it
starts (``TF_NUM_INTRAOP_THREADS``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from lpr_lib._tf import DependencyMissing

__all__ = ["EXPORT_NAMES", "PREPROCESSING_FILE", "ExportedModel", "export_format",
           "find_export", "is_export", "load_exported", "read_preprocessing",
           "OnnxUnavailable"]

#: what ``lpr export`` writes for each format, in the order a folder's model is chosen
EXPORT_NAMES = {"tflite": "model.tflite", "onnx": "model.onnx", "savedmodel": "savedmodel",
                "tflite_int8": "model_int8.tflite"}
PREPROCESSING_FILE = "preprocessing.json"


class OnnxUnavailable(DependencyMissing):
    """ONNX export or inference was asked for where its packages are not installed."""


def _require_onnxruntime(what: str):
    try:
        import onnxruntime
    except ImportError as err:
        raise OnnxUnavailable(f"{what} needs ONNX Runtime, which cannot be imported here ({err}); "
                              "pip install 'lpr_lib[onnx]' (onnxruntime)") from None
    return onnxruntime


def export_format(path) -> str | None:
    """``"tflite"``, ``"tflite_int8"``, ``"onnx"`` or ``"savedmodel"`` for an exported model's
    path (by its name; a SavedModel is a folder holding ``saved_model.pb``), else ``None``."""
    path = Path(path)
    if path.suffix == ".tflite":
        return "tflite_int8" if path.stem.endswith("int8") else "tflite"
    if path.suffix == ".onnx":
        return "onnx"
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return "savedmodel"
    return None


def find_export(folder) -> Path | None:
    """The model an export folder holds (``lpr export --out`` writes one per format): the first
    of :data:`EXPORT_NAMES` present, or ``None`` when the folder has none."""
    folder = Path(folder)
    for name in EXPORT_NAMES.values():
        candidate = folder / name
        if candidate.is_file() or (candidate / "saved_model.pb").is_file():
            return candidate
    return None


def is_export(path) -> bool:
    """Whether ``path`` names an exported model: a ``.tflite`` or ``.onnx`` file, a SavedModel
    folder, or a folder with ``preprocessing.json`` (an ``lpr export`` output)."""
    path = Path(path)
    if path.suffix in (".tflite", ".onnx"):
        return True
    return path.is_dir() and ((path / "saved_model.pb").is_file()
                              or (path / PREPROCESSING_FILE).is_file())


def read_preprocessing(model_path) -> dict:
    """The ``preprocessing.json`` of the export that ``model_path`` belongs to (beside it;
    for a SavedModel folder, also inside it), with ``whiten`` and ``image_size`` made
    explicit (exports written before those fields said it in ``steps`` alone)."""
    model_path = Path(model_path)
    candidates = [model_path.parent / PREPROCESSING_FILE]
    if model_path.is_dir():
        candidates.insert(0, model_path / PREPROCESSING_FILE)
    for notes in candidates:
        if notes.is_file():
            break
    else:
        raise FileNotFoundError(f"{model_path}: no {PREPROCESSING_FILE} beside it (lpr export "
                                "writes one): without it nothing says how to preprocess a crop "
                                "for this model")
    try:
        info = json.loads(notes.read_text(encoding="utf-8"))
        size = [int(v) for v in info["image_size"]]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{notes}: not an lpr export's {PREPROCESSING_FILE} ({err})") from None
    if "whiten" not in info:
        info["whiten"] = any("standardisation" in step for step in info.get("steps", []))
    info["image_size"] = size
    info["path"] = str(notes)
    return info


class _Input:
    """Stands for ``keras.Model.input`` where the library reads its shape."""

    def __init__(self, shape):
        self.shape = tuple(shape)


class ExportedModel:
    """An exported model behind the calls the library makes of a Keras model:
    ``predict_on_batch`` (and calling it), ``input.shape``, ``output`` (the output names).
    ``format``: ``"tflite"``, ``"tflite_int8"``, ``"onnx"`` or ``"savedmodel"``; ``whiten``,
    ``image_size`` and ``threshold`` come from its ``preprocessing.json``."""

    def __init__(self, path, threads: int | None = None):
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: exported model not found")
        fmt = export_format(path)
        if fmt is None:
            raise ValueError(f"{path}: not an exported model (a .tflite or .onnx file, or a "
                             "SavedModel folder with saved_model.pb)")
        self.path, self.format = path, fmt
        self.notes = read_preprocessing(path)
        self.whiten = bool(self.notes["whiten"])
        self.image_size = tuple(self.notes["image_size"])
        self.threshold = self.notes.get("threshold")
        self.threads = threads or 0
        self._run = {"tflite": self._tflite, "tflite_int8": self._tflite, "onnx": self._onnx,
                     "savedmodel": self._savedmodel}[fmt](path, self.threads)
        self.input = _Input((None, *self.image_size, 3))
        label = {"tflite": "TFLite", "tflite_int8": "TFLite int8", "onnx": "ONNX",
                 "savedmodel": "SavedModel"}[fmt]
        self._lpr_name = f"{path} ({label} export)"
        self._lpr_source = None  # no run folder: preprocessing.json says what config would
        self._lpr_whiten, self._lpr_threshold = self.whiten, self.threshold

    # the runtimes ------------------------------------------------------------------------

    @staticmethod
    def _tflite(path: Path, threads: int):
        import warnings

        from lpr_lib._tf import require_tensorflow

        tf = require_tensorflow(f"running the TFLite model {path}")
        with warnings.catch_warnings():  # "use ai_edge_litert": not a dependency of ours
            warnings.simplefilter("ignore", UserWarning)
            try:
                interpreter = tf.lite.Interpreter(model_path=str(path),
                                                  num_threads=threads or os.cpu_count() or 1)
                runner = interpreter.get_signature_runner()
            except (ValueError, RuntimeError) as err:
                raise ValueError(f"{path}: not a loadable TFLite model "
                                 f"({str(err).strip()[:200]})") from None
        name = next(iter(runner.get_input_details()))

        def run(x):  # the runner resizes its input to the batch (the batch axis is dynamic)
            return runner(**{name: x})
        return run

    @staticmethod
    def _onnx(path: Path, threads: int):
        ort = _require_onnxruntime(f"running the ONNX model {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: ONNX Runtime's default, every core
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), options,
                                           providers=["CPUExecutionProvider"])
        except Exception as err:  # InvalidProtobuf, Fail, InvalidGraph...: a damaged file
            raise ValueError(f"{path}: not a loadable ONNX model "
                             f"({str(err).strip()[:200]})") from None
        name = session.get_inputs()[0].name
        names = [o.name for o in session.get_outputs()]

        def run(x):
            return dict(zip(names, session.run(None, {name: x})))
        return run

    @staticmethod
    def _savedmodel(path: Path, threads: int):
        from lpr_lib._tf import require_tensorflow

        tf = require_tensorflow(f"running the SavedModel {path}")
        try:
            loaded = tf.saved_model.load(str(path))
            serve = getattr(loaded, "serve", None)  # the endpoint Keras' export writes
        except Exception as err:  # a damaged or foreign SavedModel
            raise ValueError(f"{path}: not a loadable SavedModel "
                             f"({str(err).strip()[:200]})") from None
        if serve is None:
            raise ValueError(f"{path}: a SavedModel without a 'serve' endpoint (lpr export "
                             "writes one)")

        def run(x):
            return {k: v.numpy() for k, v in serve(tf.constant(x)).items()}
        run._keep = loaded  # the functions need their object alive
        return run

    # the Keras-like calls ----------------------------------------------------------------

    @property
    def output(self) -> dict:
        return dict.fromkeys(self.notes.get("outputs", {"chars": None, "length": None}))

    def predict_on_batch(self, x) -> dict:
        """The outputs (NumPy, by name) for a batch of preprocessed images."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4 or tuple(x.shape[1:]) != (*self.image_size, 3):
            raise ValueError(f"{self.path}: expected images (N, {self.image_size[0]}, "
                             f"{self.image_size[1]}, 3), got {x.shape}")
        return {k: np.asarray(v) for k, v in self._run(x).items()}

    __call__ = predict_on_batch

    def __repr__(self) -> str:
        return f"ExportedModel({self._lpr_name})"


def load_exported(path, threads: int | None = None) -> ExportedModel:
    """An exported model: a ``.tflite`` or ``.onnx`` file, a SavedModel folder, or an export
    folder (its model by :func:`find_export`'s preference). Clear errors for a missing path, a
    folder with no exported model, a missing ``preprocessing.json`` and a damaged file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: exported model not found")
    if path.is_dir() and export_format(path) is None:
        found = find_export(path)
        if found is None:
            raise FileNotFoundError(
                f"{path}: not an export folder: none of {', '.join(EXPORT_NAMES.values())} "
                "in it (lpr export --out writes them)")
        path = found
    return ExportedModel(path, threads=threads)
