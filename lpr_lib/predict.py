"""Load a trained plate reader and read plates with it.

    predictor = Predictor(load_model("runs/default"))
    predictor.predict(["plate1.jpg", "plate2.jpg"])   # [("皖A12345", 0.998), ...]

:func:`load_model` finds a model by name (the shipped ones, :mod:`lpr_lib.models`), as
``"latest"`` (the newest run under ``runs/``), or by path (a run folder or a ``.keras`` file);
:func:`run_config` and :func:`run_whiten` read the run's config beside it, and
:func:`stored_threshold` the confidence threshold chosen on its validation plates.
Preprocessing (resize to the model's input size and round to uint8 as the training pipelines
hold every plate, then per-image standardisation when the run was trained with
``data.whiten``) is :func:`lpr_lib.data.inputs.model_input`, NumPy on every backend and the
very function ``lpr eval`` uses (:func:`lpr_lib.evaluate.predict_dataset`): the same file
gives the same input on both paths. Exporting a model is :mod:`lpr_lib.export`'s.

A reading is always a valid plate (:func:`lpr_lib.plates.constrained_decode`: the most
probable text that some plate kind allows), and a reader that is not sure says so: below
:data:`MIN_CONFIDENCE` the answer is "no plate" (``text`` is ``None``), and so it is for an
image smaller than :data:`MIN_IMAGE_SIZE`, which is not given to the model at all.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lpr_lib.repro import RUNS_DIR

__all__ = ["load_model", "resolve_model", "latest_run", "run_config", "run_whiten",
           "stored_threshold", "stored_temperature", "decode_outputs", "Predictor", "Reading",
           "ImageError", "ImageNotFoundError",
           "predict", "MIN_CONFIDENCE", "MIN_IMAGE_SIZE", "MODEL_FILES", "cli_predict"]

#: The plate confidence (joint probability of the reading, length included) below which a
#: reader answers "no plate" instead of a text (``lpr predict --min-confidence``). Above it,
#: a model's stored threshold (99.9% precision on its validation plates) still tells sure
#: readings from unsure ones.
MIN_CONFIDENCE = 0.5
#: The smallest image, (height, width) in pixels, that can hold a readable plate: 16x8
#: pixels leaves about two pixels per character of a 7-character plate. Smaller images are
#: answered "no plate" without running the model (which would happily read a 1x1 image
#: stretched to its input size).
MIN_IMAGE_SIZE = (8, 16)

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
    import stat

    from lpr_lib.oserrors import os_reason

    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise FileNotFoundError(f"{path}: broken symbolic link to "
                                    f"{os.readlink(path)!r}") from None
        raise FileNotFoundError(f"{path}: model file not found") from None
    except OSError as err:  # a symbolic-link loop, a folder that cannot be searched
        raise ValueError(f"{path}: cannot be read ({os_reason(err)})") from None
    if stat.S_ISDIR(st.st_mode):
        for name in MODEL_FILES:
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"{path}: no {', '.join(MODEL_FILES)} in this folder (nor an "
                                "export: model.tflite, model.onnx or savedmodel with "
                                "preprocessing.json)")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path}: not a regular file (a FIFO, socket or device)")
    if path.suffix != ".keras":
        raise ValueError(f"{path}: expected a .keras model file, a run folder or an export "
                         "(.tflite, .onnx, a SavedModel folder)")
    return path


def keras_file_problem(path) -> str | None:
    """What makes ``path`` no ``.keras`` model, read without Keras (whose own message for a
    file it cannot open is "File not found"), or ``None`` when it looks like one: cannot be
    read, empty, not a zip archive, a damaged archive, no ``config.json`` in it."""
    import zipfile

    from lpr_lib.oserrors import os_reason

    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            size = os.fstat(fh.fileno()).st_size
    except OSError as err:
        return f"cannot be read ({os_reason(err)})"
    if size == 0:
        return "empty file (0 bytes)"
    if head[:2] != b"PK":
        return ("not a Keras model file: a .keras model is a zip archive, this file is not a "
                "zip archive (another format, or damaged)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError) as err:
        return f"damaged zip archive, cut short or changed ({err})"
    except OSError as err:
        return f"cannot be read ({os_reason(err)})"
    if bad is not None:
        return f"damaged zip archive: its member {bad} fails its checksum"
    if "config.json" not in names:
        return "a zip archive without config.json: not a Keras model"
    return None


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
    (its ``best.keras``, else ``last.keras``), loaded for inference (uncompiled); or an
    export (a ``.tflite`` or ``.onnx`` file, a SavedModel folder, an ``lpr export`` folder):
    a :class:`lpr_lib.runtime.ExportedModel`, run by its own runtime with the preprocessing
    its ``preprocessing.json`` states. The model's ``_lpr_name`` says which one it is."""
    import keras

    import lpr_lib.backbones  # noqa: F401  registers FusedBatchNormalization
    import lpr_lib.losses  # noqa: F401
    from lpr_lib.data.formats import error_text
    from lpr_lib.models import is_shipped
    from lpr_lib.runtime import is_export, load_exported

    named = path is not None and str(path) != "latest" and not is_shipped(path)
    if named and not os.path.lexists(path):  # an export a kill left under a hidden name
        from lpr_lib.runtime import recover_folder

        target = Path(path)
        recover_folder(target.parent if target.suffix in (".tflite", ".onnx") else target,
                       clean=False)
    if named and is_export(path):
        return load_exported(path)
    file, name = resolve_model(path)
    # a run folder: best.keras, else last.keras when best.keras cannot be loaded
    candidates = [file] + ([f for f in (file.parent / n for n in MODEL_FILES)
                            if f.is_file() and f != file]
                           if path is not None and Path(path).is_dir() else [])
    problems = []
    for candidate in candidates:
        problem = keras_file_problem(candidate)
        if problem is not None:
            problems.append(f"{candidate}: not a loadable Keras model ({problem})")
            continue
        try:
            model = keras.models.load_model(candidate, compile=False)
        except Exception as err:  # zip, HDF5, JSON and Keras errors: the file is damaged
            problems.append(f"{candidate}: not a loadable Keras model "
                            f"({error_text(err)[:200]})")
            continue
        if problems:
            print("warning: " + "; ".join(problems) + f"; using {candidate.name}",
                  file=sys.stderr)
            name = str(candidate)
        model._lpr_source = candidate  # where it came from: run_config() reads the config
        model._lpr_name = name
        return model
    raise ValueError("; ".join(problems))


def run_config(model_or_path):
    """The ``ExperimentConfig`` of the run a model belongs to (its folder's
    ``config.yaml``), or ``None`` when the model file has none beside it."""
    from lpr_lib.config import ExperimentConfig

    source = getattr(model_or_path, "_lpr_source", model_or_path)
    if not isinstance(source, (str, os.PathLike)):  # a model built here, loaded from no file
        return None
    source = Path(source)
    cfg = (source if source.is_dir() else source.parent) / "config.yaml"
    return ExperimentConfig.from_yaml(cfg) if cfg.is_file() else None


def run_whiten(model) -> bool:
    """Whether ``model`` was trained on whitened images: its run's ``data.whiten``, or
    ``True`` (the library's default) when the model has no run config beside it."""
    if getattr(model, "_lpr_whiten", None) is not None:  # an export: its preprocessing.json
        return bool(model._lpr_whiten)
    cfg = run_config(model)
    return True if cfg is None else cfg.data.whiten


class ImageError(ValueError):
    """An image that cannot be read. ``str(err)`` is ``"<file>: <problem>"``; ``err.image``
    names the file and ``err.problem`` says what is wrong with it."""

    def __init__(self, image, problem: str):
        super().__init__(f"{image}: {problem}")
        self.image, self.problem = str(image), problem


class ImageNotFoundError(ImageError, FileNotFoundError):
    """The image file does not exist."""


def _read_rgb(path) -> np.ndarray:
    """A file's image as uint8 RGB ``(H, W, 3)``; :class:`ImageError` naming the file if not.

    Only a regular file is opened (a FIFO, a socket or a device named ``x.jpg`` would block
    or never end); its size is checked before its pixels are decoded, and an image too large
    to be a plate crop is shrunk while decoding or refused
    (:func:`lpr_lib.data.formats.decode_rgb`); 16-bit and float images are scaled, not
    clipped. A folder that cannot be searched, a symbolic-link loop or a file that cannot be
    read is an :class:`ImageError` saying so."""
    import errno
    import stat

    from PIL import UnidentifiedImageError

    from lpr_lib.data.formats import (ImageTooLarge, decode_rgb, error_text, open_image,
                                      os_reason)

    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise ImageNotFoundError(path, f"broken symbolic link to {os.readlink(path)!r}") \
                from None
        raise ImageNotFoundError(path, "file not found") from None
    except OSError as err:  # a folder on the way without search permission, a link loop
        raise ImageError(path, os_reason(err)) from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(path, "a folder, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(path, "not a regular file (a FIFO, socket or device): not read as "
                         "an image")
    try:  # O_NONBLOCK: were it replaced by a FIFO since, opening it must not wait
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise ImageError(path, os_reason(err)) from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ImageError(path, "not a regular file (a FIFO, socket or device): not read "
                             "as an image")
        try:
            with open_image(fh) as im:
                return decode_rgb(im)
        except UnidentifiedImageError:
            raise ImageError(path, "not an image (no format Pillow can read)") from None
        except ImageTooLarge as err:
            raise ImageError(path, str(err)) from None
        except PermissionError:
            raise ImageError(path, "permission denied") from None
        except MemoryError:
            raise ImageError(path, "not enough memory to decode it") from None
        except OSError as err:
            if err.errno in (errno.EIO, errno.EACCES):
                raise ImageError(path, os_reason(err)) from None
            raise ImageError(path, f"damaged image, cannot decode it ({error_text(err)})") \
                from None
        except Exception as err:  # Pillow raises SyntaxError, ValueError... on bad files
            raise ImageError(path, f"damaged image, cannot decode it ({error_text(err)})") \
                from None


def _as_rgb(image, name: str) -> np.ndarray:
    """A path's image, or an array checked to be ``(H, W, 3)``."""
    if isinstance(image, (str, Path)):
        return _read_rgb(image)
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ImageError(name, f"not an RGB image array: shape {array.shape}, "
                         "expected (height, width, 3)")
    return array


@dataclass
class Reading:
    """What a reader says about one image.

    ``text``: the plate, or ``None`` for "no plate" (``reason`` says why) and for an image
    that could not be read (``error`` says why). ``confidence``: the reading's confidence,
    also when it fell below the floor; ``None`` when the model did not run. ``kind``: the
    plate pattern the text follows (:data:`lpr_lib.plates.KIND_PATTERNS`; ``"blue"`` stands
    for every province-letter-5-alphanumeric plate).
    """

    image: str
    text: str | None = None
    confidence: float | None = None
    kind: str | None = None
    reason: str | None = None
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def plate(self) -> bool | None:
        """True: a plate was read; False: no plate; None: the image could not be read."""
        return None if self.error is not None else self.text is not None


class Predictor:
    """Reads plates: images (paths or uint8 RGB arrays) -> ``[(text, confidence), ...]``
    (:meth:`predict`) or one :class:`Reading` each (:meth:`read`, which never raises on a
    bad image).

    With ``constrained`` (the default) the text is the most probable *valid* plate
    (:func:`lpr_lib.plates.constrained_decode`) and ``confidence`` its joint probability:
    the product of its characters' probabilities times the length head's probability of its
    length. ``constrained=False`` is the plain per-head argmax (which can spell texts no
    plate has), with ``metrics.plate_confidence``. ``mode="min"`` takes the least sure
    character (or length) as the confidence instead of the product. Below
    ``min_confidence`` the answer is "no plate" (text ``None``). ``whiten`` defaults to the
    run's config (True without one). ``temperature`` defaults to the model's calibration
    (:func:`stored_temperature`: 1.0 without one); every softmax head is scaled by it
    before decoding, so the confidence is the calibrated one (``temperature=1`` for the
    model's raw probabilities). ``locate=True`` (or a :class:`lpr_lib.locate.LocateSettings`)
    first cuts every image down to the plate it finds by colour (:func:`lpr_lib.locate.tighten`:
    for loose crops, a detector's box with car body around the plate; an image with no plate
    colour is read as it is).
    """

    def __init__(self, model, whiten: bool | None = None, mode: str = "product",
                 batch_size: int = 128, min_confidence: float = MIN_CONFIDENCE,
                 constrained: bool = True, temperature=None, locate=False):
        if whiten is None:
            whiten = run_whiten(model)
        self.temperature = stored_temperature(model) if temperature is None else temperature
        if mode not in ("product", "min"):
            raise ValueError(f"mode must be 'product' or 'min', got {mode!r}")
        self.model, self.whiten, self.mode, self.batch_size = model, whiten, mode, batch_size
        self.min_confidence, self.constrained = float(min_confidence), constrained
        self.image_size = tuple(model.input.shape[1:3])
        if locate is True:
            from lpr_lib.locate import DEFAULT

            locate = DEFAULT
        self.locate = locate or None  # the locator's settings, or None: read as given

    def preprocess(self, images) -> np.ndarray:
        """The model's inputs (float32 (N, H, W, 3)) for a list of images (paths or arrays),
        each read and preprocessed in turn: one decoded image is held at a time."""
        return np.stack([self._prepare(_as_rgb(im, f"image {i}"))
                         for i, im in enumerate(images)])

    def _prepare(self, array: np.ndarray) -> np.ndarray:
        """One RGB image as the model's input (float32 (H, W, 3)):
        :func:`lpr_lib.data.inputs.model_input`, the function ``lpr eval`` uses too, in
        NumPy on every backend."""
        from lpr_lib.data.inputs import model_input

        if self.locate is not None:
            from lpr_lib.locate import tighten

            array = tighten(array, self.locate)
        return model_input(array, self.image_size, self.whiten)

    def probabilities(self, images) -> dict:
        """The model's outputs (NumPy) for a list of images (or of inputs already
        preprocessed, float32 (N, H, W, 3))."""
        x = images if isinstance(images, np.ndarray) and images.dtype == np.float32 \
            and images.ndim == 4 else self.preprocess(images)
        outs = [self.model.predict_on_batch(x[i:i + self.batch_size])
                for i in range(0, len(x), self.batch_size)]
        return {k: np.concatenate([np.asarray(o[k]) for o in outs]) for k in outs[0]}

    def calibrated(self, outputs: dict) -> dict:
        """The model's outputs with the predictor's temperature applied to every softmax
        head (:func:`lpr_lib.calibrate.scale_outputs`; unchanged at ``T = 1``)."""
        from lpr_lib.calibrate import scale_outputs

        return scale_outputs(outputs, self.temperature)

    def decode(self, outputs: dict) -> tuple[list[str], np.ndarray, list[str | None]]:
        """``(texts, confidences, kinds)`` from the model's outputs (before the floor), the
        temperature applied first (:meth:`calibrated`)."""
        return decode_outputs(self.calibrated(outputs), self.constrained, self.mode)

    def read(self, images, names=None) -> list[Reading]:
        """One :class:`Reading` per image, in order. An image that cannot be read gets its
        ``error`` (the others are still read); one smaller than :data:`MIN_IMAGE_SIZE`, or
        read with a confidence below ``min_confidence``, is "no plate" with its ``reason``."""
        images = list(images)
        if names is None:
            names = [str(im) if isinstance(im, (str, Path)) else f"image {i}"
                     for i, im in enumerate(images)]
        readings, inputs, todo = [], [], []
        min_h, min_w = MIN_IMAGE_SIZE
        for image, name in zip(images, names):
            reading = Reading(str(name))
            readings.append(reading)
            try:
                array = _as_rgb(image, name)
            except ImageError as err:
                reading.error, reading.exception = err.problem, err
                continue
            h, w = array.shape[:2]
            if h < min_h or w < min_w:
                reading.reason = (f"image is {w}x{h} pixels, too small to hold a plate "
                                  f"(at least {min_w}x{min_h})")
                del array
                continue
            inputs.append(self._prepare(array))  # the model's size: the decoded image goes
            del array  # before the next is decoded: one decoded image at a time
            todo.append(reading)
        if inputs:
            texts, conf, kinds = self.decode(self.probabilities(np.stack(inputs)))
            for reading, text, c, kind in zip(todo, texts, conf, kinds):
                reading.confidence = float(c)
                if c >= self.min_confidence:
                    reading.text, reading.kind = text, kind
                else:
                    reading.reason = (f"confidence {float(c):.4f} is below the floor "
                                      f"{self.min_confidence:g}")
        return readings

    def predict(self, images) -> list[tuple[str | None, float | None]]:
        """``[(text, confidence), ...]``; ``text`` is ``None`` for "no plate" (confidence
        below ``min_confidence``, or an image too small to hold one, whose confidence is
        ``None``). Raises :class:`ImageError` (``FileNotFoundError`` for a missing file)
        naming the first image that cannot be read."""
        readings = self.read(images)
        for reading in readings:
            if reading.exception is not None:
                raise reading.exception
        return [(r.text, r.confidence) for r in readings]


def predict(images, model=None, **kw) -> list[tuple[str | None, float | None]]:
    """Read the plate in each image (paths or arrays) with ``model`` (a model, a path, or
    ``None`` for the default shipped model): a list of ``(text, confidence)``, ``text``
    ``None`` where the reader sees no plate (see :meth:`Predictor.predict`; ``kw`` go to
    :class:`Predictor`)."""
    if model is None or isinstance(model, (str, Path)):
        model = load_model(model)
    return Predictor(model, **kw).predict(images)


def decode_outputs(outputs: dict, constrained: bool = True, mode: str = "product",
                   as_labels: bool = False):
    """:func:`lpr_lib.metrics.decode_outputs` (imported when called: reading an export's
    outputs needs no Keras)."""
    from lpr_lib.metrics import decode_outputs as decode

    return decode(outputs, constrained, mode, as_labels)


def stored_temperature(model):
    """The temperature ``model`` carries (:func:`lpr_lib.calibrate.read_calibration`: a
    shipped model's ``calibration.json``, an export's ``preprocessing.json``), or 1.0 (no
    calibration). A number, or ``{"chars": [T per position], "length": T}``."""
    from lpr_lib.calibrate import read_calibration

    record = read_calibration(model)
    return 1.0 if record is None or record.get("temperature") is None \
        else record["temperature"]


def stored_threshold(model) -> float | None:
    """The confidence threshold chosen for ``model`` on validation data, or ``None``: its
    calibration's (:func:`lpr_lib.calibrate.read_calibration`: on the *calibrated* plate
    confidence, chosen on the model's validation split and the detector-style validation
    sets), else its ``result.json``'s (a shipped model's, on its uncalibrated confidence:
    99.9% precision on its validation plates); an export's comes from its
    ``preprocessing.json``."""
    from lpr_lib.calibrate import read_calibration

    if getattr(model, "_lpr_threshold", None) is not None:  # an export's preprocessing.json
        return float(model._lpr_threshold)
    record = read_calibration(model)
    if record is not None:
        return None if record.get("threshold") is None else float(record["threshold"])
    source = getattr(model, "_lpr_source", None)
    path = Path(source).parent / "result.json" if source is not None else None
    if path is None or not path.is_file():
        return None
    threshold = json.loads(path.read_text(encoding="utf-8"))["result"].get("threshold") or {}
    return threshold.get("product") if isinstance(threshold, dict) else None


# ------------------------------------------------------------------------ CLI


def _temperature_note(temperature) -> str:
    if isinstance(temperature, dict):
        return "; confidence calibrated (a temperature per head)"
    return "" if float(temperature) == 1.0 else \
        f"; confidence calibrated at temperature {float(temperature):.3f}"


def cli_predict(args) -> int:
    """``lpr predict IMAGE... [--model M] [--json] [--min-confidence F] [--locate]``.

    Every image gets one answer, in order: its plate and confidence; "no plate" (with the
    reason) when the reading's confidence is below the floor (``--min-confidence``, default
    :data:`MIN_CONFIDENCE`) or the image is smaller than :data:`MIN_IMAGE_SIZE`; or, for a
    file that cannot be read, the problem. With a model whose threshold was chosen on
    validation (the shipped ones), each plate says whether it reaches that threshold (99.9%
    precision on the model's validation plates): below it, treat the reading as unsure. The
    confidence is calibrated by the model's temperature when it carries one
    (:func:`stored_temperature`), and the threshold is then the calibrated one.
    Exit status 1 when some file could not be read (after every answer is printed)."""
    floor = getattr(args, "min_confidence", None)
    floor = MIN_CONFIDENCE if floor is None else floor
    model = load_model(args.model)
    predictor = Predictor(model, min_confidence=floor,
                          locate=bool(getattr(args, "locate", False)))
    readings = predictor.read(args.images)
    threshold = stored_threshold(model)
    sure = [None if threshold is None or r.text is None else r.confidence >= threshold
            for r in readings]
    failed = [r for r in readings if r.error is not None]
    if args.json:
        rows = []
        for r, s in zip(readings, sure):
            row = {"image": r.image, "text": r.text,
                   "confidence": None if r.confidence is None else round(r.confidence, 6),
                   "sure": s, "plate": r.plate}
            row.update({k: v for k, v in (("reason", r.reason), ("error", r.error)) if v})
            rows.append(row)
        print(json.dumps({"model": model._lpr_name, "threshold": threshold,
                          "temperature": predictor.temperature,
                          "min_confidence": floor, "plates": rows}, ensure_ascii=False))
    else:
        print(f"model: {model._lpr_name}" + _temperature_note(predictor.temperature)
              + ("" if threshold is None else
                 f"; readings below confidence {threshold:.4f} are marked unsure")
              + f"; below {floor:g}: no plate", file=sys.stderr)
        for r, s in zip(readings, sure):
            conf = "-" if r.confidence is None else f"{r.confidence:.4f}"
            if r.error is not None:
                print(f"error\t-\t{r.image}\t{r.error}")
            elif r.text is None:
                print(f"no plate\t{conf}\t{r.image}\t{r.reason}")
            else:
                print(f"{r.text}\t{conf}\t{r.image}" + ("\tunsure" if s is False else ""))
    if failed:
        print(f"lpr predict: {len(failed)} of {len(readings)} image(s) could not be read: "
              + "; ".join(f"{r.image}: {r.error}" for r in failed), file=sys.stderr)
        return 1
    return 0
