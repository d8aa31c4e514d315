"""The plate generator: text -> clean plate -> crop -> degraded image, and ``generate``.

``PlateGenerator(config, seed)`` draws one plate per :meth:`~PlateGenerator.sample`
from its own NumPy Generator (no global state), so it can feed ``tf.data`` through a
Python generator. :func:`generate` writes a folder of JPEGs and a label file; image
``i`` depends only on ``(seed, i)``, so the output is the same for any worker count.
It renders into a temporary folder beside the output and renames it into place only when
complete, so that an interrupted run never leaves a folder that looks like a dataset.
"""
from __future__ import annotations

import contextlib
import errno
import multiprocessing as mp
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator, Sequence

import cv2
import numpy as np

from lpr_lib.data.formats import INCOMPLETE_MARKER, PARTIAL_MARK
from lpr_lib.plates import (DEFAULT_SIZE, DIGITS, KINDS, LETTERS, PROVINCES, PlateError, is_valid,
                            sample_text, text_to_labels)
from lpr_lib.repro import DEFAULT_SEED
from lpr_lib.synth import degrade
from lpr_lib.synth.config import SynthConfig
from lpr_lib.synth.render import layout_for, render_plate

LABEL_FILE = "labels.txt"
META_FILE = "meta.tsv"


@dataclass
class SyntheticPlate:
    """One synthetic plate: the image, the label written for it, and what is true."""

    image: np.ndarray  # uint8 (H, W, 3) RGB
    label: str  # the text written to the label file (noisy when noise != "")
    text: str  # the text actually drawn
    kind: str
    noise: str = ""  # "", "substitute" or "truncate"


def _substitute(text: str, rng: np.random.Generator, kind: str | None = None) -> str:
    """Replace one character by another of the same class (the label stays a valid plate of
    ``kind``: the 粤 of a Hong Kong/Macao plate is never replaced, for instance)."""
    for _ in range(20):
        i = int(rng.integers(len(text)))
        c = text[i]
        pool = next((p for p in (DIGITS, LETTERS, PROVINCES) if c in p), None)
        if pool is None or (i == 1 and text[0] == "粤" and text[1] == "Z"):
            continue
        if i == 2 and len(text) == 8 and c in "DF":
            pool = ("D", "F")
        if len(text) == 8 and i == 7 and c in "DF":
            pool = ("D", "F")
        new = text[:i] + pool[(pool.index(c) + 1 + int(rng.integers(len(pool) - 1))) % len(pool)] \
            + text[i + 1:]
        if is_valid(new, kind):
            return new
    return text  # pragma: no cover - every plate has a digit or letter


class PlateGenerator:
    """Draws synthetic plates following ``config`` (a :class:`SynthConfig`).

    >>> gen = PlateGenerator(SynthConfig(), seed=0)
    >>> image, text = gen.sample()      # uint8 (48, 144, 3), e.g. '苏E1500Q'
    """

    def __init__(self, config: SynthConfig | None = None, seed: int | None = DEFAULT_SEED):
        self.config = config or SynthConfig()
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._kinds, self._kind_p = self.config.kind_p()
        self._province_p = self.config.province_p()

    # --- public API ----------------------------------------------------------------------
    def sample(self) -> tuple[np.ndarray, str]:
        """One ``(image, label_text)`` pair from the generator's own random stream."""
        s = self.sample_record(self.rng)
        return s.image, s.label

    def stream(self, n: int | None = None) -> Iterator[tuple[np.ndarray, str]]:
        """``n`` pairs (forever when ``n`` is None)."""
        i = 0
        while n is None or i < n:
            yield self.sample()
            i += 1

    def sample_at(self, index: int) -> SyntheticPlate:
        """The plate number ``index`` of this seed: depends only on ``(seed, index)``."""
        seed = DEFAULT_SEED if self.seed is None else self.seed
        return self.sample_record(np.random.default_rng([int(seed), int(index)]))

    def sample_record(self, rng: np.random.Generator, kind: str | None = None,
                      text: str | None = None) -> SyntheticPlate:
        """A full :class:`SyntheticPlate` drawn with ``rng`` (``kind``/``text`` fix them)."""
        cfg = self.config
        if kind is None:
            kind = self._kinds[int(rng.choice(len(self._kinds), p=self._kind_p))]
        if text is None:
            text = sample_text(kind, rng, self._province_p)
        noise = ""
        if cfg.label_noise > 0 and rng.random() < cfg.label_noise:
            noise = "truncate" if rng.random() < cfg.label_noise_truncate else "substitute"
        label = _substitute(text, rng, kind) if noise == "substitute" else text
        image = self.render(text, kind, rng, truncate_char=(noise == "truncate"))
        return SyntheticPlate(image, label, text, kind, noise)

    def render(self, text: str, kind: str, rng: np.random.Generator,
               truncate_char: bool = False) -> np.ndarray:
        """Draw ``text`` as a ``kind`` plate with the config's degradations: uint8 RGB."""
        if kind not in KINDS:
            raise PlateError(f"unknown plate kind {kind!r}; known kinds: {', '.join(KINDS)}")
        H, W = self.config.size
        d = self.config.degradations

        def on(name):  # draw whether a degradation applies and return its strength (0 = off)
            x = d[name]
            return x.strength if (x.p > 0 and rng.random() < x.p) else 0.0

        w_mm = layout_for(kind).size_mm[0]
        scale = max(0.5, 2.0 * W / w_mm)  # render at ~2x the output, then downsample
        style = self.config.lettering.draw(rng)
        plate, alpha = render_plate(text, kind, scale, rng, dirt=on("dirt"), style=style)
        trunc = 0.0
        if truncate_char:  # label noise: cut through a character (the label keeps it)
            trunc = rng.uniform(0.08, 0.14)
        else:
            t = on("truncation")
            if t > 0:
                trunc = rng.uniform(0.02, 0.14 * t)
        canvas_hw = (2 * H, 2 * W)
        img = degrade.place(plate, alpha, canvas_hw, rng, perspective=on("perspective"),
                            rotation=on("rotation"), jitter=on("crop_jitter"), truncate=trunc,
                            tight=self.config.tight_crops)
        for name, fn in degrade.PHOTOMETRIC:
            s = on(name)
            if s > 0:
                img = fn(img, s, rng)
        img = cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)
        s = on("low_res")
        if s > 0:
            img = degrade.low_res(img, s, rng)
        return np.ascontiguousarray(degrade.finish(img, on, rng))

    def render_clean(self, text: str, kind: str | None = None, seed: int = 0) -> np.ndarray:
        """``text`` without any degradation, framed exactly (for figures)."""
        from lpr_lib.plates import infer_kind
        from lpr_lib.synth.config import no_degradations

        kind = kind or infer_kind(text)
        clean = PlateGenerator(SynthConfig(size=self.config.size, degradations=no_degradations()))
        return clean.render(text, kind, np.random.default_rng(seed))


# --- writing a dataset -------------------------------------------------------------------
def _label_line(name: str, label: str) -> str:
    idx = text_to_labels(label, check=False)
    return name + " " + " ".join(str(int(v)) for v in idx)


def _work(args) -> list[tuple[int, str, str]]:
    """Render and write images ``start..stop``; return (index, label line, meta line).

    ``parent`` is the pid of the process that started this worker (``None`` when run in that
    process): once it has died (its children are handed to another parent), the worker stops
    at the next plate instead of rendering on into a folder nobody will finish."""
    config_dict, seed, start, stop, out_dir, width, parent = args
    gen = PlateGenerator(SynthConfig.from_dict(config_dict), seed)
    out = []
    for i in range(start, stop):
        if parent is not None and os.getppid() != parent:
            os._exit(1)  # the parent was killed: nobody will collect or finish this work
        s = gen.sample_at(i)
        name = f"{s.label}_{i:0{width}d}.jpg"
        ok, buf = cv2.imencode(".jpg", s.image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:  # pragma: no cover
            raise OSError(f"{out_dir}/{name}: JPEG encoding failed")
        (Path(out_dir) / name).write_bytes(buf.tobytes())
        meta = f"{name}\t{s.label}\t{s.text}\t{s.kind}\t{s.noise}"
        out.append((i, _label_line(name, s.label), meta))
    return out


def _context():
    # fork is fastest; after TensorFlow has started its threads, fork is unsafe
    if sys.platform.startswith("linux") and "tensorflow" not in sys.modules:
        return mp.get_context("fork")
    return mp.get_context("spawn")


#: what a folder that :func:`generate` may replace holds (nothing else: a folder with other
#: files in it is never deleted, even with ``overwrite``)
_OWN_FILES = {LABEL_FILE, META_FILE, LABEL_FILE + ".tmp", INCOMPLETE_MARKER}


def _foreign_entries(folder: Path) -> list[str]:
    """Entries of ``folder`` that :func:`generate` does not write."""
    return sorted(p.name for p in folder.iterdir()
                  if not (p.name in _OWN_FILES or (p.suffix == ".jpg" and p.is_file()
                                                   and not p.is_symlink())))


def _check_target(out_dir: Path, overwrite: bool) -> None:
    """Raise :class:`FileExistsError` unless ``out_dir`` is absent, empty, or (with
    ``overwrite``) a folder that holds only what :func:`generate` writes."""
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a folder: choose another folder")
    if not any(out_dir.iterdir()):
        return
    if not overwrite:
        label_path = out_dir / LABEL_FILE
        if label_path.exists():
            raise FileExistsError(f"{label_path} exists: choose another folder or pass overwrite")
        raise FileExistsError(f"{out_dir} exists and is not empty: choose another folder or pass "
                              "overwrite")
    foreign = _foreign_entries(out_dir)
    if foreign:
        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise FileExistsError(f"{out_dir} holds files that lpr synth did not write ({shown}); "
                              "it is not replaced: choose another folder")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, another user's
        return True
    return True


def _remove_stale_partials(out_dir: Path) -> None:
    """Delete ``<out_dir>.tmp-<pid>`` folders of runs that were killed (their process is gone)."""
    pattern = re.compile(re.escape(out_dir.name + PARTIAL_MARK) + r"(\d+)$")
    with contextlib.suppress(OSError):
        for p in out_dir.parent.iterdir():
            m = pattern.match(p.name)
            if (m and int(m[1]) != os.getpid() and p.is_dir() and not p.is_symlink()
                    and (p / INCOMPLETE_MARKER).exists() and not _pid_alive(int(m[1]))):
                shutil.rmtree(p, ignore_errors=True)


def _install(tmp_dir: Path, out_dir: Path, overwrite: bool) -> None:
    """Rename the finished ``tmp_dir`` to ``out_dir``; with ``overwrite`` an existing
    ``out_dir`` is replaced whole (no image of the old set stays beside the new ones)."""
    with contextlib.suppress(OSError):
        out_dir.rmdir()  # an empty folder (the target of the rename must not exist)
    try:
        os.rename(tmp_dir, out_dir)
        return
    except OSError as err:
        if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    _check_target(out_dir, overwrite)  # someone wrote it while we rendered
    old = out_dir.with_name(f"{out_dir.name}.old-{os.getpid()}")
    os.rename(out_dir, old)
    try:
        os.rename(tmp_dir, out_dir)
    except OSError:
        os.rename(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def generate(count: int, out_dir, seed: int | None = None, kinds: Sequence[str] | None = None,
             size: tuple[int, int] = DEFAULT_SIZE, workers: int | None = None,
             config: SynthConfig | None = None, progress: bool = True,
             overwrite: bool = False) -> Path:
    """Render ``count`` plates into ``out_dir`` and write their label file; return its path.

    Images are ``<label>_<index>.jpg``; ``labels.txt`` holds one line per image in the
    seed's format (``name.jpg idx idx ... -1``, 8 class indices, -1 for absent) and
    ``meta.tsv`` the true text, kind and label-noise mode of each. ``kinds`` restricts the
    kind mix to those kinds (keeping their relative weights); ``size`` overrides the
    config's. The result depends only on ``seed`` and the config, not on ``workers``.

    Everything is rendered into ``<out_dir>.tmp-<pid>`` (with a marker file that ``lpr check``
    recognises) and renamed to ``out_dir`` when complete: an interrupted run leaves that
    temporary folder, never a half-written ``out_dir`` (the next run deletes it), and worker
    processes stop when the process that started them dies. An existing, non-empty
    ``out_dir`` is replaced only with ``overwrite=True``, and then whole (no stale images stay),
    and only when it holds nothing but what this function writes.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    config = SynthConfig.from_dict(config.to_dict()) if config else SynthConfig()
    if kinds:
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise PlateError(f"unknown plate kind(s) {unknown}; known kinds: {', '.join(KINDS)}")
        config.kinds = {k: config.kinds.get(k, 0.0) or 1.0 for k in kinds}
    config.size = tuple(size) if size else config.size
    config = SynthConfig.from_dict(config.to_dict())  # validate the edits
    seed = DEFAULT_SEED if seed is None else int(seed)
    label_path = Path(out_dir) / LABEL_FILE
    out_dir = Path(os.path.abspath(out_dir))  # "." has a name to put beside it, too
    _check_target(out_dir, overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(out_dir)
    tmp_dir = out_dir.with_name(f"{out_dir.name}{PARTIAL_MARK}{os.getpid()}")
    if tmp_dir.exists():  # this process's own earlier, failed attempt
        shutil.rmtree(tmp_dir)
    tmp_dir.mkdir()
    try:
        (tmp_dir / INCOMPLETE_MARKER).write_text(
            f"lpr synth (pid {os.getpid()}) is rendering {count} plates for {out_dir.name}; this "
            "folder is incomplete until it is renamed to that name\n", encoding="utf-8")
        _render(count, tmp_dir, out_dir, seed, config, workers, progress)
        (tmp_dir / INCOMPLETE_MARKER).unlink()
        _install(tmp_dir, out_dir, overwrite)
    except BaseException as err:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        if isinstance(err, OSError) and err.errno in _NO_ROOM:
            raise OSError(err.errno, f"{out_dir}: {os.strerror(err.errno).lower()} while "
                          f"rendering {count} plates ({out_dir} is as it was; the partial "
                          "folder was removed)") from err
        raise
    return label_path


#: the errors of a write that failed for want of room, quota or a writable disk
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)


def _render(count: int, tmp_dir: Path, out_dir: Path, seed: int, config: SynthConfig,
            workers: int | None, progress: bool) -> None:
    """Render every image and write the label and meta files, all into ``tmp_dir``."""
    width = max(6, len(str(count - 1)))
    workers = max(1, min(workers or os.cpu_count() or 1, count))
    chunk = max(1, min(256, -(-count // (workers * 4))))
    parent = None if workers == 1 else os.getpid()
    jobs = [(config.to_dict(), seed, a, min(count, a + chunk), str(tmp_dir), width, parent)
            for a in range(0, count, chunk)]
    from tqdm.auto import tqdm

    results: list[tuple[int, str, str]] = []
    bar = tqdm(total=count, desc=f"synth -> {out_dir}", unit="plate", disable=not progress)
    if workers == 1:
        for job in jobs:
            results += _work(job)
            bar.update(job[3] - job[2])
    else:
        with _context().Pool(workers) as pool:
            for part in pool.imap_unordered(_work, jobs):
                results += part
                bar.update(len(part))
    bar.close()
    results.sort()
    (tmp_dir / LABEL_FILE).write_text("".join(r[1] + "\n" for r in results), encoding="utf-8")
    (tmp_dir / META_FILE).write_text("file\tlabel\ttext\tkind\tnoise\n"
                                     + "".join(r[2] + "\n" for r in results), encoding="utf-8")
