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
           "OnnxUnavailable", "export_digest", "verify_digest", "recover_folder",
           "pid_alive"]

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
        if len(size) != 2 or not all(1 <= v <= 4096 for v in size):
            raise ValueError(f"image_size {info['image_size']!r} is not [height, width]")
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"{notes}: not an lpr export's {PREPROCESSING_FILE} "
                         f"({str(err)[:200]})") from None
    except OSError as err:
        from lpr_lib.oserrors import os_reason

        raise ValueError(f"{notes}: cannot be read ({os_reason(err)})") from None
    if "whiten" not in info:
        info["whiten"] = any("standardisation" in step for step in info.get("steps", []))
    if not _valid_temperature(info.get("temperature", 1.0)):
        raise ValueError(f"{notes}: not an lpr export's {PREPROCESSING_FILE} (temperature "
                         f"{str(info.get('temperature'))[:80]} is not a positive number)")
    info["image_size"] = size
    info["path"] = str(notes)
    return info


def _valid_temperature(t) -> bool:
    """A temperature ``preprocessing.json`` may carry: ``None``, a positive finite number, or
    ``{output: a number or a list of them}``."""
    import math

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) \
            and v > 0

    if t is None or number(t):
        return True
    if isinstance(t, dict):
        return all(v is None or number(v) or (isinstance(v, list) and v and all(map(number, v)))
                   for v in t.values())
    return False


def export_digest(path) -> str:
    """The SHA-256 of an exported model: of its bytes for a file; for a folder (a SavedModel),
    of every file's relative path and bytes, in sorted order. ``lpr export`` records it in
    ``preprocessing.json`` (``sha256``, by file name) and :class:`ExportedModel` checks it."""
    import hashlib

    path = Path(path)

    def feed(digest, file: Path) -> None:
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)

    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            inner = hashlib.sha256()
            feed(inner, file)
            digest.update(inner.digest())
    else:
        feed(digest, path)
    return digest.hexdigest()


def verify_digest(path, notes: dict) -> None:
    """A ``ValueError`` naming ``path`` when ``notes`` (its ``preprocessing.json``) records a
    SHA-256 for it that its content no longer has: a damaged or changed export. Exports
    written before the checksum existed (or renamed) are not checked."""
    path = Path(path)
    want = (notes.get("sha256") or {}).get(path.name) if isinstance(notes.get("sha256"),
                                                                     dict) else None
    if not want:
        return
    try:
        got = export_digest(path)
    except OSError as err:
        from lpr_lib.oserrors import os_reason

        raise ValueError(f"{path}: cannot be read ({os_reason(err)})") from None
    if got != want:
        raise ValueError(f"{path}: damaged: its SHA-256 is {got[:12]}..., not the {want[:12]}... "
                         f"that {notes.get('path', PREPROCESSING_FILE)} records for it (cut "
                         "short, or changed since lpr export wrote it); export it again")


class _Input:
    """Stands for ``keras.Model.input`` where the library reads its shape."""

    def __init__(self, shape):
        self.shape = tuple(shape)


class ExportedModel:
    """An exported model behind the calls the library makes of a Keras model:
    ``predict_on_batch`` (and calling it), ``input.shape``, ``output`` (the output names).
    ``format``: ``"tflite"``, ``"tflite_int8"``, ``"onnx"`` or ``"savedmodel"``; ``whiten``,
    ``image_size``, ``threshold`` and ``temperature`` (the calibration, applied by
    :class:`~lpr_lib.predict.Predictor`) come from its ``preprocessing.json``."""

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
        self.temperature = self.notes.get("temperature")
        self.threads = threads or 0
        verify_digest(path, self.notes)
        self._run, own_size = {"tflite": self._tflite, "tflite_int8": self._tflite,
                               "onnx": self._onnx,
                               "savedmodel": self._savedmodel}[fmt](path, self.threads)
        if own_size is not None and tuple(own_size) != self.image_size:
            raise ValueError(f"{self.notes['path']}: says the input is {self.image_size[0]}x"
                             f"{self.image_size[1]} (image_size), but {path} takes "
                             f"{own_size[0]}x{own_size[1]} images: the notes belong to "
                             "another export; export the model again")
        self.input = _Input((None, *self.image_size, 3))
        label = {"tflite": "TFLite", "tflite_int8": "TFLite int8", "onnx": "ONNX",
                 "savedmodel": "SavedModel"}[fmt]
        self._lpr_name = f"{path} ({label} export)"
        self._lpr_source = None  # no run folder: preprocessing.json says what config would
        self._lpr_whiten, self._lpr_threshold = self.whiten, self.threshold
        # the calibration the model carried when exported: the same confidence in every runtime
        self._lpr_calibration = None if self.temperature is None else \
            {"temperature": self.temperature, "threshold": self.threshold}

    # the runtimes ------------------------------------------------------------------------

    @staticmethod
    def _tflite(path: Path, threads: int):
        import warnings

        from lpr_lib._tf import require_tensorflow

        from lpr_lib.tflite_verify import TFLiteFormatError, verify_tflite

        tf = require_tensorflow(f"running the TFLite model {path}")
        try:
            content = path.read_bytes()
        except OSError as err:
            from lpr_lib.oserrors import os_reason

            raise ValueError(f"{path}: cannot be read ({os_reason(err)})") from None
        try:  # the interpreter trusts the file's offsets: a damaged one would crash it
            verify_tflite(content)
        except TFLiteFormatError as err:
            raise ValueError(f"{path}: not a loadable TFLite model ({err})") from None
        with warnings.catch_warnings():  # "use ai_edge_litert": not a dependency of ours
            warnings.simplefilter("ignore", UserWarning)
            try:
                interpreter = tf.lite.Interpreter(model_content=content,
                                                  num_threads=threads or os.cpu_count() or 1)
                runner = interpreter.get_signature_runner()
                details = runner.get_input_details()
                name = next(iter(details))
                shape = [int(v) for v in details[name]["shape"]]
            except (ValueError, RuntimeError, StopIteration, KeyError) as err:
                raise ValueError(f"{path}: not a loadable TFLite model "
                                 f"({str(err).strip()[:200]})") from None

        def run(x):  # the runner resizes its input to the batch (the batch axis is dynamic)
            return runner(**{name: x})
        return run, (shape[1:3] if len(shape) == 4 else None)

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
        shape = session.get_inputs()[0].shape
        size = shape[1:3] if len(shape) == 4 and all(isinstance(v, int) for v in shape[1:3]) \
            else None

        def run(x):
            return dict(zip(names, session.run(None, {name: x})))
        return run, size

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
        size = None
        try:
            spec = serve.input_signature[0]
            size = [int(v) for v in spec.shape[1:3]] if len(spec.shape) == 4 else None
        except (AttributeError, IndexError, TypeError, ValueError):
            pass  # no signature to read: the first batch tells
        return run, size

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
        try:
            return {k: np.asarray(v) for k, v in self._run(x).items()}
        except Exception as err:  # the runtime's own errors: a model that does not run
            raise ValueError(f"{self.path}: the {self.format} model failed to run on a batch "
                             f"{x.shape} ({str(err).strip()[:300]})") from None

    __call__ = predict_on_batch

    def __repr__(self) -> str:
        return f"ExportedModel({self._lpr_name})"


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (one of another user's counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _leftover_pid(path: Path, mark: str) -> int | None:
    """The pid in a temporary folder's name ``.NAME<mark>PID-XXXX`` (``None`` if none)."""
    head = path.name.split(mark, 1)[-1].split("-", 1)[0]
    return int(head) if head.isdigit() else None


def recover_folder(dest, clean: bool = True) -> Path | None:
    """Undo what a killed :func:`lpr_lib.export.replace_folder` left beside ``dest``.

    It fills ``.NAME.new-PID-*`` and swaps it in with two renames (``dest`` to
    ``.NAME.old-PID-*``, then the new folder to ``dest``): a kill between them leaves no
    ``dest``, and the whole earlier folder under the hidden name. That one is renamed back to
    ``dest`` (and returned); with ``clean``, the other leftovers of processes that are no
    longer running (half-written new folders, old ones a kill kept from being deleted) are
    removed. Folders of a process still running are left alone: it may be exporting now."""
    import glob
    import shutil
    import sys

    dest = Path(dest)
    parent = dest.parent if str(dest.parent) else Path(".")
    try:
        if not parent.is_dir():
            return None
        escaped = glob.escape(dest.name)
        olds = [p for p in parent.glob(f".{escaped}.old-*") if p.is_dir()]
        news = [p for p in parent.glob(f".{escaped}.new-*") if p.is_dir()]
    except OSError:
        return None

    def leftover(p: Path, mark: str) -> bool:
        pid = _leftover_pid(p, mark)
        return pid is None or pid == os.getpid() or not pid_alive(pid)

    olds = sorted((p for p in olds if leftover(p, ".old-")), key=lambda p: p.stat().st_mtime)
    restored = None
    if olds and not os.path.lexists(dest):
        try:
            os.rename(olds[-1], dest)
            restored = dest
            print(f"note: {dest} restored from {olds[-1].name} (an export was stopped between "
                  "its two renames)", file=sys.stderr)
            olds.pop()
        except OSError:
            pass
    if clean:
        for p in olds + [p for p in news if leftover(p, ".new-")]:
            shutil.rmtree(p, ignore_errors=True)
    return restored


def load_exported(path, threads: int | None = None) -> ExportedModel:
    """An exported model: a ``.tflite`` or ``.onnx`` file, a SavedModel folder, or an export
    folder (its model by :func:`find_export`'s preference). Clear errors for a missing path, a
    folder with no exported model, a missing ``preprocessing.json`` and a damaged file."""
    path = Path(path)
    if not path.exists():
        recover_folder(path.parent if path.suffix in (".tflite", ".onnx") else path,
                       clean=False)
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
