"""Export a trained plate reader: SavedModel, TFLite (float, and int8 weights) and ONNX.

    model = load_model("runs/default")            # lpr_lib.predict
    export_tflite(model, "exported/model.tflite")
    export_onnx(model, "exported/model.onnx")     # needs tf2onnx: pip install 'lpr_lib[onnx]'

The exported models take the *preprocessed* image (float32 ``(batch, H, W, 3)``, any batch):
preprocessing stays in one place (:func:`lpr_lib.data.preprocess`, which :mod:`lpr_lib.predict`
uses too), and an app feeding an exported model must standardise each crop (subtract its mean,
divide by its standard deviation, as ``tf.image.per_image_standardization``) when the run was
trained with ``data.whiten``. ``lpr export`` writes a ``preprocessing.json`` next to the models
saying exactly this (``whiten``, ``image_size``), replaces its output folder as a whole
(:func:`replace_folder`): a new export never leaves an earlier one's files beside it), and checks
each export against the Keras model on a few rendered plates (:func:`parity`): the largest
difference of any output probability, and whether the readings agree. A float export that
differs by more than :data:`TOLERANCE` is not written. :mod:`lpr_lib.runtime` runs the exports
(``lpr predict --model exported/model.onnx``).

ONNX goes through Keras' own ``model.export(format="onnx")``, which on the TensorFlow backend
converts the traced function with ``tf2onnx`` (1.17, with ``onnx`` 1.23 and ``onnxruntime``
1.32, installs beside TensorFlow 2.21 and protobuf 7 without changing them). Keras computes a
grouped convolution (ResNeXt's) on a CPU inside an XLA-compiled function, which tf2onnx
cannot convert (``StatefulPartitionedCall`` "not supported", an invalid ONNX graph): while
exporting, :func:`export_onnx` traces grouped convolutions as the plain ``Conv2D`` that
TensorFlow's graph allows, which tf2onnx turns into an ONNX ``Conv`` with ``group``.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lpr_lib.predict import (Predictor, load_model, run_whiten, stored_temperature,
                             stored_threshold)
from lpr_lib.runtime import (EXPORT_NAMES, PREPROCESSING_FILE, ExportedModel, OnnxUnavailable,
                             export_digest, load_exported, recover_folder)

__all__ = ["export_savedmodel", "export_tflite", "export_onnx", "export", "write_exports",
           "tflite_predict", "replace_folder", "parity", "parity_images", "parity_text",
           "expand_formats", "preprocessing_notes", "write_preprocessing_notes", "disk_bytes",
           "ExportMismatch",
           "OnnxUnavailable", "FORMATS", "FORMAT_CHOICES", "TOLERANCE", "LABELS",
           "EXPORT_FILES", "cli_export"]

#: the export formats, each written as ``EXPORT_NAMES[format]`` in an export folder
FORMATS = ("savedmodel", "tflite", "tflite_int8", "onnx")
#: what ``lpr export --format`` takes: a format, ``all``, or ``both`` (SavedModel and float
#: TFLite: what ``lpr export`` wrote before ONNX and int8 existed)
FORMAT_CHOICES = (*FORMATS, "all", "both")
#: the largest difference of any output probability a float export may show against Keras on
#: the parity plates. int8 weights change the arithmetic (``None``: no bound; its accuracy is
#: measured on a test set instead, by ``make bench``).
TOLERANCE = {"savedmodel": 1e-5, "tflite": 1e-4, "onnx": 1e-4, "tflite_int8": None}
LABELS = {"savedmodel": "SavedModel", "tflite": "TFLite", "tflite_int8": "TFLite int8",
          "onnx": "ONNX"}


def expand_formats(choice: str) -> list[str]:
    """The formats ``lpr export --format choice`` writes, in :data:`FORMATS` order."""
    if choice == "all":
        return list(FORMATS)
    if choice == "both":
        return ["savedmodel", "tflite"]
    if choice not in FORMATS:
        raise ValueError(f"unknown export format {choice!r}: one of {', '.join(FORMAT_CHOICES)}")
    return [choice]


def export_savedmodel(model, out_dir) -> Path:
    """Write a TensorFlow SavedModel (``serve`` endpoint: preprocessed images -> outputs).
    Needs TensorFlow (:class:`~lpr_lib._tf.TensorFlowRequired` without it), on any backend."""
    from lpr_lib._tf import require_tensorflow

    tf = require_tensorflow(f"exporting a SavedModel ({out_dir})")
    out_dir = Path(out_dir)
    logger = tf.get_logger()  # "Assets written to: <folder>" at INFO, even with verbose=False
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.export(str(out_dir), format="tf_saved_model", verbose=False)
    finally:
        logger.setLevel(level)
    return out_dir


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def export_tflite(model, path, quantize: bool = False, savedmodel=None) -> Path:
    """Convert ``model`` to a TFLite flatbuffer at ``path`` (float32 unless ``quantize``:
    dynamic-range int8, weights stored as int8 and activations quantized on the fly where a
    kernel allows). Input: preprocessed images ``(N, H, W, 3)`` (the batch axis is dynamic;
    the interpreter is allocated for 1). ``savedmodel``: a SavedModel of ``model`` already
    written (:func:`export_savedmodel`), converted instead of writing one."""
    from lpr_lib._tf import require_tensorflow

    tf = require_tensorflow(f"exporting a TFLite model ({path})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if savedmodel is None:
            savedmodel = export_savedmodel(model, Path(tmp) / "sm")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(savedmodel))
        if quantize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        _write_atomically(path, converter.convert())
    return path


@contextlib.contextmanager
def _grouped_conv_without_xla():
    """While tracing for ONNX: Keras' TensorFlow backend runs a grouped convolution inside an
    XLA-compiled function (TensorFlow's CPU kernel lacks groups), a ``StatefulPartitionedCall``
    that tf2onnx cannot convert. Traced as the plain ``Conv2D`` (valid in a graph, never run
    here), it becomes an ONNX ``Conv`` with ``group``. Ungrouped convolutions are unchanged."""
    try:
        from keras.src.backend.tensorflow import nn as tf_nn
        original = tf_nn.conv
    except (ImportError, AttributeError):  # pragma: no cover - Keras' internals moved
        yield
        return
    import tensorflow as tf

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        channels_last = data_format in (None, "channels_last")
        if not channels_last or len(inputs.shape) != 4 or inputs.shape[-1] == kernel.shape[-2]:
            return original(inputs, kernel, strides, padding, data_format, dilation_rate)
        return tf.nn.convolution(inputs, kernel, strides, padding.upper(), data_format="NHWC",
                                 dilations=dilation_rate)

    tf_nn.conv = conv
    try:
        yield
    finally:
        tf_nn.conv = original


@contextlib.contextmanager
def _quiet_tf2onnx():
    """tf2onnx logs every optimiser pass (and, for MobileNet v3's squeeze-excite, a traceback of
    a transpose optimisation it skips, harmlessly); the parity check is what tells."""
    import warnings

    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():  # Keras' numpy-2 patch of tf2onnx reads np.object
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def _require_onnx_export(what: str):
    from lpr_lib._tf import on_tensorflow, require_tensorflow

    tf = require_tensorflow(what)
    if not on_tensorflow():
        import keras

        raise ValueError(f"{what}: ONNX export runs on Keras' TensorFlow backend (tf2onnx), not "
                         f"on {keras.backend.backend()!r}; set KERAS_BACKEND=tensorflow")
    try:
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as err:
        raise OnnxUnavailable(f"{what} needs tf2onnx and onnx, which cannot be imported here "
                              f"({err}); pip install 'lpr_lib[onnx]'") from None
    return tf


def export_onnx(model, path, opset: int | None = None) -> Path:
    """Write ``model`` as an ONNX file at ``path`` (Keras' ``model.export(format="onnx")``:
    tf2onnx, its default opset unless ``opset``). Input ``image``: preprocessed images
    ``(N, H, W, 3)``, any N; outputs by name (``chars``, ``length``). Needs Keras' TensorFlow
    backend and tf2onnx (:class:`OnnxUnavailable` without it)."""
    tf = _require_onnx_export(f"exporting an ONNX model ({path})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = model.input.shape[1:3]
    spec = tf.TensorSpec((None, h, w, 3), tf.float32, name=model.inputs[0].name)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with _grouped_conv_without_xla(), _quiet_tf2onnx():
            model.export(str(tmp), format="onnx", verbose=False, input_signature=[spec],
                         opset_version=opset)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def export(model, fmt: str, path, savedmodel=None) -> Path:
    """Write ``model`` in the format ``fmt`` (one of :data:`FORMATS`) at ``path``."""
    if fmt == "savedmodel":
        return export_savedmodel(model, path)
    if fmt in ("tflite", "tflite_int8"):
        return export_tflite(model, path, quantize=fmt == "tflite_int8", savedmodel=savedmodel)
    if fmt == "onnx":
        return export_onnx(model, path)
    raise ValueError(f"unknown export format {fmt!r}: one of {', '.join(FORMATS)}")


def tflite_predict(tflite_path, images: np.ndarray) -> dict:
    """Run a TFLite model on preprocessed images ``(N, H, W, 3)``, one at a time; return its
    outputs by name (``"chars"``, ``"length"``). The file is checked first
    (:func:`lpr_lib.tflite_verify.verify_tflite`): a damaged one is a ``ValueError``, not a
    crash of the interpreter."""
    import warnings

    from lpr_lib._tf import require_tensorflow
    from lpr_lib.tflite_verify import TFLiteFormatError, verify_tflite

    tf = require_tensorflow(f"running the TFLite model {tflite_path}")
    content = Path(tflite_path).read_bytes()
    try:
        verify_tflite(content)
    except TFLiteFormatError as err:
        raise ValueError(f"{tflite_path}: not a loadable TFLite model ({err})") from None
    with warnings.catch_warnings():  # "use ai_edge_litert": not a dependency of ours
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_content=content)
    runner = interpreter.get_signature_runner()
    input_name = next(iter(runner.get_input_details()))
    outs = [runner(**{input_name: images[i:i + 1].astype(np.float32)})
            for i in range(len(images))]
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


# ------------------------------------------------------------------------ parity


def parity_images(model, count: int = 8, seed: int = 0) -> np.ndarray:
    """``count`` synthetic plates (every kind the generator draws), preprocessed for ``model``
    as :class:`~lpr_lib.predict.Predictor` does: the inputs of the parity check."""
    from lpr_lib.synth import PlateGenerator

    gen = PlateGenerator(seed=seed)
    return Predictor(model).preprocess([gen.sample()[0] for _ in range(count)])


def parity(model, exported, images: np.ndarray, fmt: str | None = None) -> dict:
    """How an export's outputs compare with the Keras model's on ``images`` (preprocessed):
    ``max_abs_diff`` per output, ``readings_agree`` (how many of the plates decode to the same
    text, :meth:`~lpr_lib.predict.Predictor.decode`), and ``ok``: within :data:`TOLERANCE`."""
    fmt = fmt or exported.format
    want = {k: np.asarray(v) for k, v in model.predict_on_batch(images).items()}
    got = exported.predict_on_batch(images)
    missing = sorted(set(want) - set(got))
    if missing:
        raise ValueError(f"{getattr(exported, 'path', exported)}: the export has no output "
                         f"{', '.join(missing)}")
    diff = {k: float(np.abs(want[k] - got[k]).max()) for k in want}
    reader = Predictor(model, min_confidence=0.0)
    texts_want = reader.decode(want)[0]
    texts_got = reader.decode({k: got[k] for k in want})[0]
    tolerance = TOLERANCE.get(fmt)
    return {"format": fmt, "plates": len(images), "max_abs_diff": diff,
            "readings_agree": int(sum(a == b for a, b in zip(texts_want, texts_got))),
            "tolerance": tolerance,
            "ok": tolerance is None or max(diff.values()) <= tolerance}


def parity_text(check: dict) -> str:
    """One line: the largest differences, the agreement, and the verdict."""
    diffs = ", ".join(f"{k} {v:.1e}" for k, v in check["max_abs_diff"].items())
    agree = f"{check['readings_agree']}/{check['plates']} readings agree"
    if check["tolerance"] is None:
        verdict = "no bound for int8 weights (make bench measures its accuracy)"
    else:
        verdict = ("ok" if check["ok"] else "FAILED") + f" (tolerance {check['tolerance']:g})"
    return f"parity with Keras on {check['plates']} plates: max |difference| {diffs}; " \
           f"{agree}; {verdict}"


def preprocessing_notes(model) -> dict:
    """What ``preprocessing.json`` says about an export of ``model``."""
    whiten = run_whiten(model)
    outputs = {"chars": "(batch, 8, 74) softmax per position over lpr_lib.plates.CHARS",
               "length": "(batch, 2) softmax over {7, 8} characters"}
    if "kind" in model.output:
        outputs["kind"] = "(batch, K) softmax over lpr_lib.plates.KINDS"
    return {
        "input": "float32 (batch, H, W, 3) RGB, preprocessed",
        "image_size": list(model.input.shape[1:3]),
        "whiten": whiten,
        "steps": ["decode to uint8 RGB (JPEG: libjpeg's accurate integer IDCT, as Pillow and "
                  "OpenCV decode)",
                  "resize bilinear (antialias, tf.image.resize's kernel) to image_size, round "
                  "to uint8", "scale to [0, 1]"]
        + (["per-image standardisation: (x - mean) / max(std, 1/sqrt(H*W*3))"] if whiten
           else []),
        "outputs": outputs,
        "temperature": stored_temperature(model),
        "confidence": "every softmax output scaled as softmax(log(p) / temperature) (a number "
                      "for every head, or per output: chars per position), then the reading's "
                      "joint probability: the product of its characters' and its length's "
                      "probabilities; below threshold the reading is unsure",
        "threshold": stored_threshold(model),
        "model": getattr(model, "_lpr_name", model.name),
    }


def write_preprocessing_notes(folder, notes: dict) -> Path:
    """Write ``notes`` (:func:`preprocessing_notes`) as ``folder``'s ``preprocessing.json``,
    which an export is loaded through; return its path."""
    path = Path(folder) / PREPROCESSING_FILE
    path.write_text(json.dumps(notes, indent=2, ensure_ascii=False) + "\n")
    return path


# ------------------------------------------------------------------------ CLI


#: What an export folder holds: anything else in ``--out`` makes ``lpr export`` refuse to
#: replace it (it is someone's folder, not an earlier export).
EXPORT_FILES = (*EXPORT_NAMES.values(), PREPROCESSING_FILE)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def replace_folder(dest, write, expect=None) -> Path:
    """Fill a new folder with ``write(folder)`` and put it in ``dest``'s place.

    ``write`` works in a temporary sibling of ``dest`` (``.NAME.new-PID-*``, same file
    system); only when it has returned is ``dest`` (if any) moved aside (``.NAME.old-PID-*``),
    the new folder renamed to ``dest`` and the old one deleted. So ``dest`` keeps its earlier
    content until the new one is whole, and never holds a mix of old and new files. If
    ``write`` fails, ``dest`` is untouched and the temporary folder removed. A process killed
    between the two renames leaves no ``dest``: the next call (and the next load of the
    export, :func:`lpr_lib.runtime.recover_folder`) renames the earlier folder back, and the
    temporary folders that killed runs left are deleted. ``expect``: the names an existing
    ``dest`` may hold; any other entry makes this refuse (``ValueError``) rather than delete a
    folder it did not write.
    """
    dest = Path(dest)
    recover_folder(dest)
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
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.new-{os.getpid()}-", dir=dest.parent))
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


def write_exports(model, folder, formats, images=None, strict: bool = True,
                  report=None, shown=None, on_error=None) -> dict:
    """Write ``model`` into ``folder`` in each of ``formats`` (:data:`EXPORT_NAMES` there) with
    its ``preprocessing.json``, and check each export against the model on ``images``
    (preprocessed; default :func:`parity_images`). Returns ``{format: check}``, each check
    with its ``export_seconds`` and ``bytes`` on disk. ``strict``: a float export beyond
    :data:`TOLERANCE` raises :class:`ExportMismatch` (else its check says ``ok: False``).
    ``report(fmt, path, check)`` is called after each export (``lpr export`` prints it);
    ``shown``: the folder named in an :class:`ExportMismatch` (default ``folder``).
    ``on_error(fmt, err)``: called instead of raising when a format cannot be exported (the
    others are still written; its check is then ``{"error": ...}``)."""
    folder, shown = Path(folder), Path(shown or folder)
    images = parity_images(model) if images is None else images
    notes = preprocessing_notes(model)
    folder.mkdir(parents=True, exist_ok=True)
    # first: the parity check loads each export through its preprocessing.json
    write_preprocessing_notes(folder, notes)
    checks, savedmodel = {}, None
    for fmt in formats:
        target = folder / EXPORT_NAMES[fmt]
        started = time.perf_counter()
        try:
            export(model, fmt, target, savedmodel=savedmodel)
            seconds = time.perf_counter() - started
            # its checksum first: the parity check loads it as lpr predict will, checked
            notes.setdefault("sha256", {})[EXPORT_NAMES[fmt]] = export_digest(target)
            write_preprocessing_notes(folder, notes)
            check = parity(model, load_exported(target), images, fmt)
        except Exception as err:
            if on_error is None:
                raise
            on_error(fmt, err)
            checks[fmt] = {"format": fmt, "error": f"{type(err).__name__}: {err}"[:500]}
            continue
        if fmt == "savedmodel":
            savedmodel = target
        check["export_seconds"] = round(seconds, 2)
        check["bytes"] = disk_bytes(target)
        checks[fmt] = check
        if report is not None:
            report(fmt, target, check)
        if strict and not check["ok"]:
            raise ExportMismatch(
                f"{shown / EXPORT_NAMES[fmt]}: the {LABELS[fmt]} export differs from the Keras "
                f"model by {max(check['max_abs_diff'].values()):.2e} on the parity plates, "
                f"beyond {check['tolerance']:g}: nothing written ({shown} is as it was)")
    notes["parity"] = checks
    write_preprocessing_notes(folder, notes)
    return checks


def disk_bytes(path) -> int:
    """The size of a file, or of every file under a folder (a SavedModel), in bytes."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def cli_export(args) -> int:
    """``lpr export --out DIR [--model M] [--format FORMAT]`` (:data:`FORMAT_CHOICES`; default
    ``both``: SavedModel and float TFLite). After each export, the parity check against the
    Keras model (:func:`parity`) is printed; a float export beyond :data:`TOLERANCE` stops the
    export (exit status 1, ``DIR`` untouched). ``DIR`` is replaced as a whole
    (:func:`replace_folder`): an earlier export there stays until the new one is complete, and
    none of its files remain beside the new one. Needs TensorFlow (on any Keras backend; ONNX:
    the TensorFlow backend and tf2onnx): without it, an error before anything is read or
    written."""
    from lpr_lib._tf import require_tensorflow

    formats = expand_formats(args.format)
    names = [LABELS[f] for f in formats]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    require_tensorflow(f"lpr export ({listed} files, into {args.out})")
    if "onnx" in formats:
        _require_onnx_export(f"lpr export --format {args.format}")
    model = load_model(args.model)
    if isinstance(model, ExportedModel):
        raise ValueError(f"{args.model}: an export already; export from a Keras model (a run "
                         "folder, a .keras file or a shipped model's name)")
    print(f"model: {model._lpr_name}", file=sys.stderr)
    out = Path(args.out)

    def report(fmt, target, check):
        print(f"{LABELS[fmt] + ':':<13}{out / EXPORT_NAMES[fmt]}")
        print(f"  {parity_text(check)}", flush=True)

    try:
        replace_folder(out, lambda folder: write_exports(model, folder, formats, report=report,
                                                         shown=out),
                       expect=EXPORT_FILES)
    except ExportMismatch as err:
        print(f"lpr export: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # a full disk: OSError without a file name, or TensorFlow's own
        disk = _disk_error(err)
        if disk is None:
            raise
        raise OSError(disk, os.strerror(disk) + f" while writing the export ({out} is as "
                      "it was)", str(out)) from None
    print(f"notes:       {out / PREPROCESSING_FILE}", file=sys.stderr)
    return 0


def _disk_error(err: BaseException) -> int | None:
    """The errno of a write that failed for want of room (or quota, or a read-only disk),
    whether Python raised it (an ``OSError`` that names no file) or TensorFlow (its message);
    ``None`` for any other error, and for an ``OSError`` that already names its file."""
    import errno

    codes = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)
    if isinstance(err, OSError):
        return err.errno if err.errno in codes and not err.filename else None
    text = str(err).lower()
    for code in codes:
        if os.strerror(code).lower() in text:
            return code
    return None


class ExportMismatch(RuntimeError):
    """An export whose outputs differ from the Keras model's beyond :data:`TOLERANCE`."""
