"""Export a trained plate reader: SavedModel and TFLite (these need TensorFlow).

    model = load_model("runs/default")            # lpr_lib.predict
    export_tflite(model, "exported/model.tflite")

The exported SavedModel and TFLite models take the *preprocessed* image (float32
``(batch, H, W, 3)``): preprocessing stays in one place (:func:`lpr_lib.data.preprocess`, which
:mod:`lpr_lib.predict` uses too), and an app feeding the TFLite model must standardise each
crop (subtract its mean, divide by its standard deviation, as
``tf.image.per_image_standardization``) when the run was trained with ``data.whiten``.
``lpr export`` writes a ``preprocessing.json`` next to the models saying exactly this, and
replaces its output folder as a whole (:func:`replace_folder`): a new export never leaves an
earlier one's files beside it.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from lpr_lib.predict import load_model, run_whiten

__all__ = ["export_savedmodel", "export_tflite", "tflite_predict", "replace_folder",
           "EXPORT_FILES", "cli_export"]


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
    whiten = run_whiten(model)
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
