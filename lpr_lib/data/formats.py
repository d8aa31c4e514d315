"""Readers and writers for the plate formats the field uses, and the split by plate text.

Every reader yields :class:`Sample` objects (and, for the checker, :class:`Problem` records), so
that a dataset in any format becomes one list that the pipeline, the checker and the statistics
share. NumPy, Pillow and OpenCV only, TensorFlow is never imported here: TFRecord files, which
need it, are read by :mod:`lpr_lib.data.tfrecord`, and :func:`lpr_lib.data.load_samples`
(:mod:`lpr_lib.data.loading`) is the one entry point for every format.
"""
from __future__ import annotations

import csv
import io
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable, Iterator

import numpy as np

from lpr_lib.plates import (ABSENT, CHAR_TO_INDEX, DEFAULT_SIZE, MAX_LEN, PlateError,
                            labels_to_text, text_from_filename, text_to_labels, validate)
from lpr_lib.oserrors import os_reason  # noqa: F401  (here too: the formats' callers use it)
from lpr_lib.repro import DEFAULT_SEED

#: Image files the pipeline decodes with ``tf.io`` (the checker flags anything else).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".tfrec")
#: Size (H, W) a CCPD plate is cut out of its scene at when no size is asked for (``lpr check``,
#: ``lpr stats``, the figures): a plate crop at the library's default input size
#: (:data:`lpr_lib.plates.DEFAULT_SIZE`), so that warped and cropped plates look alike.
CCPD_WARP_SIZE = DEFAULT_SIZE

# CCPD's own lists (README of github.com/detectRecog/CCPD), reproduced exactly. The last entry of
# each, the letter "O", is CCPD's mark for "no character": Chinese plates never use O.
CCPD_PROVINCES = ("皖", "沪", "津", "渝", "冀", "晋", "蒙", "辽", "吉", "黑", "苏", "浙",
                  "京", "闽", "赣", "鲁", "豫", "鄂", "湘", "粤", "桂", "琼", "川", "贵",
                  "云", "藏", "陕", "甘", "青", "宁", "新", "警", "学", "O")
CCPD_ALPHABETS = ("A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "Q", "R",
                  "S", "T", "U", "V", "W", "X", "Y", "Z", "O")
CCPD_ADS = ("A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "Q", "R", "S",
            "T", "U", "V", "W", "X", "Y", "Z", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
            "O")
CCPD_NO_CHARACTER = "O"

#: Problem kinds; those in ``ERRORS`` make a dataset unusable, the rest are warnings.
ERRORS = frozenset({"missing-file", "bad-line", "unknown-character", "wrong-length",
                    "invalid-plate", "unreadable-image", "duplicate-entry", "conflicting-labels",
                    "bad-ccpd-name", "empty", "unreadable-file", "bad-encoding", "incomplete",
                    "outside-folder"})
#: Set to 1 to let ``labels.tsv`` name images outside its folder (absolute paths, ``..``)
ALLOW_OUTSIDE_ENV = "LPR_ALLOW_OUTSIDE_DATA"

#: ``lpr synth`` renders into ``<out>.tmp-<pid>`` beside its output folder, with this marker file
#: inside, and renames it to ``<out>`` only when every image and the label file are written: a
#: folder holding the marker, or named like that, is an interrupted run's, never a dataset.
INCOMPLETE_MARKER = ".lpr-incomplete"
PARTIAL_MARK = ".tmp-"
_PARTIAL_RE = re.compile(r"\.tmp(-\d+)?$")
#: the file ``lpr synth`` writes beside its ``labels.txt`` (true text, kind and label noise of
#: each image): a folder that has it was rendered, and every image in it must be labelled
SYNTH_META = "meta.tsv"


class DataError(ValueError):
    """A dataset that cannot be read as it is; the message names the file (and line)."""

    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset: what, where (file and 1-based line), and why."""

    kind: str
    file: str
    message: str
    line: int | None = None

    @property
    def severity(self) -> str:
        return "error" if self.kind in ERRORS else "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.kind}: {self.message}"


@dataclass(eq=False)
class Sample:
    """One plate image and its label.

    ``path`` is the image file (``None`` for images held in memory); ``format`` says which
    reader made the sample (``labelfile``, ``tsv``, ``filename``, ``ccpd``, ``tfrecord``,
    ``synthetic``); ``source`` is where the plate comes from when the dataset says so (the
    ``source`` column of ``labels.tsv``), else the format. CCPD samples carry the plate's
    ``box`` (x1, y1, x2, y2) and ``corners`` (4 x 2, clockwise from bottom-right) in the scene.
    """

    path: Path | None
    text: str
    labels: np.ndarray
    format: str
    source: str = ""
    where: str = ""  # the label's origin for messages, e.g. "labels.txt:12"
    box: tuple[int, int, int, int] | None = None
    corners: np.ndarray | None = None
    data: bytes | None = field(default=None, repr=False)  # encoded image (TFRecord)
    image: np.ndarray | None = field(default=None, repr=False)  # decoded uint8 RGB

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int32)
        if not self.source:
            self.source = self.format

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else self.where or self.text


# --------------------------------------------------------------------------- files and folders

def read_bytes(path, kind: str = "unreadable-file") -> bytes:
    """The bytes of ``path``; an ``OSError`` becomes a :class:`DataError` naming the file."""
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise DataError(Problem(kind, str(path), os_reason(err))) from None


def decode_text(data: bytes, path) -> str:
    """``data`` as UTF-8 text (a BOM is dropped); else a :class:`DataError` naming the file, the
    first bad byte, its offset and line."""
    bom = b"\xef\xbb\xbf"
    skip = len(bom) if data.startswith(bom) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as err:
        at = skip + err.start
        hint = ""
        try:
            data[skip:].decode("gb18030")
            hint = ", it looks like GBK/GB18030"
        except UnicodeDecodeError:
            pass
        line = data[:at].count(b"\n") + 1
        raise DataError(Problem("bad-encoding", str(path), f"not UTF-8 (byte 0x{data[at]:02x} at "
                                f"offset {at}{hint}); save it as UTF-8", line)) from None


def read_text(path) -> str:
    """A label file's text: UTF-8 (BOM tolerated); :class:`DataError` naming the file else."""
    return decode_text(read_bytes(path), path)


def _file_problem(path: Path) -> tuple[str, str] | None:
    """``(kind, reason)`` when ``path`` is not a readable-looking regular file, else ``None``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return "missing-file", f"broken symbolic link to {os.readlink(path)!r}"
        return "missing-file", "not found"
    except OSError as err:
        return "unreadable-file", os_reason(err)
    if not stat.S_ISREG(st.st_mode):
        return "missing-file", "is a folder, not a file" if stat.S_ISDIR(st.st_mode) \
            else "is not a regular file"
    return None


def scan_folder(folder: Path) -> tuple[list[Path], list[Problem]]:
    """The image files of ``folder`` (sorted, hidden files skipped) and the problems met on the
    way: a folder that cannot be listed, a symbolic-link loop, a broken link named like an image,
    entries that cannot be looked at. Nothing is skipped without a word."""
    folder = Path(folder)
    try:
        entries = sorted(folder.iterdir())
    except OSError as err:
        return [], [Problem("unreadable-file", str(folder),
                            f"cannot list the folder: {os_reason(err)}")]
    images, problems = [], []
    for p in entries:
        if p.name.startswith("."):
            continue
        is_image_name = p.suffix.lower() in IMAGE_SUFFIXES
        try:
            st = p.stat()
        except FileNotFoundError:
            if is_image_name:  # a link whose target is gone
                problems.append(Problem("missing-file", str(p), "broken symbolic link to "
                                        f"{os.readlink(p)!r}" if p.is_symlink() else "vanished"))
            continue
        except PermissionError:
            problems.append(Problem("unreadable-file", str(folder), "permission denied: the "
                                    "files in the folder cannot be looked at"))
            break
        except OSError as err:
            problems.append(Problem("unreadable-file", str(p), os_reason(err)))
            continue
        if is_image_name and stat.S_ISREG(st.st_mode):
            images.append(p)
    return images, problems


def incomplete_reason(folder) -> str | None:
    """Why ``folder`` is an unfinished ``lpr synth`` output (or another interrupted run's
    temporary folder), or ``None``."""
    folder = Path(folder)
    try:
        if not folder.is_dir():
            return None
        if (folder / INCOMPLETE_MARKER).exists():
            return ("a half-written folder: `lpr synth` was interrupted while rendering it "
                    f"(marker {INCOMPLETE_MARKER}); render it again")
        if _PARTIAL_RE.search(folder.name):
            return ("a temporary folder left by an interrupted run (named *.tmp*); it may be "
                    "incomplete: render it again, or rename it if you know it is whole")
        for name in ("labels.txt.tmp", "labels.tsv.tmp"):
            if (folder / name).exists():
                return f"{name} is left over: the label file was being written when the run stopped"
    except OSError:
        return None  # the readers report the folder itself
    return None


def partial_siblings(path) -> list[Path]:
    """Unfinished ``lpr synth`` outputs for ``path`` (``<path>.tmp-<pid>`` beside it)."""
    path = Path(path)
    try:
        return sorted(p for p in path.parent.glob(f"{glob_escape(path.name)}{PARTIAL_MARK}*")
                      if p.is_dir())
    except OSError:
        return []


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


# --------------------------------------------------------------------------- labels and problems

def label_problem(text: str, check: bool = True) -> tuple[str, str] | None:
    """Classify what is wrong with a plate text: ``(kind, message)``, or ``None`` when it is fine.

    With ``check=False`` only the alphabet and the length (1..8) are required; with
    ``check=True`` the text must also be a plate by the GA 36 rules (:func:`plates.validate`).
    """
    unknown = "".join(dict.fromkeys(c for c in text if c not in CHAR_TO_INDEX))
    if unknown:
        hint = " (plates never use I or O)" if set(unknown) & set("IO") else ""
        return ("unknown-character",
                f"{text!r} has character(s) {unknown!r} outside the alphabet{hint}")
    allowed = (7, 8) if check else range(1, MAX_LEN + 1)
    if len(text) not in allowed:
        return "wrong-length", f"{text!r} has {len(text)} characters, a plate has 7 or 8"
    if check:
        try:
            validate(text)
        except PlateError as err:
            return "invalid-plate", str(err)
    return None


def _sample_or_problem(text, check, file, line, **kw) -> Sample | Problem:
    bad = label_problem(text, check)
    if bad:
        return Problem(bad[0], str(file) if line else str(kw.get("path") or file), bad[1], line)
    return Sample(text=text, labels=text_to_labels(text, check=False), **kw)


# --------------------------------------------------------------------------- format detection

def _is_image(p: Path) -> bool:
    return p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES


def _images_in(folder: Path) -> list[Path]:
    return scan_folder(folder)[0]


def detect_format(source) -> str:
    """Name the format of a dataset path: ``labelfile``, ``tsv``, ``filename``, ``ccpd`` or
    ``tfrecord``. Raises :class:`FileNotFoundError` naming a path that does not exist, and
    :class:`DataError` naming one that cannot be read (permission denied, a symbolic-link
    loop)."""
    path = Path(source)
    try:
        return _detect_format(path)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise DataError(Problem("unreadable-file", str(path), os_reason(err))) from None


def _detect_format(path: Path) -> str:
    try:
        os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise FileNotFoundError(f"{path}: broken symbolic link to {os.readlink(path)!r}") \
                from None
        msg = f"{path}: no such file or folder"
        partial = partial_siblings(path)
        if partial:
            msg += (f"; {partial[0]} is an unfinished `lpr synth` output (interrupted), "
                    "not a dataset")
        raise FileNotFoundError(msg) from None
    if path.is_file():
        if path.suffix.lower() in TFRECORD_SUFFIXES:
            return "tfrecord"
        return "tsv" if path.suffix.lower() == ".tsv" else "labelfile"
    if (path / "labels.tsv").is_file():
        return "tsv"
    if (path / "labels.txt").is_file():
        return "labelfile"
    if any(p.suffix.lower() in TFRECORD_SUFFIXES for p in path.iterdir()):
        return "tfrecord"
    images = _images_in(path)
    if images and sum(_looks_like_ccpd(p.name) for p in images[:50]) > min(len(images), 50) / 2:
        return "ccpd"
    return "filename"


# --------------------------------------------------------------------------- the seed's label file

_LINE_RE = re.compile(r"^(?P<name>.+?)(?P<idx>(?:\s+-?\d+)+)\s*$")


def _label_file_entries(path: Path, check: bool) -> Iterator[Sample | Problem]:
    """``image_name idx idx ...`` per line; names relative to the label file's folder."""
    folder = path.parent
    try:
        lines = read_text(path).splitlines()  # tolerates a BOM
    except DataError as err:
        yield err.problem
        return
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE_RE.match(line)
        if not m:
            yield Problem("bad-line", str(path),
                          f"expected 'image_name idx idx ...', got {line!r}", n)
            continue
        idx = [int(t) for t in m["idx"].split()]
        if len(idx) > MAX_LEN:
            yield Problem("wrong-length", str(path), f"{len(idx)} indices, at most {MAX_LEN}", n)
            continue
        try:
            text = labels_to_text(idx + [ABSENT] * (MAX_LEN - len(idx)))
        except PlateError as err:
            yield Problem("unknown-character", str(path), str(err), n)
            continue
        image = folder / m["name"]
        if check:
            bad = _listed_problem(image, m["name"], folder, path, n)
            if bad:
                yield bad
                continue
        yield _sample_or_problem(text, check, path, n, path=image, format="labelfile",
                                 where=f"{path}:{n}")


def _listed_problem(image: Path, name: str, folder: Path, label_path: Path,
                    n: int) -> Problem | None:
    bad = _file_problem(image)
    if bad is None:
        return None
    kind, reason = bad
    if reason == "not found":
        return Problem(kind, str(label_path), f"image {name!r} not found in {folder}", n)
    return Problem(kind, str(label_path), f"image {name!r}: {reason}", n)


def write_label_file(samples: Iterable[Sample], path) -> Path:
    """Write samples in the seed's format (``name idx idx ...``, eight indices, -1 for absent).

    Image paths are written relative to the label file's folder where possible.
    """
    path = Path(path)
    lines = []
    for s in samples:
        if s.path is None:
            raise ValueError(f"sample {s.text!r} has no image file to name in {path}")
        try:
            name = s.path.resolve().relative_to(path.parent.resolve()).as_posix()
        except ValueError:
            name = str(s.path.resolve())
        lines.append(" ".join([name, *map(str, np.asarray(s.labels).tolist())]))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_label_file(path, check: bool = True) -> list[Sample]:
    """Read the seed's label file (see :func:`load_samples`)."""
    return collect_samples(_label_file_entries(Path(path), check))


# ----------------------------------------------------------------- labels.tsv, plate names

def _tsv_entries(path: Path, check: bool) -> Iterator[Sample | Problem]:
    folder = path.parent
    try:
        content = read_text(path)
    except DataError as err:
        yield err.problem
        return
    with io.StringIO(content, newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if not header or "file" not in header or "plate" not in header:
            yield Problem("bad-line", str(path), f"header must name 'file' and 'plate' columns, "
                          f"got {header!r}", 1)
            return
        col = {name: i for i, name in enumerate(header)}
        for n, row in enumerate(reader, 2):
            if not row or not "".join(row).strip():
                continue
            if len(row) < len(header):
                yield Problem("bad-line", str(path),
                              f"{len(row)} columns, expected {len(header)}", n)
                continue
            name, text = row[col["file"]].strip(), row[col["plate"]].strip()
            if _outside(name) and os.environ.get(ALLOW_OUTSIDE_ENV) != "1":
                yield Problem("outside-folder", str(path), f"image {name!r} lies outside "
                              f"{folder} (an absolute path, or one that climbs out with '..'); "
                              "a labels.tsv names images in its own folder: set "
                              f"{ALLOW_OUTSIDE_ENV}=1 to allow it", n)
                continue
            image = folder / name
            if check:
                bad = _listed_problem(image, name, folder, path, n)
                if bad:
                    yield bad
                    continue
            source = row[col["source"]].strip() if "source" in col else ""
            yield _sample_or_problem(text, check, path, n, path=image, format="tsv", source=source,
                                     where=f"{path}:{n}")


def _outside(name: str) -> bool:
    """Whether a file named in a label file lies outside its folder as written (absolute, or
    climbing out with ``..``); links inside the folder are the folder owner's choice."""
    from pathlib import PurePosixPath, PureWindowsPath

    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() \
            or PureWindowsPath(name).drive:
        return True
    depth = 0
    for part in re.split(r"[/\\]", name):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _filename_entries(folder: Path, check: bool) -> Iterator[Sample | Problem]:
    images, problems = scan_folder(folder)
    yield from problems
    if not images and not problems:
        yield Problem("empty", str(folder),
                      f"no images ({', '.join(IMAGE_SUFFIXES)}) in the folder")
    for image in images:
        try:
            text = text_from_filename(image.name)
        except PlateError as err:
            yield Problem("bad-line", str(image), str(err))
            continue
        yield _sample_or_problem(text, check, image, None, path=image, format="filename",
                                 where=image.name)


# --------------------------------------------------------------------------- CCPD

def _looks_like_ccpd(name: str) -> bool:
    return len(Path(name).stem.split("-")) == 7 and "&" in name


def _pairs(text: str, what: str, n: int, name: str) -> list[tuple[int, int]]:
    try:
        pts = [tuple(int(v) for v in p.split("&")) for p in text.split("_")]
    except ValueError:
        pts = []
    if len(pts) != n or any(len(p) != 2 for p in pts):
        raise PlateError(f"{name}: the {what} field {text!r} is not {n} x&y pairs joined by '_'")
    return pts


def parse_ccpd_name(name: str) -> dict:
    """Parse a CCPD file name into its fields.

    ``<area>-<tilt>-<x1&y1_x2&y2>-<4 corners x&y, clockwise from bottom-right>-<indices>-
    <brightness>-<blur>.jpg``. The first index is into :data:`CCPD_PROVINCES`, the second into
    :data:`CCPD_ALPHABETS`, the rest into :data:`CCPD_ADS` (7 indices; 8 for CCPD's green plates).
    Returns ``text``, ``box``, ``corners`` (4 x 2 float32), ``tilt``, ``area``, ``brightness``
    and ``blur``. Raises :class:`PlateError` naming the file and the field that is wrong, and for
    indices that map to CCPD's "no character" mark ``O``, which no plate of ours can hold.
    """
    base = Path(name).name
    fields = Path(base).stem.split("-")
    if len(fields) != 7:
        raise PlateError(f"{base}: a CCPD name has 7 fields separated by '-', found {len(fields)}")
    area, tilt, box, corners, idx, bright, blur = fields
    (x1, y1), (x2, y2) = _pairs(box, "box", 2, base)
    pts = _pairs(corners, "corners", 4, base)
    try:
        indices = [int(v) for v in idx.split("_")]
        tilt_hv = tuple(int(v) for v in tilt.split("_"))
    except ValueError:
        raise PlateError(f"{base}: the indices {idx!r} or tilt {tilt!r} are not integers") from None
    if len(indices) not in (7, 8):
        raise PlateError(f"{base}: {len(indices)} character indices, "
                         "CCPD has 7 (8 for green plates)")
    lists = [CCPD_PROVINCES, CCPD_ALPHABETS] + [CCPD_ADS] * (len(indices) - 2)
    chars = []
    for pos, (i, table) in enumerate(zip(indices, lists)):
        if not 0 <= i < len(table):
            raise PlateError(f"{base}: index {i} at position {pos} is outside CCPD's list "
                             f"of {len(table)}")
        if table[i] == CCPD_NO_CHARACTER:
            raise PlateError(f"{base}: index {i} at position {pos} is CCPD's 'no character' mark "
                             "'O'; the plate cannot be mapped to our alphabet")
        chars.append(table[i])
    return {"text": "".join(chars), "box": (x1, y1, x2, y2),
            "corners": np.asarray(pts, dtype=np.float32), "indices": indices,
            "area": area, "tilt": tilt_hv, "brightness": int(bright) if bright.isdigit() else None,
            "blur": int(blur) if blur.isdigit() else None}


def _ccpd_entries(folder: Path, check: bool) -> Iterator[Sample | Problem]:
    images, problems = scan_folder(folder)
    yield from problems
    if not images and not problems:
        yield Problem("empty", str(folder), "no CCPD images in the folder")
    for image in images:
        try:
            info = parse_ccpd_name(image.name)
        except PlateError as err:
            yield Problem("bad-ccpd-name", str(image), str(err).split(": ", 1)[-1])
            continue
        yield _sample_or_problem(info["text"], check, image, None, path=image, format="ccpd",
                                 source="ccpd", where=image.name, box=info["box"],
                                 corners=info["corners"])


def warp_plate(scene: np.ndarray, corners: np.ndarray, size=CCPD_WARP_SIZE) -> np.ndarray:
    """Perspective-warp the quadrilateral ``corners`` (clockwise from bottom-right, as CCPD
    gives them) out of ``scene`` into an upright ``size`` = (H, W) plate."""
    import cv2

    h, w = size
    dst = np.float32([[w - 1, h - 1], [0, h - 1], [0, 0], [w - 1, 0]])
    matrix = cv2.getPerspectiveTransform(np.asarray(corners, np.float32), dst)
    return cv2.warpPerspective(scene, matrix, (w, h), flags=cv2.INTER_AREA,
                               borderMode=cv2.BORDER_REPLICATE)


# --------------------------------------------------------------------------- images

_OBJECT_REPR = re.compile(r"\s*<[\w.]+ object at 0x[0-9a-fA-F]+>")


def error_text(err: BaseException) -> str:
    """An exception's message without Python object reprs (Pillow names the
    ``<_io.BytesIO object at 0x...>`` it read, not the file: the caller names the file)."""
    text = _OBJECT_REPR.sub("", str(err)).strip()
    return text or type(err).__name__


def decode_error(err: Exception) -> str:
    """Pillow's complaint about an image, in words that do not name a Python object."""
    from PIL import UnidentifiedImageError

    if isinstance(err, UnidentifiedImageError):
        return "cannot decode the image (not a JPEG, PNG, BMP or GIF file)"
    return f"cannot decode the image ({error_text(err)})"


#: The most pixels an image may have to be decoded whole. A plate crop has a few hundred
#: thousand; a JPEG above this is shrunk while it is decoded (``Image.draft``: its DCT read at
#: 1/2, 1/4 or 1/8 scale), any other format is refused before its pixels are read (a 12000 x
#: 12000 PNG of 140 KB would take gigabytes).
MAX_IMAGE_PIXELS = 40_000_000
#: Above this many pixels a decoded image is shrunk at once (``Image.reduce``, box averages)
#: to at most this many, before it is converted or resized: no plate crop needs more, and
#: the copies that follow stay small. Crops below it are read exactly as before.
REDUCE_ABOVE_PIXELS = 4_000_000


class ImageTooLarge(ValueError):
    """An image with more pixels than :data:`MAX_IMAGE_PIXELS` that cannot be shrunk while
    it is decoded; the message says its size (the caller names the file)."""


def _too_large(w: int, h: int) -> str:
    return (f"image is {w}x{h} pixels ({w * h / 1e6:.0f} megapixels), more than the "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels read whole: too large for a plate crop "
            "(crop or shrink it first)")


class _SizeJudgedHere:
    """Pillow's decompression-bomb warning and error off for a moment: the size is judged by
    :func:`decode_rgb` (which names the file and bounds the memory), not by a warning from
    inside Pillow that names neither."""

    def __enter__(self):
        import warnings

        from PIL import Image

        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        self._limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        return self

    def __exit__(self, *exc):
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = self._limit
        self._warnings.__exit__(*exc)
        return False


def open_image(fp):
    """``Image.open`` without Pillow's own size warning and limit (:func:`decode_rgb` judges
    the size, with a message that names it)."""
    from PIL import Image

    with _SizeJudgedHere():
        return Image.open(fp)


def decode_rgb(im) -> np.ndarray:
    """An opened Pillow image as uint8 RGB ``(H, W, 3)``, its memory bounded: a JPEG above
    :data:`MAX_IMAGE_PIXELS` is decoded at a reduced scale, any other image above it raises
    :class:`ImageTooLarge` before its pixels are read, and one above
    :data:`REDUCE_ABOVE_PIXELS` is shrunk as soon as it is decoded. Every mode is read as its
    pixels mean (:func:`to_rgb8`): a 16-bit PNG is not clipped to white."""
    import math

    w, h = im.size
    if w * h > REDUCE_ABOVE_PIXELS and im.format == "JPEG":
        scale = math.sqrt(w * h / REDUCE_ABOVE_PIXELS)
        im.draft(im.mode if im.mode in ("L", "RGB", "CMYK", "YCbCr") else "RGB",
                 (max(1, int(w / scale)), max(1, int(h / scale))))
        w, h = im.size  # the scale the decoder will use
    if w * h > MAX_IMAGE_PIXELS:
        raise ImageTooLarge(_too_large(*im.size))
    with _SizeJudgedHere():
        im.load()
    if w * h > REDUCE_ABOVE_PIXELS:
        im = im.reduce(math.ceil(math.sqrt(w * h / REDUCE_ABOVE_PIXELS)))
    return to_rgb8(im)


def to_rgb8(im) -> np.ndarray:
    """uint8 RGB ``(H, W, 3)`` of a decoded Pillow image of any mode. 16-bit greyscale
    (``I;16``: a 16-bit PNG) is scaled to 8 bits, as are 32-bit integer (``I``: scaled by
    1/257 when its values span 16 bits, by its own range when they go beyond) and float
    (``F``: 0..1 taken as the unit range, else its own range); Pillow's ``convert`` would clip
    them (a 16-bit plate reads white). Alpha is dropped; palette, CMYK, YCbCr, LAB and HSV
    go through ``convert``."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(im).astype(np.float64)
        low, high = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if mode.startswith("I;16") or (mode == "I" and 255 < high <= 65535 and low >= 0):
            a = a / 257.0
        elif mode == "F" and 0 <= low and high <= 1:
            a = a * 255.0
        elif low < 0 or high > 255:  # beyond any unit: its own range
            a = (a - low) * (255.0 / (high - low)) if high > low else np.zeros_like(a)
        grey = np.clip(np.rint(a), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if mode in ("La", "RGBa", "PA"):  # premultiplied or palette with alpha: via their base
        im = im.convert("RGBA")
    return np.asarray(im.convert("RGB"))


def _decode_bytes(data: bytes, what: str) -> np.ndarray:
    try:
        with open_image(io.BytesIO(data)) as im:
            return decode_rgb(im)
    except ImageTooLarge as err:
        raise DataError(Problem("unreadable-image", what, str(err))) from None
    except Exception as err:  # PIL raises many types for bad files
        raise DataError(Problem("unreadable-image", what, decode_error(err))) from None


def read_image(sample: Sample, size=None) -> np.ndarray:
    """The sample's image as uint8 RGB (H, W, 3).

    CCPD samples are perspective-warped out of their scene to ``size`` (default
    :data:`CCPD_WARP_SIZE`); other images are returned at their own size unless ``size`` is
    given. Raises :class:`DataError` naming the file when it is missing or cannot be decoded.
    """
    if sample.image is not None:
        image = np.asarray(sample.image, dtype=np.uint8)
    elif sample.data is not None:
        image = _decode_bytes(sample.data, sample.where or sample.text)
    else:
        bad = _file_problem(Path(sample.path)) if sample.path is not None else \
            ("missing-file", "not found")
        if bad:
            kind, reason = bad
            raise DataError(Problem(kind, str(sample.path), "image file not found"
                                    if reason == "not found" else reason))
        image = _decode_bytes(read_bytes(sample.path, "unreadable-image"), str(sample.path))
    if sample.format == "ccpd" and sample.corners is not None:
        return warp_plate(image, sample.corners, size or CCPD_WARP_SIZE)
    if size is not None and image.shape[:2] != tuple(size):
        import cv2

        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return image


# --------------------------------------------------------------------------- entries

def format_entries(path: Path, fmt: str, check: bool = True) -> Iterator[Sample | Problem]:
    """Every sample (and every problem found while parsing) of the dataset at ``path`` in one
    of the formats read here (``labelfile``, ``tsv``, ``ccpd``, ``filename``), in file order.
    TFRecord files are :mod:`lpr_lib.data.tfrecord`'s; :func:`lpr_lib.data.load_samples`
    reads every format."""
    if fmt == "labelfile":
        yield from _label_file_entries(path / "labels.txt" if path.is_dir() else path, check)
    elif fmt == "tsv":
        yield from _tsv_entries(path / "labels.tsv" if path.is_dir() else path, check)
    elif fmt == "ccpd":
        yield from _ccpd_entries(path, check)
    elif fmt == "filename":
        yield from _filename_entries(path, check)
    else:
        raise ValueError(f"{path}: format {fmt!r} is not read by lpr_lib.data.formats "
                         "(TFRecord files are read by lpr_lib.data.tfrecord)")


def collect_samples(entries: Iterable[Sample | Problem]) -> list[Sample]:
    """The samples of ``entries`` (a reader's), in order: the first error-level
    :class:`Problem` raises :class:`DataError`, warnings are passed over, and an image file
    listed twice (CCPD scenes aside) is a ``duplicate-entry`` error."""
    samples, seen = [], {}
    for e in entries:
        if isinstance(e, Problem):
            if e.severity == "error":
                raise DataError(e)
            continue
        if e.path is not None and e.format != "ccpd":
            key = Path(e.path).resolve()
            if key in seen:
                raise DataError(Problem("duplicate-entry", e.where, f"{e.path.name} is listed "
                                        f"twice (first at {seen[key]})"))
            seen[key] = e.where
        samples.append(e)
    return samples


# --------------------------------------------------------------------------- split

def split_by_plate(samples: list[Sample], val_fraction: float = 0.1,
                   seed: int = DEFAULT_SEED) -> tuple[list[Sample], list[Sample]]:
    """Split into (train, val) so that all crops of one plate text land on the same side.

    Whole plate texts are drawn in a seeded random order until the validation side holds
    at least ``val_fraction`` of the samples; both sides keep the input order. A split by file
    would put near-identical crops of one plate on both sides and flatter the validation score.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    groups: dict[str, int] = {}
    for s in samples:
        groups[s.text] = groups.get(s.text, 0) + 1
    order = np.random.default_rng(seed).permutation(sorted(groups))
    target, taken, val_texts = val_fraction * len(samples), 0, set()
    for text in order:
        if taken >= target:
            break
        val_texts.add(str(text))
        taken += groups[str(text)]
    train = [s for s in samples if s.text not in val_texts]
    val = [s for s in samples if s.text in val_texts]
    return train, val
