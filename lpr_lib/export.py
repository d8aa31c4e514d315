"""Load a trained plate reader, read plates with it, and export it (SavedModel, TFLite).

    predictor = Predictor(load_model("runs/default"))
    predictor.predict(["plate1.jpg", "plate2.jpg"])   # [("皖A12345", 0.998), ...]

Preprocessing (resize to the model's input size, per-image standardisation when the run
was trained with ``data.whiten``) is :func:`lpr_lib.data.preprocess`, the same function
training used (on Keras's other backends its NumPy twin :func:`lpr_lib.data.preprocess_numpy`:
reading plates needs no TensorFlow; exporting does). The exported SavedModel and TFLite models
take the *preprocessed* image (float32 ``(batch, H, W, 3)``): preprocessing stays in one place
(this module and ``lpr_lib.data``), and an app feeding the TFLite model must standardise each
crop (subtract its mean, divide by its standard deviation, as
``tf.image.per_image_standardization``).
``export`` writes a ``preprocessing.json`` next to the models saying exactly this, and
replaces its output folder as a whole (:func:`replace_folder`): a new export never leaves an
earlier one's files beside it.

A reading is always a valid plate (:func:`lpr_lib.plates.constrained_decode`: the most
probable text that some plate kind allows), and a reader that is not sure says so: below
:data:`MIN_CONFIDENCE` the answer is "no plate" (``text`` is ``None``), and so it is for an
image smaller than :data:`MIN_IMAGE_SIZE`, which is not given to the model at all.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lpr_lib.repro import REPO_ROOT

__all__ = ["load_model", "resolve_model", "latest_run", "run_config", "run_whiten", "Predictor",
           "Reading", "ImageError", "ImageNotFoundError", "predict", "MIN_CONFIDENCE",
           "MIN_IMAGE_SIZE", "replace_folder", "EXPORT_FILES",
           "export_savedmodel", "export_tflite", "tflite_predict", "cli_predict", "cli_export"]

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
    from lpr_lib.data.formats import error_text

    file, name = resolve_model(path)
    # a run folder: best.keras, else last.keras when best.keras cannot be loaded
    candidates = [file] + ([f for f in (file.parent / n for n in MODEL_FILES)
                            if f.is_file() and f != file]
                           if path is not None and Path(path).is_dir() else [])
    problems = []
    for candidate in candidates:
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


class ImageError(ValueError):
    """An image that cannot be read. ``str(err)`` is ``"<file>: <problem>"``; ``err.image``
    names the file and ``err.problem`` says what is wrong with it."""

    def __init__(self, image, problem: str):
        super().__init__(f"{image}: {problem}")
        self.image, self.problem = str(image), problem


class ImageNotFoundError(ImageError, FileNotFoundError):
    """The image file does not exist."""


def _read_rgb(path) -> np.ndarray:
    """A file's image as uint8 RGB ``(H, W, 3)``; :class:`ImageError` naming the file if not."""
    from PIL import Image, UnidentifiedImageError

    from lpr_lib.data.formats import error_text

    path = Path(path)
    if not path.exists():
        raise ImageNotFoundError(path, "file not found")
    if path.is_dir():
        raise ImageError(path, "a folder, not an image file")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except UnidentifiedImageError:
        raise ImageError(path, "not an image (no format Pillow can read)") from None
    except PermissionError:
        raise ImageError(path, "permission denied") from None
    except Image.DecompressionBombError:
        raise ImageError(path, "image too large to decode") from None
    except Exception as err:  # Pillow raises OSError, SyntaxError, ValueError... on bad files
        raise ImageError(path, f"damaged image, cannot decode it ({error_text(err)})") from None


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
    run's config (True without one).
    """

    def __init__(self, model, whiten: bool | None = None, mode: str = "product",
                 batch_size: int = 128, min_confidence: float = MIN_CONFIDENCE,
                 constrained: bool = True):
        if whiten is None:
            whiten = run_whiten(model)
        if mode not in ("product", "min"):
            raise ValueError(f"mode must be 'product' or 'min', got {mode!r}")
        self.model, self.whiten, self.mode, self.batch_size = model, whiten, mode, batch_size
        self.min_confidence, self.constrained = float(min_confidence), constrained
        self.image_size = tuple(model.input.shape[1:3])

    def preprocess(self, images) -> np.ndarray:
        """The model's inputs (float32 (N, H, W, 3)) for a list of images (paths or arrays)."""
        from lpr_lib._tf import on_tensorflow

        arrays = [_as_rgb(im, f"image {i}") for i, im in enumerate(images)]
        if not on_tensorflow():
            from lpr_lib.data.pydataset import preprocess_numpy

            return np.stack([preprocess_numpy(a, self.image_size, self.whiten) for a in arrays])
        from lpr_lib.data import preprocess

        return np.stack([preprocess(a, self.image_size, self.whiten).numpy() for a in arrays])

    def probabilities(self, images) -> dict:
        """The model's outputs (NumPy) for a list of images."""
        x = self.preprocess(images)
        outs = [self.model.predict_on_batch(x[i:i + self.batch_size])
                for i in range(0, len(x), self.batch_size)]
        return {k: np.concatenate([np.asarray(o[k]) for o in outs]) for k in outs[0]}

    def decode(self, outputs: dict) -> tuple[list[str], np.ndarray, list[str | None]]:
        """``(texts, confidences, kinds)`` from the model's outputs (before the floor)."""
        from lpr_lib.metrics import LENGTHS, decode, plate_confidence
        from lpr_lib.plates import ABSENT, constrained_decode, labels_to_text

        lengths = outputs.get("length")
        if not self.constrained:
            pred, top = decode(outputs["chars"], lengths)
            conf = plate_confidence(top, pred, self.mode, lengths)
            return [labels_to_text(row) for row in pred], conf, [None] * len(pred)
        labels, chosen, conf, kinds = constrained_decode(outputs["chars"], lengths,
                                                         lengths=LENGTHS)
        if self.mode == "min":
            read = labels != ABSENT
            conf = np.min(np.where(read, chosen, np.inf), axis=-1)
            if lengths is not None:
                which = [LENGTHS.index(int(n)) for n in read.sum(-1)]
                conf = np.minimum(conf, np.asarray(lengths, np.float64)[np.arange(len(conf)),
                                                                        which])
        return [labels_to_text(row) for row in labels], conf, kinds

    def read(self, images, names=None) -> list[Reading]:
        """One :class:`Reading` per image, in order. An image that cannot be read gets its
        ``error`` (the others are still read); one smaller than :data:`MIN_IMAGE_SIZE`, or
        read with a confidence below ``min_confidence``, is "no plate" with its ``reason``."""
        images = list(images)
        if names is None:
            names = [str(im) if isinstance(im, (str, Path)) else f"image {i}"
                     for i, im in enumerate(images)]
        readings, arrays, todo = [], [], []
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
                continue
            arrays.append(array)
            todo.append(reading)
        if arrays:
            texts, conf, kinds = self.decode(self.probabilities(arrays))
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


# ------------------------------------------------------------------------ export


def export_savedmodel(model, out_dir) -> Path:
    """Write a TensorFlow SavedModel (``serve`` endpoint: preprocessed images -> outputs).
    Needs TensorFlow (:class:`~lpr_lib._tf.TensorFlowRequired` without it), on any backend."""
    from lpr_lib._tf import require_tensorflow

    require_tensorflow(f"exporting a SavedModel ({out_dir})")
    out_dir = Path(out_dir)
    model.export(str(out_dir), format="tf_saved_model", verbose=False)
    return out_dir


def export_tflite(model, path, quantize: bool = False) -> Path:
    """Convert ``model`` to a TFLite flatbuffer at ``path`` (float32 unless ``quantize``:
    dynamic-range int8 weights). Input: one preprocessed image batch ``(1, H, W, 3)``."""
    import tempfile

    from lpr_lib._tf import require_tensorflow

    tf = require_tensorflow(f"exporting a TFLite model ({path})")
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
    import warnings

    from lpr_lib._tf import require_tensorflow

    tf = require_tensorflow(f"running the TFLite model {tflite_path}")

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
    """``lpr predict IMAGE... [--model M] [--json] [--min-confidence F]``.

    Every image gets one answer, in order: its plate and confidence; "no plate" (with the
    reason) when the reading's confidence is below the floor (``--min-confidence``, default
    :data:`MIN_CONFIDENCE`) or the image is smaller than :data:`MIN_IMAGE_SIZE`; or, for a
    file that cannot be read, the problem. With a model whose threshold was chosen on
    validation (the shipped ones), each plate says whether it reaches that threshold (99.9%
    precision on the model's validation plates): below it, treat the reading as unsure.
    Exit status 1 when some file could not be read (after every answer is printed)."""
    from lpr_lib.evaluate import stored_threshold

    floor = getattr(args, "min_confidence", None)
    floor = MIN_CONFIDENCE if floor is None else floor
    model = load_model(args.model)
    readings = Predictor(model, min_confidence=floor).read(args.images)
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
                          "min_confidence": floor, "plates": rows}, ensure_ascii=False))
    else:
        print(f"model: {model._lpr_name}" + ("" if threshold is None else
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


#: What an export folder holds: anything else in ``--out`` makes ``lpr export`` refuse to
#: replace it (it is someone's folder, not an earlier export).
EXPORT_FILES = ("savedmodel", "model.tflite", "preprocessing.json")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def replace_folder(dest, write, expect=None) -> Path:
    """Fill a new folder with ``write(folder)`` and put it in ``dest``'s place.

    ``write`` works in a temporary sibling of ``dest`` (same file system); only when it has
    returned is ``dest`` (if any) moved aside, the new folder renamed to ``dest`` and the old
    one deleted. So ``dest`` keeps its earlier content until the new one is whole, and never
    holds a mix of old and new files. If ``write`` fails, ``dest`` is untouched and the
    temporary folder removed. ``expect``: the names an existing ``dest`` may hold; any other
    entry makes this refuse (``ValueError``) rather than delete a folder it did not write.
    """
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise ValueError(f"{dest}: exists and is not a folder")
    if expect is not None and dest.is_dir():
        foreign = sorted(p.name for p in dest.iterdir() if p.name not in expect)
        if foreign:
            raise ValueError(f"{dest}: holds {', '.join(foreign[:5])}"
                             + (" ..." if len(foreign) > 5 else "")
                             + ", which an export does not write; the folder would be replaced "
                             "as a whole: choose a new or empty folder, or an earlier export's")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.new-", dir=dest.parent))
    old = None
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a plain mkdir would not
        write(tmp)
        if dest.exists():
            old = tmp.with_name(tmp.name.replace(".new-", ".old-", 1))
            os.rename(dest, old)
        try:
            os.rename(tmp, dest)
        except BaseException:
            if old is not None:
                os.rename(old, dest)
                old = None
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dest


def cli_export(args) -> int:
    """``lpr export --out DIR [--model M] [--format savedmodel|tflite|both]``. ``DIR`` is
    replaced as a whole (:func:`replace_folder`): an earlier export there stays until the new
    one is complete, and none of its files remain beside the new one. Needs TensorFlow (on
    any Keras backend): without it, an error before anything is read or written."""
    from lpr_lib._tf import require_tensorflow

    require_tensorflow(f"lpr export (SavedModel and TFLite files, into {args.out})")
    model = load_model(args.model)
    print(f"model: {model._lpr_name}", file=sys.stderr)
    out = Path(args.out)
    cfg = run_config(model)
    whiten = True if cfg is None else cfg.data.whiten
    written = []

    def write(folder: Path) -> None:
        if args.format in ("savedmodel", "both"):
            export_savedmodel(model, folder / "savedmodel")
            written.append(("SavedModel: ", "savedmodel"))
        if args.format in ("tflite", "both"):
            export_tflite(model, folder / "model.tflite")
            written.append(("TFLite:     ", "model.tflite"))
        (folder / "preprocessing.json").write_text(json.dumps({
            "input": "float32 (batch, H, W, 3) RGB, preprocessed",
            "image_size": list(model.input.shape[1:3]),
            "steps": ["scale uint8 to [0, 1]", "resize bilinear (antialias) to image_size"]
            + (["per-image standardisation: (x - mean) / max(std, 1/sqrt(H*W*3))"] if whiten
               else ["clip to [0, 1]"]),
            "outputs": {"chars": "(batch, 8, 74) softmax per position over lpr_lib.plates.CHARS",
                        "length": "(batch, 2) softmax over {7, 8} characters"},
        }, indent=2) + "\n")

    replace_folder(out, write, expect=EXPORT_FILES)
    for label, name in written:
        print(f"{label}{out / name}")
    print(f"notes:      {out / 'preprocessing.json'}", file=sys.stderr)
    return 0
