"""Faults and fuzz (issue 32): damaged model files of every format, non-regular files and
images of every mode, hostile YAML, concurrent runs on one folder, kills between the renames
of an export and of a training run, and the memory an oversized image takes. Each case must
end in a clear error or the right reading: no crash, no hang, no traceback, nothing lost.

Whatever could crash or hang the process (a damaged TFLite file, a FIFO) runs in a forked
child with a time limit (:func:`isolated`), so that a regression fails its test instead of
killing the test run. The slow cases (``@pytest.mark.slow``: training runs, a 12000-pixel
JPEG) run in CI's slow step, not in ``make test``."""
import contextlib
import errno
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

from lpr_lib import cli

sys.path.insert(0, str(Path(__file__).parent))
from test_predict_faults import _tiny_model  # noqa: E402  a model that ignores the image

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ helpers


def lpr(*args) -> tuple[int, str, str]:
    """``lpr ARGS`` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


#: Runs ``lpr`` once per case in a fresh process (TensorFlow cannot be forked once it has run
#: an op), one JSON line of (exit status, stdout, stderr) a case; a crash or a hang shows as
#: a case with no line. ``LPR_TEST_DENY``: paths below it raise PermissionError, as a folder
#: without search permission does for a normal user (the tests may run as root).
WORKER = textwrap.dedent("""
    import builtins, contextlib, errno, io, json, os, sys
    sys.path.insert(0, sys.argv[2])
    deny = os.environ.get("LPR_TEST_DENY")
    if deny:
        def denied(fn):
            def guarded(p, *a, **kw):
                if not isinstance(p, int) and os.fsdecode(p).startswith(deny + os.sep):
                    raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(p))
                return fn(p, *a, **kw)
            return guarded
        os.stat, os.open, builtins.open = denied(os.stat), denied(os.open), denied(builtins.open)
    from lpr_lib import cli
    for argv in json.loads(open(sys.argv[1], encoding="utf-8").read()):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(argv)
            except BaseException as exc:
                rc = f"escaped: {type(exc).__name__}: {exc}"
        print(json.dumps([rc, out.getvalue(), err.getvalue()]), flush=True)
""")


def lpr_cases(tmp_path: Path, cases: list[list], timeout: float = 240, deny=None) -> list:
    """``lpr`` run on each argument list of ``cases`` in one fresh process: a list of
    (exit status, stdout, stderr). Fails the test, naming the case, on a crash (a signal),
    a hang (past ``timeout`` seconds) or an exception that escaped the command."""
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps([[str(a) for a in argv] for argv in cases]))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if deny is not None:
        env["LPR_TEST_DENY"] = str(deny)
    try:
        done = subprocess.run([sys.executable, "-c", WORKER, str(spec), str(ROOT)], env=env,
                              capture_output=True, text=True, timeout=timeout)
        hung = False
    except subprocess.TimeoutExpired as err:
        done, hung = err, True
    stdout = done.stdout or ""
    stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
    results = [json.loads(line) for line in stdout.splitlines() if line.startswith("[")]
    if len(results) < len(cases):
        what = "hung" if hung else f"ended with status {done.returncode}"
        pytest.fail(f"lpr {' '.join(map(str, cases[len(results)]))}: the process {what} "
                    f"(a crash or a hang)")
    for argv, (rc, _, _) in zip(cases, results):
        assert not isinstance(rc, str), f"lpr {' '.join(map(str, argv))}: {rc}"
    return results


def _plate(path: Path) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 144, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A tiny model that reads 皖A12345 whatever the image, its exports (TFLite, ONNX,
    SavedModel, with preprocessing.json) and a plate image."""
    from lpr_lib.export import write_exports
    from lpr_lib.predict import load_model

    root = tmp_path_factory.mktemp("fuzz")
    model_file = _tiny_model(root / "model" / "model.keras", "皖A12345")
    write_exports(load_model(model_file), root / "exp", ["tflite", "onnx", "savedmodel"])
    return {"root": root, "keras": model_file, "exp": root / "exp",
            "plate": _plate(root / "plate.png")}


def _copy_export(work, tmp_path, name: str, checksum: bool = True) -> Path:
    """A copy of one exported model with its preprocessing.json (``checksum=False``: the
    notes without their sha256, as an export of an earlier version has them)."""
    folder = tmp_path / f"copy-{name}"
    folder.mkdir()
    notes = json.loads((work["exp"] / "preprocessing.json").read_text())
    if not checksum:
        notes.pop("sha256", None)
    (folder / "preprocessing.json").write_text(json.dumps(notes))
    src = work["exp"] / name
    (shutil.copytree if src.is_dir() else shutil.copy)(src, folder / name)
    return folder / name


def _damaged(data: bytes, seed: int) -> list[tuple[str, bytes]]:
    """Truncated at several points, bytes flipped, empty."""
    n, rng = len(data), random.Random(seed)
    cases = [(f"cut{p}%", data[:n * p // 100]) for p in (1, 5, 30, 50, 70, 90, 95, 99)]
    cases += [("tail-100", data[:-100]), ("tail-8", data[:-8]), ("empty", b"")]
    for k in range(6):
        flipped = bytearray(data)
        for _ in range(1 + 10 * k):
            flipped[rng.randrange(n)] ^= rng.randrange(1, 256)
        cases.append((f"flip{k}", bytes(flipped)))
    return cases


def _clear_failure(rc, out, err, path) -> None:
    """A load that failed as the library fails: exit 2, one line naming the file, no
    traceback; or a model that still loads (bytes changed in its weights) and reads."""
    assert "Traceback" not in out + err
    if rc == 0:  # a reading, or "no plate": one line, tab-separated
        assert len(out.splitlines()) == 1 and out.count("\t") >= 2, out
        return
    assert rc == 2 and f"lpr predict: error: {path}" in err, (rc, out, err)
    assert len(err) < 2000


# ------------------------------------------------------------------ damaged models


def test_damaged_tflite_is_a_clear_error_never_a_crash(work, tmp_path):
    """Issue 32, items 1 and 9: a TFLite file cut short crashed the interpreter (SIGSEGV,
    exit 139, no output) or gave its RuntimeError traceback. The flatbuffer is checked first;
    here without the checksum, which would catch every case before the check."""
    good = (work["exp"] / "model.tflite").read_bytes()
    damaged = _damaged(good, seed=1) + [("png", work["plate"].read_bytes()),
                                        ("onnx", (work["exp"] / "model.onnx").read_bytes())]
    paths, cases = {}, []
    for checksum in (False, True):
        for name, data in damaged:
            folder = tmp_path / f"{name}-{checksum}"
            folder.mkdir()
            path = _copy_export(work, folder, "model.tflite", checksum=checksum)
            path.write_bytes(data)
            paths[name, checksum] = path
            cases.append(["predict", work["plate"], "--model", path])
    results = dict(zip(paths, lpr_cases(tmp_path, cases)))
    for (name, checksum), (rc, out, err) in results.items():
        _clear_failure(rc, out, err, paths[name, checksum])
        if checksum:  # the checksum catches every change
            assert rc == 2 and "damaged" in err, (name, err)
    plain = {name: rc for (name, checksum), (rc, _, _) in results.items() if not checksum}
    assert all(plain[f"cut{p}%"] == 2 for p in (1, 5, 30, 50, 70, 90, 95, 99))
    assert plain["tail-100"] == plain["tail-8"] == plain["empty"] == plain["png"] == 2


@pytest.mark.parametrize("name", ["model.onnx", "savedmodel"])
def test_every_damaged_export_is_caught_by_its_checksum(work, tmp_path, name):
    """Issue 32, noted: a .onnx with bytes flipped loaded and answered silently. The export's
    preprocessing.json records the SHA-256 of each model, checked when it is loaded (the
    TFLite file's: in the test above, in a process of its own)."""
    from lpr_lib.runtime import export_digest

    notes = json.loads((work["exp"] / "preprocessing.json").read_text())
    assert notes["sha256"][name] == export_digest(work["exp"] / name)
    path = _copy_export(work, tmp_path, name)
    target = path / "variables" / "variables.data-00000-of-00001" if path.is_dir() else path
    good = target.read_bytes()
    for case, data in _damaged(good, seed=2):
        target.write_bytes(data)
        rc, out, err = lpr("predict", work["plate"], "--model", path)
        assert rc == 2 and "Traceback" not in err, (case, rc, err)
        assert f"error: {path}" in err and ("damaged" in err or "not a loadable" in err), err
    target.write_bytes(good)
    rc, out, _ = lpr("predict", work["plate"], "--model", path)
    assert rc == 0 and out.startswith("皖A12345")


@pytest.mark.slow
def test_damaged_onnx_and_savedmodel_without_checksum(work, tmp_path):
    """Exports of an earlier version (no checksum): cut, flipped or empty files give a clear
    error (or, for changed weights, a reading), never a crash."""
    cases, paths = [], []
    for name, seed in (("model.onnx", 3), ("savedmodel", 4)):
        for case, data in _damaged((work["exp"] / EXPORT_FILE[name]).read_bytes(), seed):
            folder = tmp_path / f"{name}-{case}"
            folder.mkdir()
            path = _copy_export(work, folder, name, checksum=False)
            (path / "saved_model.pb" if path.is_dir() else path).write_bytes(data)
            cases.append(["predict", work["plate"], "--model", path])
            paths.append(path)
    for path, (rc, out, err) in zip(paths, lpr_cases(tmp_path, cases)):
        _clear_failure(rc, out, err, path)


EXPORT_FILE = {"model.onnx": "model.onnx", "savedmodel": "savedmodel/saved_model.pb"}


def test_wrong_input_size_in_preprocessing_json(work, tmp_path):
    """Issue 32, item 9: an export whose preprocessing.json gives another input size than the
    model's was a traceback from the runtime; it names the notes and both sizes."""
    for name in ("model.tflite", "model.onnx", "savedmodel"):
        path = _copy_export(work, tmp_path, name)
        notes = path.parent / "preprocessing.json"
        doc = json.loads(notes.read_text())
        doc["image_size"] = [48, 144]  # the model takes 32x96
        notes.write_text(json.dumps(doc))
        rc, out, err = lpr("predict", work["plate"], "--model", path)
        assert rc == 2 and "Traceback" not in err, (name, err)
        assert f"{notes}: says the input is 48x144" in err and "takes 32x96" in err, err


@pytest.fixture
def deny_paths(monkeypatch):
    """``deny(path)``: every ``open``/``os.open``/``os.stat`` of that path (or below it, for a
    folder: no search permission) raises ``PermissionError``, as the kernel does for a normal
    user (the tests may run as root, which permissions do not stop)."""
    import builtins

    denied: list[str] = []

    def blocked(p) -> bool:
        if isinstance(p, int) or not isinstance(p, (str, bytes, os.PathLike)):
            return False
        p = os.path.abspath(os.fsdecode(p))
        return any(p == d or p.startswith(d + os.sep) for d in denied)

    def wrap(fn, below_only=False):
        def guarded(p, *a, **kw):
            if blocked(p):
                raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(p))
            return fn(p, *a, **kw)
        return guarded

    def deny(path):
        if not denied:
            monkeypatch.setattr(builtins, "open", wrap(builtins.open))
            monkeypatch.setattr(io, "open", wrap(io.open))
            monkeypatch.setattr(os, "open", wrap(os.open))
            monkeypatch.setattr(os, "stat", wrap(os.stat))
        denied.append(os.path.abspath(path))

    return deny


def test_damaged_keras_files_say_what_is_wrong(work, tmp_path, deny_paths):
    """Issue 32, item 11: a truncated, garbage, empty or unreadable .keras file, and a
    symbolic-link loop, were all 'file not found'."""
    good = work["keras"].read_bytes()
    cases = {"truncated": (good[:len(good) // 2], "damaged zip archive"),
             "garbage": (b"\x00garbage" * 100, "not a zip archive"),
             "empty": (b"", "empty file"),
             "text": (b"PK but not a zip", "damaged zip archive"),
             "unreadable": (good, "permission denied")}
    for name, (data, said) in cases.items():
        path = tmp_path / f"{name}.keras"
        path.write_bytes(data)
        if name == "unreadable":
            deny_paths(path)
        rc, out, err = lpr("predict", work["plate"], "--model", path)
        assert rc == 2 and said in err and "not found" not in err, (name, err)
        assert f"{path}: not a loadable Keras model" in err or f"{path}: {said}" in err
    loop = tmp_path / "loop.keras"
    loop.symlink_to(loop)
    rc, out, err = lpr("predict", work["plate"], "--model", loop)
    assert rc == 2 and "symbolic-link loop" in err and "not found" not in err, err


# ------------------------------------------------------------------ images


def test_non_regular_files_and_unsearchable_folders_get_error_lines(work, tmp_path):
    """Issue 32, items 3 and 8: a FIFO named x.jpg hung lpr predict (nothing printed), and an
    image in a folder without search permission stopped the whole call (exit 2)."""
    good = work["plate"]
    fifo = tmp_path / "x.jpg"
    os.mkfifo(fifo)
    sock_path = tmp_path / "s.jpg"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    device = tmp_path / "null.jpg"
    device.symlink_to("/dev/null")
    folder = tmp_path / "folder.jpg"
    folder.mkdir()
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    broken = tmp_path / "broken.jpg"
    broken.symlink_to(tmp_path / "gone.jpg")
    locked = tmp_path / "locked"
    locked.mkdir()
    hidden = _plate(locked / "in.png")
    args = [good, fifo, sock_path, device, folder, loop, broken, hidden, good]
    try:
        (rc, out, err), = lpr_cases(tmp_path, [["predict", *args, "--model", work["keras"],
                                                "--json"]], timeout=120, deny=locked)
    finally:
        sock.close()
    rows = json.loads(out)["plates"]
    assert rc == 1 and [r["image"] for r in rows] == [str(a) for a in args]
    assert rows[0]["text"] == rows[-1]["text"] == "皖A12345"
    errors = [r.get("error") for r in rows]
    for e in errors[1:4]:
        assert "not a regular file" in e
    assert "folder" in errors[4] and "symbolic-link loop" in errors[5]
    assert "broken symbolic link" in errors[6] and errors[7] == "permission denied"
    assert "7 of 9" in err and "Traceback" not in err


def _gradient(h=40, w=120) -> np.ndarray:
    """An 8-bit grey ramp: every column a different level."""
    return np.tile(np.linspace(0, 255, w).round().astype(np.uint8), (h, 1))


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B", "I",
                                  "F", "CMYK", "YCbCr", "LAB", "PA", "RGBX"])
def test_images_of_every_mode_and_depth_read_as_their_pixels(tmp_path, mode):
    """Issue 32, item 12: a 16-bit greyscale PNG read as white (convert clipped it). Every
    mode reads as the 8-bit grey ramp it was made from (bilevel: black and white)."""
    from PIL import Image

    from lpr_lib.predict import _read_rgb

    grey = _gradient()
    base = Image.fromarray(grey)
    if mode == "1":
        im = base.convert("1", dither=Image.Dither.NONE)
    elif mode == "I;16":
        im = Image.fromarray(grey.astype(np.uint16) * 257)
    elif mode == "I;16B":
        im = Image.frombytes("I;16B", base.size, (grey.astype(">u2") * 257).tobytes())
    elif mode == "I":
        im = Image.fromarray(grey.astype(np.int32) * 257)
    elif mode == "F":
        im = Image.fromarray(grey.astype(np.float32) / 255)
    elif mode == "PA":
        im = base.convert("P").convert("PA")
    else:
        im = base.convert(mode)
    fmt = {"I": "TIFF", "F": "TIFF", "CMYK": "TIFF", "YCbCr": "TIFF", "LAB": "TIFF",
           "PA": "TIFF", "RGBX": "TIFF"}.get(mode, "PNG")
    path = tmp_path / f"img.{fmt.lower()}"
    im.save(path, fmt)
    rgb = _read_rgb(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (*grey.shape, 3)
    if mode == "1":
        assert set(np.unique(rgb)) <= {0, 255}
        assert rgb[:, :10].max() == 0 and rgb[:, -10:].min() == 255
        return
    tolerance = 6 if mode in ("CMYK", "YCbCr", "LAB", "P", "PA") else 1
    assert np.abs(rgb.astype(int) - grey[..., None]).max() <= tolerance, mode


def test_a_16_bit_png_reads_as_its_8_bit_copy(tmp_path):
    """The issue's case: the 8-bit copy of a plate read 0.80, the 16-bit copy 'no plate'."""
    from PIL import Image

    from lpr_lib.data import Sample, read_image
    from lpr_lib.predict import _read_rgb

    rng = np.random.default_rng(5)
    eight = rng.integers(0, 256, (48, 144), dtype=np.uint8)
    Image.fromarray(eight).save(tmp_path / "8.png")
    Image.fromarray(eight.astype(np.uint16) * 257).save(tmp_path / "16.png")
    assert Image.open(tmp_path / "16.png").mode.startswith("I")
    np.testing.assert_array_equal(_read_rgb(tmp_path / "16.png"), _read_rgb(tmp_path / "8.png"))
    sample = Sample(path=tmp_path / "16.png", text="皖A12345", labels=np.zeros(8), format="x")
    np.testing.assert_array_equal(read_image(sample), np.repeat(eight[..., None], 3, -1))


MEMORY_PROBE = textwrap.dedent("""
    import json, resource, sys, warnings
    sys.path.insert(0, {root!r})
    warnings.simplefilter("always")
    from pathlib import Path
    import zlib
    def chunk(kind, data):
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc
    def _write_big_png(path, w, h):
        z, row = zlib.compressobj(1), b"\\x00" + bytes(range(256)) * (w // 256) + bytes(w % 256)
        with path.open("wb") as fh:
            fh.write(b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", w.to_bytes(4, "big")
                     + h.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])))
            body = b"".join(z.compress(row) for _ in range(h)) + z.flush()
            fh.write(chunk(b"IDAT", body) + chunk(b"IEND", b""))
    from lpr_lib.predict import ImageError, _read_rgb
    out = {{}}
    for name, w, h in [("huge", 12000, 12000), ("big", 6000, 6000)]:
        path = Path({tmp!r}) / f"{{name}}.png"
        _write_big_png(path, w, h)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            out[name] = list(_read_rgb(path).shape)
        except ImageError as err:
            out[name] = str(err)
        out[name + "_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps(out))
""")


def test_oversized_images_take_bounded_memory(tmp_path):
    """Issue 32, item 7: a 140 KB PNG of 12000x12000 pixels took 5.2 GB to read, and
    Pillow's raw DecompressionBombWarning reached the user. It is refused before decoding,
    naming its size; a 6000x6000 one is decoded and shrunk at once. Peak memory is measured
    in a fresh process (no TensorFlow: reading an image does not need it)."""
    probe = MEMORY_PROBE.format(root=str(ROOT), tmp=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "12000x12000 pixels (144 megapixels)" in result["huge"]
    assert "too large for a plate crop" in result["huge"]
    assert result["big"][2] == 3 and max(result["big"][:2]) <= 2000
    assert result["huge_mb"] < 100 and result["big_mb"] < 200, result
    assert "DecompressionBomb" not in done.stderr and "site-packages" not in done.stderr


def test_predict_holds_one_decoded_image_at_a_time(work, monkeypatch):
    """Issue 32, item 7: every decoded image was kept until the end of the call."""
    import lpr_lib.predict as predict

    alive: list = []
    real = predict._as_rgb

    def spy(image, name):
        assert not [r for r in alive if r() is not None], "an earlier decoded image is kept"
        array = real(image, name)
        alive.append(weakref.ref(array))
        return array

    monkeypatch.setattr(predict, "_as_rgb", spy)
    reader = predict.Predictor(predict.load_model(work["keras"]))
    readings = reader.read([work["plate"]] * 4)
    assert [r.text for r in readings] == ["皖A12345"] * 4


# ------------------------------------------------------------------ hostile YAML


LAUGHS = textwrap.dedent("""\
    a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    model:
      stage_widths: [*g, *g, *g, *g, *g, *g, *g, *g, *g]
    """)


@pytest.mark.parametrize("text, said", [
    (LAUGHS, "once its aliases (*name) are expanded"),
    ("model: &m {stage_widths: [*m]}\n", "refers to the value that contains it"),
    ("a: &a [*a]\n", "refers to the value that contains it"),
    ("[" * 3000 + "]" * 3000 + "\n", "nested too deep"),
    ("? [a, b]\n: 1\n", "a key must be a name"),
    ("model:\n  stage_widths: " + str(list(range(20000))) + "\n", "(line 2)"),
    ("name: !!python/object/apply:os.system [echo hi]\n", "not valid YAML"),
    ("seed: " + "9" * 400 + "\n", "seed must be an integer in [0, 4294967295]"),
    ("seed: " + "9" * 5000 + "\n", "not valid YAML"),
    ("epochs: &x 3\nbatch_size: *x\nname: *x\n", "name must be a string"),
])
def test_hostile_yaml_is_refused_quickly_with_a_short_message(tmp_path, text, said):
    """Issue 32, item 4: nested anchors (286 bytes) ran for over 100 s at 1.2 GB, and the
    message would have carried the expanded value (3.6 MB)."""
    from lpr_lib.config import ConfigError, ExperimentConfig

    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        ExperimentConfig.from_yaml(path)
    assert time.perf_counter() - started < 5
    message = str(info.value)
    assert message.startswith(f"{path}: ") and said in message and len(message) < 1200, message


def test_mutated_configs_load_or_are_refused_by_name(tmp_path):
    """Fuzz: the default config with bytes changed, lines dropped or repeated, values swapped
    for hostile ones: each loads, or is a ConfigError naming the file; nothing else."""
    from lpr_lib.config import ConfigError, ExperimentConfig

    base = (ROOT / "configs" / "default.yaml").read_text(encoding="utf-8")
    lines = base.splitlines()
    hostile = [".inf", "-.inf", ".nan", "1e400", "-5", "9" * 40, "[]", "{}", "null", "~", "&a 1",
               "*undefined", "!!binary aGk=", "[1, [2, [3]]]", '"' + "x" * 5000 + '"', "true"]
    rng = random.Random(7)
    path = tmp_path / "mutant.yaml"
    for i in range(150):
        mutant = list(lines)
        kind = i % 3
        k = rng.randrange(len(mutant))
        if kind == 0 and ":" in mutant[k]:
            key = mutant[k].split(":", 1)[0]
            mutant[k] = f"{key}: {rng.choice(hostile)}"
        elif kind == 1:
            mutant.insert(k, mutant[rng.randrange(len(mutant))])
        else:
            text = bytearray("\n".join(mutant).encode())
            for _ in range(3):
                text[rng.randrange(len(text))] = rng.randrange(256)
            path.write_bytes(bytes(text))
            mutant = None
        if mutant is not None:
            path.write_text("\n".join(mutant) + "\n", encoding="utf-8")
        try:
            ExperimentConfig.from_yaml(path)
        except ConfigError as err:
            assert str(err).startswith(f"{path}: ") and len(str(err)) < 3000, err


@pytest.mark.parametrize("setting, said", [
    ("model.width=200", "model.width must be at most 4.0"),
    ("batch_size=100000000000000000000", "batch_size must be at most 65,536"),
    ("batch_size=1e20", "batch_size must be an integer"),
    ("seed=-5", "seed must be an integer in [0, 4294967295]"),
    ("optimizer.learning_rate=.inf", "optimizer.learning_rate must be a finite number"),
    ("optimizer.learning_rate=.nan", "optimizer.learning_rate must be a finite number"),
    ("data.image_size=[100000, 100000]", "data.image_size must be [height, width], each an "
     "integer in [16, 1024]"),
    ("name=../../x", "name must be a plain folder name"),
    ("name=/tmp/x", "name must be a plain folder name"),
    ("name=..", "name must be a plain folder name"),
])
def test_config_values_beyond_sense_are_refused_by_key(setting, said):
    """Issue 32, items 9, 11 and 13 and a noted one: model.width=200 was accepted (then
    exhausted memory), a huge batch_size was a TensorFlow conversion error naming no key,
    seed -5 named neither file nor key, learning_rate .inf was accepted, and
    name=../../x made a run folder outside runs/."""
    from lpr_lib.config import ConfigError, ExperimentConfig

    with pytest.raises(ConfigError) as info:
        ExperimentConfig().override([setting])
    assert str(info.value).startswith(f"--set: {said}"), info.value


def test_config_file_values_name_the_file_and_key(tmp_path):
    from lpr_lib.config import ConfigError, ExperimentConfig

    path = tmp_path / "bad.yaml"
    for text, said in [("seed: -5\n", "seed must be an integer"),
                       ("batch_size: 100000000000000000000\n", "batch_size must be at most"),
                       ("optimizer:\n  learning_rate: .inf\n", "optimizer.learning_rate must")]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=rf"^{path}: {said}.*\(line \d\)"):
            ExperimentConfig.from_yaml(path)
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    rc, _, err = lpr("train", folder)
    assert rc == 2 and f"{folder}: not a regular file" in err, err


# ------------------------------------------------------------------ data


def test_check_refuses_a_labels_file_with_no_entries(tmp_path):
    """Issue 32, item 10: a labels.tsv with only its header was 'OK: the data can be used'."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "labels.tsv").write_text("file\tplate\tsource\n")
    rc, out, _ = lpr("check", folder)
    assert rc == 1 and "0 usable samples" in out and "empty" in out and "OK" not in out
    (folder / "labels.tsv").unlink()
    (folder / "labels.txt").write_text("# only a comment\n")
    rc, out, _ = lpr("check", folder)
    assert rc == 1 and "empty" in out


def test_labels_tsv_entries_stay_in_their_folder(tmp_path, monkeypatch):
    """Issue 32, noted: entries such as ../../../../etc/passwd or /etc/hostname were opened
    outside the data folder. They are errors unless LPR_ALLOW_OUTSIDE_DATA=1."""
    from lpr_lib.data import DataError, load_samples

    outside = _plate(tmp_path / "皖A12345.png")
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    _plate(folder / "sub" / "苏E1500Q.png")
    rows = ["file\tplate", f"../{outside.name}\t皖A12345", f"{outside}\t皖A12345",
            "../../../../etc/passwd\t皖A12345", "sub/../sub/苏E1500Q.png\t苏E1500Q"]
    (folder / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.delenv("LPR_ALLOW_OUTSIDE_DATA", raising=False)
    rc, out, _ = lpr("check", folder)
    assert rc == 1 and out.count(": outside-folder: ") == 3 and "1 usable samples" in out
    assert "../../../../etc/passwd" in out and "LPR_ALLOW_OUTSIDE_DATA=1" in out
    with pytest.raises(DataError, match="outside-folder"):
        load_samples(folder)
    monkeypatch.setenv("LPR_ALLOW_OUTSIDE_DATA", "1")
    rc, out, _ = lpr("check", folder)
    assert ": outside-folder: " not in out, out
    assert "'../../../../etc/passwd' not found" in out, out  # looked for where it says


# ------------------------------------------------------------------ exports: kills, disks


class Killed(BaseException):
    """A kill, seen from inside: nothing after it runs."""


def _kill_at(monkeypatch, k: int, module=os, names=("rename", "replace")):
    """The k-th rename (1-based) kills the process: it and every later rename, and the
    clean-up a dead process would never run, do nothing but raise. Returns the counter."""
    calls = {"n": 0, "dead": False}
    real = {name: getattr(module, name) for name in names}

    def make(name):
        def fake(*a, **kw):
            if calls["dead"]:
                raise Killed(name)
            calls["n"] += 1
            if calls["n"] == k:
                calls["dead"] = True
                raise Killed(name)
            return real[name](*a, **kw)
        return fake

    for name in names:
        monkeypatch.setattr(module, name, make(name))
    real_rmtree = shutil.rmtree
    monkeypatch.setattr(shutil, "rmtree",
                        lambda *a, **kw: None if calls["dead"] else real_rmtree(*a, **kw))
    return calls


def _export_listing(dest: Path) -> dict:
    return {p.name: p.read_text() for p in sorted(dest.iterdir())}


@pytest.mark.parametrize("k", [0, 1, 2])
def test_a_kill_during_an_export_swap_loses_nothing(tmp_path, monkeypatch, k):
    """Issue 32, items 5 and 6: a kill between the two renames of an export left no folder
    under its name (the old one hidden as .NAME.old-*), and kills left .NAME.new-* folders
    that were never cleaned. k=0: a kill while the new export is written."""
    from lpr_lib.export import EXPORT_FILES, replace_folder
    from lpr_lib.predict import load_model

    dest = tmp_path / "exported"
    replace_folder(dest, lambda f: (f / "preprocessing.json").write_text("old"))

    def write(folder):
        (folder / "preprocessing.json").write_text("new")
        if k == 0:
            calls["dead"] = True
            raise Killed("while writing")

    with monkeypatch.context() as m:
        calls = _kill_at(m, k if k else 99)
        with pytest.raises(Killed):
            replace_folder(dest, write, expect=EXPORT_FILES)
    hidden = sorted(p.name.split("-")[0] for p in tmp_path.iterdir() if p.name.startswith("."))
    assert hidden == {0: [".exported.new"], 1: [".exported.new"],
                      2: [".exported.new", ".exported.old"]}[k]
    if k == 2:  # the window: no folder under its name; the next load restores it
        assert not dest.exists()
        with pytest.raises(FileNotFoundError, match="not an export folder"):
            load_model(dest)
        assert _export_listing(dest) == {"preprocessing.json": "old"}
    # the next export cleans what the killed one left, and writes its own
    replace_folder(dest, lambda f: (f / "preprocessing.json").write_text("newer"),
                   expect=EXPORT_FILES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]
    assert _export_listing(dest) == {"preprocessing.json": "newer"}


def test_export_leftovers_of_running_processes_are_kept(tmp_path):
    from lpr_lib.runtime import recover_folder

    dest = tmp_path / "out"
    dest.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout.strip()
        for name in [f".out.new-{dead}-a", f".out.old-{dead}-b", f".out.new-{sleeper.pid}-c",
                     ".out.new-legacy", ".other.new-1-x"]:
            (tmp_path / name).mkdir()
        assert recover_folder(dest) is None
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([
            f".out.new-{sleeper.pid}-c", ".other.new-1-x", "out"])
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_kill_between_the_renames_of_a_real_export_is_recovered_on_load(work, tmp_path):
    """The export folder hidden by a kill between the two renames reads again by its name."""
    hidden = tmp_path / ".exp.old-999999999-x"
    shutil.copytree(work["exp"], hidden)
    rc, out, err = lpr("predict", work["plate"], "--model", tmp_path / "exp" / "model.tflite")
    assert rc == 0 and out.startswith("皖A12345") and "restored" in err
    assert (tmp_path / "exp").is_dir() and not hidden.exists()


def test_a_full_disk_during_export_names_the_folder(work, tmp_path, monkeypatch):
    """Issue 32, noted: full-disk errors from export did not name the path."""
    import lpr_lib.export as export

    def full(self, data):  # what a write to a full disk raises: no file name
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    monkeypatch.setattr(export, "export_tflite",  # its conversion (seconds) is not the point
                        lambda model, path, **kw: export._write_atomically(Path(path), b"x"))
    out = tmp_path / "exported"
    rc, _, err = lpr("export", "--model", work["keras"], "--out", out, "--format", "tflite")
    assert rc == 2 and f"lpr export: error: {out}: no space left on device" in err, err
    assert not out.exists() and not list(tmp_path.iterdir())

    def tf_full(*a, **kw):  # TensorFlow's own error for the same: its message says it
        raise RuntimeError("UNKNOWN: ...; No space left on device")

    monkeypatch.setattr(export, "export_savedmodel", tf_full)
    rc, _, err = lpr("export", "--model", work["keras"], "--out", out, "--format", "savedmodel")
    assert rc == 2 and f"{out}: no space left on device" in err, err
    assert export._disk_error(OSError(errno.ENOSPC, "x", "named")) is None


def test_a_full_disk_during_synth_names_the_folder(tmp_path, monkeypatch):
    """Issue 32, noted: full-disk errors from synth did not name the path."""
    import lpr_lib.synth.generator as generator

    def full(*args, **kwargs):  # what a write to a full disk raises: no file name
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(generator, "_render", full)
    out = tmp_path / "plates"
    rc, _, err = lpr("synth", "--count", 4, "--out", out)
    assert rc == 2 and f"lpr synth: error: {out}: no space left on device" in err, err
    assert "Traceback" not in err and not list(tmp_path.iterdir())  # no partial folder left


# ------------------------------------------------------------------ runs: locks


def _other_process():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def test_a_second_train_on_a_folder_is_refused_naming_the_first(tmp_path):
    """Issue 32, item 2: two lpr train on one run folder both ran (and the second died on a
    missing temporary file). The lock names the holder; nothing is written."""
    from test_train import tiny_config, tiny_data

    from lpr_lib.runs import RunFolder, RunFolderBusy
    from lpr_lib.train import train

    out = tmp_path / "run"
    holder = _other_process()
    try:
        lock = RunFolder(out).lock_path()
        lock.write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(),
                                    "since": time.time(), "command": "lpr train --out run"}))
        with pytest.raises(RunFolderBusy, match=rf"in use by process {holder.pid} on "):
            train(tiny_config(), out, train_data=tiny_data())
        assert not out.exists() and lock.exists()
        rc, _, err = lpr("train", "--out", out, "--epochs", "1")
        assert rc == 2 and f"in use by process {holder.pid}" in err and str(lock) in err
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_is_cleared_and_a_lock_is_only_released_by_its_holder(tmp_path, capsys):
    from lpr_lib.runs import RunFolder, RunFolderBusy

    run = RunFolder(tmp_path / "run")
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)
    run.lock_path().write_text(json.dumps({"pid": dead, "host": socket.gethostname()}))
    with run.locked():
        assert json.loads(run.lock_path().read_text())["pid"] == os.getpid()
        with pytest.raises(RunFolderBusy, match=f"in use by process {os.getpid()}"):
            RunFolder(tmp_path / "run").acquire()  # the same folder, again: refused
    assert not run.lock_path().exists() and "no longer running" in capsys.readouterr().err
    # another machine's lock is never cleared from here, nor released
    run.lock_path().write_text(json.dumps({"pid": dead, "host": "elsewhere"}))
    with pytest.raises(RunFolderBusy, match="on elsewhere"):
        run.acquire()
    run.release()
    assert run.lock_path().exists()
    # a lock that is not whole (not written by this code) and new is respected; old, cleared
    run.lock_path().write_text("{")
    with pytest.raises(RunFolderBusy):
        run.acquire()
    os.utime(run.lock_path(), (time.time() - 3600, time.time() - 3600))
    with run.locked():
        pass
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_two_concurrent_lpr_train_one_is_refused(tmp_path):
    """Two real ``lpr train`` processes on one folder: one trains, the other stops at once
    naming it, and the folder holds one whole run."""
    out = tmp_path / "run"
    args = [sys.executable, "-m", "lpr_lib", "train", "--out", str(out), "--epochs", "1",
            "--set", "data.synthetic_train=64", "data.val_size=0", "model.width=0.125",
            "batch_size=16", "jit_compile=false", "tensorboard=false"]
    env = {**os.environ, "LPR_QUICK": "1"}
    first = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    lock = out.with_name(".run.lock")
    while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    second = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    first_out, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err[-2000:]
    assert second.returncode == 2 and f"in use by process {first.pid}" in second.stderr
    state = json.loads((out / "state.json").read_text())
    assert state["finished"] and not lock.exists()


# ------------------------------------------------------------------ runs: kills between renames


def _small_model(monkeypatch):
    import lpr_lib.model
    from test_runs import small_model

    monkeypatch.setattr(lpr_lib.model, "build_model", small_model)


@pytest.mark.slow
def test_a_kill_at_every_rename_of_a_training_run_resumes(tmp_path, monkeypatch):
    """Kills between every pair of renames of a run (each os.replace of lpr_lib.runs, one
    after the other): the same call again finishes a whole run, every epoch committed."""
    import lpr_lib.runs as runs
    from test_runs import _assert_finished
    from test_train import tiny_config, tiny_data

    from lpr_lib.train import train

    _small_model(monkeypatch)
    cfg = tiny_config(epochs=2)
    counted = []
    real = runs.os.replace
    with monkeypatch.context() as m:
        m.setattr(runs.os, "replace", lambda *a: counted.append(a) or real(*a))
        train(cfg, tmp_path / "count", train_data=tiny_data())
    total = len(counted)
    assert total >= 8
    for k in range(1, total + 1):
        out = tmp_path / f"k{k}"
        with monkeypatch.context() as m:
            _kill_at(m, k, module=runs.os, names=("replace",))
            with pytest.raises(Killed):
                train(cfg, out, train_data=tiny_data())
        train(cfg, out, train_data=tiny_data())
        _assert_finished(out, epochs=2)
        assert not out.with_name(f".{out.name}.lock").exists()


@pytest.mark.slow
def test_a_kill_at_every_rename_of_an_export_is_recovered(work, tmp_path, monkeypatch):
    """A real export (TFLite), killed at each rename it makes: the next export and the next
    load find a whole export under the name, and no temporary folder is left."""
    from lpr_lib.export import EXPORT_FILES, replace_folder, write_exports
    from lpr_lib.predict import load_model

    model = load_model(work["keras"])
    dest = tmp_path / "exported"
    counted = []
    with monkeypatch.context() as m:
        real = os.rename
        m.setattr(os, "rename", lambda *a: counted.append(a) or real(*a))
        replace_folder(dest, lambda f: write_exports(model, f, ["tflite"]), EXPORT_FILES)
        replace_folder(dest, lambda f: write_exports(model, f, ["tflite"]), EXPORT_FILES)
    renames = len(counted) - 1  # the second export's (the first had no folder to move)
    assert renames >= 2
    for k in range(1, renames + 1):
        with monkeypatch.context() as m:
            _kill_at(m, k, names=("rename",))
            with pytest.raises(Killed):
                replace_folder(dest, lambda f: write_exports(model, f, ["tflite"]),
                               EXPORT_FILES)
        rc, out, _ = lpr("predict", work["plate"], "--model", dest / "model.tflite")
        assert rc == 0 and out.startswith("皖A12345")
        replace_folder(dest, lambda f: write_exports(model, f, ["tflite"]), EXPORT_FILES)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]


@pytest.mark.slow
def test_a_huge_jpeg_is_decoded_shrunk(tmp_path):
    """A 12000x12000 JPEG is read at 1/8 scale while it is decoded (Image.draft)."""
    from PIL import Image

    from lpr_lib.predict import _read_rgb

    path = tmp_path / "huge.jpg"
    Image.new("L", (12000, 12000), 128).save(path, quality=50)
    probe = textwrap.dedent(f"""
        import json, resource, sys
        sys.path.insert(0, {str(ROOT)!r})
        from lpr_lib.predict import _read_rgb
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        shape = _read_rgb({str(path)!r}).shape
        print(json.dumps([list(shape),
                          (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024]))
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)
    shape, mb = json.loads(done.stdout.strip().splitlines()[-1])
    assert max(shape[:2]) <= 2000 and shape[2] == 3 and mb < 100, (shape, mb, done.stderr)
    assert _read_rgb(path).mean() == pytest.approx(128, abs=2)
