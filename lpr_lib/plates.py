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

import functools
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
#: The library's default plate crop, (height, width) in pixels: the seed's model input, about
#: the 440 x 140 mm of a one-row plate (3:1). The model, the input pipelines, the generator and
#: the ``lpr`` command default to it; a config's ``data.image_size`` chooses another.
DEFAULT_SIZE = (48, 144)

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
        PlateKind("hk_macao", 7, "black", "white", 1, (440, 140),
                  "Hong Kong / Macao (粤Z....港/澳)"),
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


def validate(text: str, kind: str | None = None) -> str:
    """Check that ``text`` can be a Chinese plate; return it unchanged.

    Raises :class:`PlateError` naming the problem (unknown character, wrong length,
    a character in a position where plates never have it). With ``kind`` (a key of
    :data:`KINDS`) the text must also follow that kind's rule, e.g. a ``"police"``
    plate must end in 警 and a ``"green_small"`` one have D/F third.
    """
    _validate(text)
    if kind is not None:
        if kind not in KINDS:
            raise PlateError(f"unknown plate kind {kind!r}; known kinds: {', '.join(KINDS)}")
        rule = _KIND_RULES[kind]
        if not rule[0].fullmatch(text):
            raise PlateError(f"{text!r} is not a {kind} plate: {rule[1]}")
    return text


def _validate(text: str) -> str:
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


def is_valid(text: str, kind: str | None = None) -> bool:
    """True when :func:`validate` accepts ``text`` (as a ``kind`` plate, if given)."""
    try:
        validate(text, kind)
    except PlateError:
        return False
    return True


_P = "[" + "".join(PROVINCES) + "]"
_L = "[" + "".join(LETTERS) + "]"
_A = "[" + "".join(LETTERS + DIGITS) + "]"
_D = "[0-9]"
#: Per kind: the regular expression a text must match, and the rule in words.
_KIND_RULES: dict[str, tuple[re.Pattern, str]] = {
    k: (re.compile(rx), words) for k, (rx, words) in {
        "blue": (f"{_P}{_L}{_A}{{5}}", "province, letter, 5 letters/digits"),
        "yellow": (f"{_P}{_L}{_A}{{5}}", "province, letter, 5 letters/digits"),
        "yellow_double": (f"{_P}{_L}{_A}{{5}}", "province, letter, 5 letters/digits"),
        "green_small": (f"{_P}{_L}[DF]{_A}{_D}{{4}}",
                        "province, letter, D/F, a letter or digit, 4 digits"),
        "green_large": (f"{_P}{_L}{_D}{{5}}[DF]", "province, letter, 5 digits, D/F"),
        "police": (f"{_P}{_L}{_A}{{4}}警", "province, letter, 4 letters/digits, 警"),
        "hk_macao": (f"粤Z{_A}{{4}}[港澳]", "粤Z, 4 letters/digits, 港 or 澳"),
        "learner": (f"{_P}{_L}{_A}{{4}}学", "province, letter, 4 letters/digits, 学"),
        "trailer": (f"{_P}{_L}{_A}{{4}}挂", "province, letter, 4 letters/digits, 挂"),
        "embassy": (f"使{_D}{{6}}", "使 and 6 digits"),
        "consulate": (f"{_P}{_L}{_A}{{4}}领", "province, letter, 4 letters/digits, 领"),
    }.items()
}


_PROV_S, _LET_S, _DIG_S = "".join(PROVINCES), "".join(LETTERS), "".join(DIGITS)
_AN_S = _LET_S + _DIG_S
#: Per kind: the characters allowed at each position (one string a position), the same rule as
#: the kind's regular expression in ``_KIND_RULES``. Kinds with the same positions (blue,
#: yellow, yellow_double) share one pattern in :func:`constrained_decode`.
KIND_PATTERNS: dict[str, tuple[str, ...]] = {
    "blue": (_PROV_S, _LET_S) + (_AN_S,) * 5,
    "yellow": (_PROV_S, _LET_S) + (_AN_S,) * 5,
    "yellow_double": (_PROV_S, _LET_S) + (_AN_S,) * 5,
    "green_small": (_PROV_S, _LET_S, "DF", _AN_S) + (_DIG_S,) * 4,
    "green_large": (_PROV_S, _LET_S) + (_DIG_S,) * 5 + ("DF",),
    "police": (_PROV_S, _LET_S) + (_AN_S,) * 4 + ("警",),
    "hk_macao": ("粤", "Z") + (_AN_S,) * 4 + ("港澳",),
    "learner": (_PROV_S, _LET_S) + (_AN_S,) * 4 + ("学",),
    "trailer": (_PROV_S, _LET_S) + (_AN_S,) * 4 + ("挂",),
    "embassy": ("使",) + (_DIG_S,) * 6,
    "consulate": (_PROV_S, _LET_S) + (_AN_S,) * 4 + ("领",),
}


@functools.lru_cache(maxsize=32)
def _pattern_masks(kinds: tuple[str, ...]) -> list[tuple[str, np.ndarray]]:
    """``[(kind, mask), ...]``: one boolean ``(length, NUM_CLASSES)`` mask per distinct pattern
    (the first of ``kinds`` with that pattern names it), in the order of ``kinds``."""
    out, seen = [], set()
    for kind in kinds:
        if kind not in KIND_PATTERNS:
            raise PlateError(f"unknown plate kind {kind!r}; known kinds: {', '.join(KINDS)}")
        pattern = KIND_PATTERNS[kind]
        if pattern in seen:
            continue
        seen.add(pattern)
        mask = np.zeros((len(pattern), NUM_CLASSES), dtype=bool)
        for pos, allowed in enumerate(pattern):
            mask[pos, [CHAR_TO_INDEX[c] for c in allowed]] = True
        mask.flags.writeable = False
        out.append((kind, mask))
    return out


def constrained_decode(chars_probs, length_probs=None, kinds=None, lengths=(7, 8)):
    """Read plates from the heads' probabilities, only ever as a valid plate.

    For each plate pattern (:data:`KIND_PATTERNS` of ``kinds``, default all), every position
    takes the most probable character that the pattern allows there; the pattern's score is
    the product of those probabilities (its joint probability, the heads being independent),
    times the length head's probability of the pattern's length when ``length_probs`` is
    given (``(N, 2)`` over ``lengths``). The pattern with the highest score wins (the first
    in :data:`KINDS` order on a tie).

    ``chars_probs``: ``(N, heads, NUM_CLASSES)`` (``heads`` >= 8), or one plate
    ``(heads, NUM_CLASSES)``. Returns ``(labels, position_probs, confidence, kinds)``:
    ``(N, MAX_LEN)`` class indices with ``-1`` beyond the plate's length, the chosen
    characters' probabilities (0 where absent), the winning score ``(N,)``, and the winning
    pattern's kind name per plate (``"blue"`` stands for every 7-character
    province-letter-5-alphanumeric plate). Every decoded text passes :func:`validate`.
    """
    probs = np.asarray(chars_probs, dtype=np.float64)
    single = probs.ndim == 2
    if single:
        probs = probs[None]
    if probs.ndim != 3 or probs.shape[-1] != NUM_CLASSES or probs.shape[1] < MAX_LEN:
        raise ValueError(f"chars_probs must be (N, {MAX_LEN}, {NUM_CLASSES}), "
                         f"got shape {probs.shape}")
    n = len(probs)
    if length_probs is not None:
        length_probs = np.asarray(length_probs, dtype=np.float64).reshape(n, len(lengths))
    best_score = np.full(n, -1.0)
    labels = np.full((n, MAX_LEN), ABSENT, dtype=np.int32)
    chosen = np.zeros((n, MAX_LEN))
    kind_of = np.empty(n, dtype=object)
    for kind, mask in _pattern_masks(tuple(KINDS) if kinds is None else tuple(kinds)):
        length = len(mask)
        masked = np.where(mask[None], probs[:, :length], -1.0)  # (N, length, C)
        idx = masked.argmax(-1)
        p = np.take_along_axis(probs[:, :length], idx[..., None], -1)[..., 0]
        score = p.prod(-1)
        if length_probs is not None:
            score = score * length_probs[:, list(lengths).index(length)]
        better = score > best_score
        best_score[better] = score[better]
        labels[better] = ABSENT
        labels[better, :length] = idx[better]
        chosen[better] = 0.0
        chosen[better, :length] = p[better]
        kind_of[better] = kind
    best_score = np.maximum(best_score, 0.0)  # -1 only where every score was NaN
    kinds_out = [str(k) for k in kind_of]
    if single:
        return labels[0], chosen[0], float(best_score[0]), kinds_out[0]
    return labels, chosen, best_score, kinds_out


def kind_rule(kind: str) -> str:
    """The character rule of a plate ``kind`` in words (e.g. for a table in the book)."""
    if kind not in _KIND_RULES:
        raise PlateError(f"unknown plate kind {kind!r}; known kinds: {', '.join(KINDS)}")
    return _KIND_RULES[kind][1]


def rows(text: str, kind: str) -> tuple[str, ...]:
    """The text of each printed row: one row, or (province+letter, the rest) on
    double-row plates. The label is always the row-major reading, top row first."""
    if KINDS[kind].rows == 2:
        return text[:2], text[2:]
    return (text,)


def _pick(rng: np.random.Generator, items, weights=None):
    if weights is None:
        return items[int(rng.integers(len(items)))]
    return items[int(rng.choice(len(items), p=weights))]


def _serial(rng: np.random.Generator, n: int, letter_p: float = 0.3, max_letters: int = 2) -> str:
    """``n`` letters/digits as plate serials have them: mostly digits, at most
    ``max_letters`` letters."""
    out = []
    letters = 0
    for _ in range(n):
        if letters < max_letters and rng.random() < letter_p:
            out.append(_pick(rng, LETTERS))
            letters += 1
        else:
            out.append(_pick(rng, DIGITS))
    return "".join(out)


#: Weights of the city letter (second character): 'A' (the capital) is the commonest.
CITY_LETTER_WEIGHTS = np.array([6.0 if c == "A" else 3.0 if c in "BCDE" else 1.5 if c in "FGHJK"
                                else 0.7 for c in LETTERS])
CITY_LETTER_WEIGHTS /= CITY_LETTER_WEIGHTS.sum()


def sample_text(kind: str, rng: np.random.Generator, province_p=None) -> str:
    """Draw a random valid text for a plate ``kind``.

    ``province_p``: probabilities over :data:`PROVINCES` (``None`` = uniform).
    The city letter leans towards A, as in traffic; serials are mostly digits.
    """
    if kind not in KINDS:
        raise PlateError(f"unknown plate kind {kind!r}; known kinds: {', '.join(KINDS)}")
    if kind == "embassy":
        return "使" + "".join(_pick(rng, DIGITS) for _ in range(6))
    if kind == "hk_macao":
        return "粤Z" + _serial(rng, 4) + _pick(rng, ("港", "澳"))
    head = _pick(rng, PROVINCES, province_p) + _pick(rng, LETTERS, CITY_LETTER_WEIGHTS)
    if kind in ("blue", "yellow", "yellow_double"):
        text = head + _serial(rng, 5)
    elif kind == "green_small":
        second = _pick(rng, LETTERS) if rng.random() < 0.3 else _pick(rng, DIGITS)
        text = head + _pick(rng, ("D", "F")) + second + _serial(rng, 4, letter_p=0.0)
    elif kind == "green_large":
        text = head + _serial(rng, 5, letter_p=0.0) + _pick(rng, ("D", "F"))
    else:
        suffix = {"police": "警", "learner": "学", "trailer": "挂", "consulate": "领"}[kind]
        text = head + _serial(rng, 4, letter_p=0.15) + suffix
    return validate(text, kind)


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


def kind_indices(labels) -> np.ndarray:
    """Each label row's plate kind (:func:`infer_kind`) as an index into ``KINDS``, int32:
    the target of a model's kind head."""
    names = list(KINDS)
    return np.array([names.index(infer_kind(labels_to_text(row))) for row in labels], np.int32)


_NAME_RE = re.compile(r"^([^_.\s-]+)")


def text_from_filename(name: str) -> str:
    """The plate text at the start of a file name: ``苏E1500Q_3.jpg`` -> ``苏E1500Q``."""
    base = name.rsplit("/", 1)[-1]
    m = _NAME_RE.match(base)
    if not m:
        raise PlateError(f"{name!r}: the file name does not start with a plate text")
    return m.group(1)
