"""Plate alphabets, plate kinds, and text <-> per-position labels.

A plate is read as a fixed number of character positions (``MAX_LEN`` = 8, the
new-energy length). Every position shares one alphabet, ``CHARS``; a label is a
vector of 8 class indices into it, with ``-1`` where a position is absent (a
7-character plate has no 8th character). This is the seed's label format.

The plate rules follow GA 36-2018 (the Chinese standard for motor-vehicle plates)
as far as a recogniser needs them: which characters may stand at which position
for each kind of plate.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

#: The 31 province-level abbreviations, in the order CCPD and the seed use.
PROVINCES = (
    "皖", "沪", "津", "渝", "冀", "晋", "蒙", "辽", "吉", "黑", "苏", "浙", "京", "闽", "赣",
    "鲁", "豫", "鄂", "湘", "粤", "桂", "琼", "川", "贵", "云", "藏", "陕", "甘", "青", "宁", "新",
)
#: Latin letters used on plates: I and O are never used (they read as 1 and 0).
LETTERS = tuple("ABCDEFGHJKLMNPQRSTUVWXYZ")
DIGITS = tuple("0123456789")
#: Characters that end (or, for 使, start) special plates.
SPECIALS = ("警", "学", "挂", "港", "澳", "使", "领", "试", "超")

#: The shared alphabet of every head: provinces, digits, letters, specials.
CHARS = PROVINCES + DIGITS + LETTERS + SPECIALS
NUM_CLASSES = len(CHARS)
CHAR_TO_INDEX = {c: i for i, c in enumerate(CHARS)}
#: Number of character positions (heads) of the model.
MAX_LEN = 8
ABSENT = -1

_ALNUM = set(LETTERS) | set(DIGITS)
_NEW_ENERGY_LETTERS = {"D", "F"}


class PlateError(ValueError):
    """A plate text or label that cannot be a Chinese licence plate."""


@dataclass(frozen=True)
class PlateKind:
    """One kind of plate: its colour scheme, geometry and character rule."""

    name: str
    length: int
    colour: str  # background colour name
    text_colour: str
    rows: int  # 1 or 2
    size_mm: tuple[int, int]  # (width, height) in millimetres, GA 36
    description: str


KINDS: dict[str, PlateKind] = {
    k.name: k
    for k in (
        PlateKind("blue", 7, "blue", "white", 1, (440, 140), "small car (blue, 7 characters)"),
        PlateKind("yellow", 7, "yellow", "black", 1, (440, 140), "large vehicle, front (yellow)"),
        PlateKind("yellow_double", 7, "yellow", "black", 2, (440, 220),
                  "large vehicle, rear (yellow, two rows)"),
        PlateKind("green_small", 8, "green_gradient", "black", 1, (480, 140),
                  "new-energy small car (D/F third)"),
        PlateKind("green_large", 8, "green_yellow", "black", 1, (480, 140),
                  "new-energy large vehicle (D/F last)"),
        PlateKind("police", 7, "white", "black", 1, (440, 140), "police (white, red 警)"),
        PlateKind("hk_macao", 7, "black", "white", 1, (440, 140), "Hong Kong / Macao (粤Z....港/澳)"),
        PlateKind("learner", 7, "yellow", "black", 1, (440, 140), "learner car (学)"),
        PlateKind("trailer", 7, "yellow", "black", 2, (440, 220), "trailer (挂, two rows)"),
        PlateKind("embassy", 7, "black", "white", 1, (440, 140), "embassy (使 + 6 digits)"),
        PlateKind("consulate", 7, "black", "white", 1, (440, 140), "consulate (领)"),
    )
}


def _is_alnum(s: str) -> bool:
    return all(c in _ALNUM for c in s)


def _is_digits(s: str) -> bool:
    return all(c in DIGITS for c in s)


def infer_kind(text: str) -> str:
    """Name the plate kind a text belongs to (colour-ambiguous 7-character
    plates, blue or yellow, are reported as ``"blue"``).

    Raises :class:`PlateError` with the reason when the text is no plate.
    """
    validate(text)
    if text[0] == "使":
        return "embassy"
    last = text[-1]
    if len(text) == 8:
        return "green_small" if text[2] in _NEW_ENERGY_LETTERS else "green_large"
    return {"警": "police", "学": "learner", "挂": "trailer", "领": "consulate",
            "港": "hk_macao", "澳": "hk_macao"}.get(last, "blue")


def validate(text: str) -> str:
    """Check that ``text`` can be a Chinese plate; return it unchanged.

    Raises :class:`PlateError` naming the problem (unknown character, wrong length,
    a character in a position where plates never have it).
    """
    if not isinstance(text, str):
        raise PlateError(f"plate text must be a string, got {type(text).__name__}")
    unknown = [c for c in text if c not in CHAR_TO_INDEX]
    if unknown:
        hint = ""
        if any(c in "IO" for c in unknown):
            hint = " (plates never use the letters I and O)"
        raise PlateError(f"{text!r}: unknown character(s) {''.join(unknown)!r}{hint}")
    if len(text) not in (7, 8):
        raise PlateError(f"{text!r}: a plate has 7 or 8 characters, not {len(text)}")
    if text[0] == "使":
        if len(text) != 7 or not _is_digits(text[1:]):
            raise PlateError(f"{text!r}: an embassy plate is 使 followed by 6 digits")
        return text
    if text[0] not in PROVINCES:
        raise PlateError(f"{text!r}: the first character must be a province, not {text[0]!r}")
    if text[1] not in LETTERS:
        raise PlateError(f"{text!r}: the second character must be a letter, not {text[1]!r}")
    body = text[2:]
    if len(text) == 8:
        if body[0] in _NEW_ENERGY_LETTERS:  # small new-energy car: D/F, letter-or-digit, 4 digits
            if not (_is_alnum(body[1]) and _is_digits(body[2:])):
                raise PlateError(
                    f"{text!r}: a small new-energy plate is D/F, a letter or digit, then 4 digits")
        elif body[-1] in _NEW_ENERGY_LETTERS:  # large new-energy vehicle: 5 digits then D/F
            if not _is_digits(body[:-1]):
                raise PlateError(f"{text!r}: a large new-energy plate is 5 digits then D/F")
        else:
            raise PlateError(
                f"{text!r}: an 8-character plate is new-energy and needs D or F "
                "in the third or the last position")
        return text
    last = body[-1]
    if last in ("港", "澳"):
        if text[:2] != "粤Z" or not _is_alnum(body[:-1]):
            raise PlateError(f"{text!r}: Hong Kong/Macao plates are 粤Z, 4 letters/digits, 港/澳")
    elif last in SPECIALS:
        if not _is_alnum(body[:-1]):
            raise PlateError(f"{text!r}: 4 letters/digits must precede {last!r}")
    elif not _is_alnum(body):
        bad = [c for c in body if c not in _ALNUM]
        raise PlateError(f"{text!r}: {''.join(bad)!r} cannot stand after the second character")
    return text


def is_valid(text: str) -> bool:
    """True when :func:`validate` accepts ``text``."""
    try:
        validate(text)
    except PlateError:
        return False
    return True


def text_to_labels(text: str, check: bool = True) -> np.ndarray:
    """Encode a plate text as ``MAX_LEN`` class indices, ``-1`` for absent positions.

    With ``check=False`` only the alphabet and length are checked (for noisy data
    that should still load, such as a deliberately corrupted label).
    """
    if check:
        validate(text)
    else:
        unknown = [c for c in text if c not in CHAR_TO_INDEX]
        if unknown:
            raise PlateError(f"{text!r}: unknown character(s) {''.join(unknown)!r}")
        if not 1 <= len(text) <= MAX_LEN:
            raise PlateError(f"{text!r}: length {len(text)} is outside 1..{MAX_LEN}")
    labels = np.full(MAX_LEN, ABSENT, dtype=np.int32)
    labels[: len(text)] = [CHAR_TO_INDEX[c] for c in text]
    return labels


def labels_to_text(labels, check: bool = False) -> str:
    """Decode class indices back to text; ``-1`` positions are skipped.

    A ``-1`` followed by a present position is an error (labels are left-aligned).
    """
    labels = [int(x) for x in np.asarray(labels).reshape(-1)]
    if len(labels) > MAX_LEN:
        raise PlateError(f"label has {len(labels)} positions, at most {MAX_LEN} allowed")
    chars = []
    seen_absent = False
    for pos, idx in enumerate(labels):
        if idx == ABSENT:
            seen_absent = True
            continue
        if seen_absent:
            raise PlateError(f"label {labels}: position {pos} is present after an absent one")
        if not 0 <= idx < NUM_CLASSES:
            raise PlateError(f"label {labels}: index {idx} at position {pos} is outside "
                             f"0..{NUM_CLASSES - 1}")
        chars.append(CHARS[idx])
    text = "".join(chars)
    if check:
        validate(text)
    return text


_NAME_RE = re.compile(r"^([^_.\s-]+)")


def text_from_filename(name: str) -> str:
    """The plate text at the start of a file name: ``苏E1500Q_3.jpg`` -> ``苏E1500Q``."""
    base = name.rsplit("/", 1)[-1]
    m = _NAME_RE.match(base)
    if not m:
        raise PlateError(f"{name!r}: the file name does not start with a plate text")
    return m.group(1)
