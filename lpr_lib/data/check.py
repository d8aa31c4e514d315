"""``lpr check``: everything wrong with a dataset, at once, before training starts.

The readers stop at the first problem (:class:`DataError`); the checker goes on and lists every
missing or unreadable image, unknown character, wrong-length or impossible label, file listed
twice, and image that occurs twice (the same bytes), with file names and line numbers.
"""
from __future__ import annotations

import hashlib
import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from lpr_lib.data.formats import (SYNTH_META, DataError, Problem, Sample, decode_error,
                                  os_reason, scan_folder)
from lpr_lib.data.loading import iter_entries

#: Image formats ``tf.io.decode_image`` reads (what Pillow calls them).
TF_FORMATS = {"JPEG", "PNG", "BMP", "GIF"}

__all__ = ["CheckReport", "Problem", "check_dataset", "check_image", "cli_check"]

#: printed (and exit status 1) when a dataset has errors
NOT_USABLE = "NOT USABLE: fix the errors above before training on this data"


@dataclass
class CheckReport:
    """What :func:`check_dataset` found: the usable samples and every problem."""

    source: str
    samples: list[Sample] = field(default_factory=list, repr=False)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when nothing would stop or mislead training (warnings allowed)."""
        return not self.errors

    def counts(self) -> dict[str, int]:
        return dict(Counter(p.kind for p in self.problems))

    def to_dict(self) -> dict:
        return {"source": self.source, "samples": len(self.samples), "ok": self.ok,
                "counts": self.counts(),
                "problems": [{"kind": p.kind, "severity": p.severity, "file": p.file,
                              "line": p.line, "message": p.message} for p in self.problems]}

    def __str__(self) -> str:
        head = (f"{self.source}: {len(self.samples)} usable samples, {len(self.errors)} error(s), "
                f"{len(self.warnings)} warning(s)")
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(self.counts().items()))
        lines = [head + (f" ({kinds})" if kinds else "")]
        lines += [f"  {p.severity:<7} {p}" for p in self.problems]
        return "\n".join(lines)


def check_image(data: bytes, name: str) -> Problem | None:
    """A problem when ``data`` is no image that ``tf.io`` can decode, else ``None``."""
    from lpr_lib.data.formats import MAX_IMAGE_PIXELS, _too_large, open_image

    try:
        with open_image(io.BytesIO(data)) as im:
            fmt = im.format
            size = im.size
            if size[0] * size[1] > MAX_IMAGE_PIXELS and fmt == "JPEG":  # read at 1/8 scale
                im.draft(im.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
            if im.size[0] * im.size[1] > MAX_IMAGE_PIXELS:
                return Problem("unreadable-image", name, _too_large(*size))
            im.load()  # decodes fully (a JPEG at a reduced scale): catches truncated files
    except Exception as err:  # Pillow raises OSError, SyntaxError, ValueError...
        return Problem("unreadable-image", name, decode_error(err))
    if fmt not in TF_FORMATS:
        return Problem("unreadable-image", name, f"{fmt} images are not decoded by tf.io "
                       "(convert to JPEG or PNG)")
    if min(size) < 4:
        return Problem("unreadable-image", name, f"image is only {size[0]}x{size[1]} pixels")
    return None


def check_dataset(source, check_images: bool = True) -> CheckReport:
    """Check a dataset (any format :func:`load_samples` reads, or several); never raises for
    problems in the data, only for a path that does not exist (:class:`FileNotFoundError`).
    ``report.samples`` are the usable samples: ``lpr stats`` counts exactly those, so that the
    two commands apply the same rules.

    Files, folders and links that cannot be read (permission denied, a symbolic-link loop, a
    label file that is not UTF-8) are problems naming their path. A folder that an interrupted
    ``lpr synth`` left (``incomplete``) is an error, and so is an image in a rendered folder
    (one with ``meta.tsv``) that its ``labels.txt`` does not list.

    Besides the readers' checks it decodes every image and hashes its bytes: the same image
    under two names is a warning (``duplicate-image``) when the labels agree and an error
    (``conflicting-labels``) when they do not; one file listed twice is ``duplicate-entry``.
    For a ``labels.tsv`` whose file names start with a plate text it also warns when the name
    and the label disagree (``name-mismatch``), and it warns about images in a labelled
    folder that no label lists (``unlisted-image``).
    """
    sources = source if isinstance(source, (list, tuple)) else [source]
    report = CheckReport(source=", ".join(str(s) for s in sources))
    by_hash: dict[str, list[Sample]] = defaultdict(list)
    texts_by_source: dict[str, set[str]] = {}
    for src in sources:
        before = len(report.samples)
        _check_one(Path(src), report, check_images, by_hash)
        texts_by_source[str(src)] = {s.text for s in report.samples[before:]}
    for group in by_hash.values():
        if len(group) < 2:
            continue
        texts = sorted({s.text for s in group})
        where = ", ".join(f"{s.name} ({s.text})" for s in group)
        if len(texts) > 1:
            report.problems.append(Problem("conflicting-labels", group[0].where,
                                           f"one image, different labels: {where}"))
        else:
            report.problems.append(Problem("duplicate-image", group[0].where,
                                           f"the same image {len(group)} times: {where}"))
    names = list(texts_by_source)
    for i, a in enumerate(names):  # plates in two datasets: a leak if one is the test set
        for b in names[i + 1:]:
            shared = sorted(texts_by_source[a] & texts_by_source[b])
            if shared:
                report.problems.append(Problem(
                    "shared-plate", f"{a} + {b}", f"{len(shared)} plate(s) occur in both: "
                    + " ".join(shared[:20]) + (" ..." if len(shared) > 20 else "")))
    return report


def _check_one(path: Path, report: CheckReport, check_images: bool, by_hash: dict) -> None:
    listed: dict[Path, str] = {}
    samples, errors = len(report.samples), len(report.errors)
    try:
        _check_entries(path, report, check_images, by_hash, listed)
    except DataError as err:  # the dataset path itself cannot be read
        report.problems.append(err.problem)
        return
    if len(report.samples) == samples and len(report.errors) == errors:
        # a label file with its header alone, a list of comments: nothing to train on
        report.problems.append(Problem("empty", str(path), "no samples: the dataset lists "
                                       "no image (a label file with no entries?)"))
    try:
        tsv = path.is_dir() and (path / "labels.tsv").is_file()
        txt = path.is_dir() and not tsv and (path / "labels.txt").is_file()
        # a folder `lpr synth` wrote (read by its labels.txt): every image in it is listed
        rendered = txt and (path / SYNTH_META).is_file()
    except OSError:
        tsv = txt = rendered = False
    if tsv or txt:
        images, problems = scan_folder(path)
        report.problems.extend(problems)
        unlisted = [p for p in images if p.resolve() not in listed]
        for p in unlisted:
            if rendered:  # lpr synth lists every image it renders
                report.problems.append(Problem(
                    "incomplete", str(p), f"{path.name} was rendered by `lpr synth` but its "
                    "labels.txt does not list this image (left from another run?)"))
            else:
                report.problems.append(Problem("unlisted-image", str(p),
                                               "no label lists this image"))


def _check_entries(path: Path, report: CheckReport, check_images: bool, by_hash: dict,
                   listed: dict) -> None:
    from lpr_lib.plates import is_valid, text_from_filename

    for entry in iter_entries(path, check=True):
        if isinstance(entry, Problem):
            report.problems.append(entry)
            continue
        s = entry
        if s.path is not None:
            key = s.path.resolve()
            if key in listed and s.format != "ccpd":
                report.problems.append(Problem("duplicate-entry", s.where, f"{s.path.name} is "
                                               f"listed twice (first at {listed[key]})"))
                continue
            listed[key] = s.where
            name = str(s.path)
            try:
                data = s.path.read_bytes()
            except OSError as err:
                report.problems.append(Problem("unreadable-image", name, os_reason(err)))
                continue
        else:
            data, name = s.data or b"", s.where
        if check_images:
            bad = check_image(data, name)
            if bad:
                report.problems.append(bad)
                continue
        if s.format == "tsv" and s.path is not None:
            try:
                prefix = text_from_filename(s.path.name)
            except ValueError:
                prefix = ""
            if is_valid(prefix) and prefix != s.text:
                report.problems.append(Problem("name-mismatch", s.where, f"file {s.path.name} "
                                               f"is named for {prefix} but labelled {s.text}"))
        by_hash[hashlib.blake2b(data, digest_size=16).hexdigest()].append(s)
        report.samples.append(s)


def cli_check(args) -> int:
    """``lpr check DATA...``: print the report (or JSON); exit 1 when errors were found (with
    ``--strict``, when anything at all was found)."""
    report = check_dataset(args.data)
    strict = getattr(args, "strict", False)
    failed = bool(report.problems) if strict else not report.ok
    if getattr(args, "json", False):
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(report)
        if not failed:
            print("OK: the data can be used for training")
        elif not report.ok:
            print(NOT_USABLE)
    return 1 if failed else 0
