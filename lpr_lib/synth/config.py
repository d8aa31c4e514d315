"""The generator's settings: one dataclass that round-trips to a dict and to YAML.

Every degradation has a probability ``p`` (how often it is applied) and a
``strength`` in [0, 1] (how hard it hits when it is). What strength 1 means:

==============  ===========================================================================
name            strength 1 means
==============  ===========================================================================
perspective     corners moved by up to ~6% of the plate width (a camera off to one side)
rotation        in-plane rotation with a standard deviation of 6 degrees
crop_jitter     the detector's box is off by up to ~8% on each side (loose or tight)
truncation      one end of the plate cut off by up to ~14% of its width (a character)
blur            gaussian blur up to sigma 1.6 px at the output size
motion_blur     a streak up to 5 px long at the output size, near horizontal
low_res         the plate was captured at down to 30% of the output size, then upscaled
noise           sensor noise with sigma up to 0.06 (image in [0, 1])
jpeg            JPEG quality down to 25
lighting        brightness x0.55..1.35, contrast x0.6..1.25, colour cast, gamma
shadow          a straight-edged shadow darkening part of the plate down to 35%
haze            blend with a grey-white fog of up to 55%
night           a dark, noisy, tinted picture (x0.18..0.45 light) with a warm lamp glow
dirt            mud/dust blotches covering up to ~20% of the plate
==============  ===========================================================================

Label noise (``label_noise``): that share of samples get a corrupted *label* while the
image shows the true plate, in one of two modes chosen by ``label_noise_truncate``:
``substitute`` writes one character of the label wrong (replaced by another character of
the same class, so the label stays a valid plate); ``truncate`` cuts the end of the image
off through a character while the label keeps the full text (the detector's bad box of
real data). In both cases the noise is in the image/label *pair*: the label file records
the noisy label and ``meta.tsv`` the true text, so a study can tell the two apart.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from lpr_lib.plates import DEFAULT_SIZE, KINDS, PROVINCES, PlateError

#: A mix of kinds shaped like a city's traffic, with every kind present.
DEFAULT_KIND_MIX = {
    "blue": 0.50, "yellow": 0.08, "yellow_double": 0.06, "green_small": 0.14,
    "green_large": 0.04, "police": 0.04, "hk_macao": 0.03, "learner": 0.04,
    "trailer": 0.03, "embassy": 0.02, "consulate": 0.02,
}

#: Rough, rounded shares of China's registered vehicles by province (order of
#: magnitude from public yearly statistics, ~2022): the shape of real traffic
#: (a few large provinces dominate), not an exact statistic.
TRAFFIC_PROVINCE_WEIGHTS = {
    "粤": 8.5, "鲁": 7.4, "苏": 6.6, "浙": 6.2, "豫": 6.1, "冀": 5.9, "川": 4.9, "皖": 3.5,
    "湘": 3.4, "鄂": 3.4, "京": 2.2, "闽": 2.6, "云": 2.9, "陕": 2.7, "辽": 2.6, "桂": 2.7,
    "晋": 2.3, "蒙": 2.0, "黑": 1.8, "赣": 2.2, "沪": 1.6, "渝": 1.7, "贵": 2.1, "吉": 1.5,
    "新": 1.6, "甘": 1.2, "津": 1.1, "宁": 0.6, "琼": 0.6, "青": 0.4, "藏": 0.2,
}

DEGRADATION_NAMES = ("perspective", "rotation", "crop_jitter", "truncation", "blur",
                     "motion_blur", "low_res", "noise", "jpeg", "lighting", "shadow", "haze",
                     "night", "dirt")


@dataclass
class Degradation:
    """How often (``p``) and how hard (``strength`` in [0, 1]) one degradation hits."""

    p: float
    strength: float = 0.5

    def __post_init__(self):
        for name in ("p", "strength"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
                raise ValueError(f"degradation {name} must be a number in [0, 1], not {v!r}")
        self.p, self.strength = float(self.p), float(self.strength)


def default_degradations() -> dict[str, Degradation]:
    """Defaults tuned by eye against real crops (CCPD at 94x24, EasyPR at 136x36)."""
    d = dict(perspective=(0.8, 0.5), rotation=(0.7, 0.5), crop_jitter=(1.0, 0.5),
             truncation=(0.03, 0.5), blur=(0.3, 0.4), motion_blur=(0.1, 0.5),
             low_res=(0.4, 0.5), noise=(0.6, 0.4), jpeg=(0.7, 0.5), lighting=(0.9, 0.5),
             shadow=(0.15, 0.6), haze=(0.08, 0.5), night=(0.07, 0.5), dirt=(0.2, 0.5))
    return {k: Degradation(*v) for k, v in d.items()}


def no_degradations() -> dict[str, Degradation]:
    """Every degradation off: clean, axis-aligned plates (for figures and tests)."""
    return {k: Degradation(0.0, 0.0) for k in DEGRADATION_NAMES}


def _pair(name: str, v, low: float = 0.0, high: float = 1.0) -> tuple[float, float]:
    """A (low, high) range inside [low, high], from a pair of numbers."""
    try:
        a, b = (float(x) for x in v)
    except (TypeError, ValueError):
        raise ValueError(f"lettering {name} must be a pair [low, high], not {v!r}") from None
    if not low <= a <= b <= high:
        raise ValueError(f"lettering {name} must be a range inside [{low}, {high}] with "
                         f"low <= high, not {[a, b]}")
    return a, b


@dataclass
class Lettering:
    """How the characters are drawn; each plate draws its own style from these ranges.

    Real plates are lettered in the GA 36 plate face, which no free font reproduces: its
    letters and digits are wide with straight sides and its "1" is a plain bar, while
    Noto's are narrow and its "1" has a flag. A model that saw one typeface reads that
    typeface's quirks, so each plate's letters and digits come from one of ``fonts``:

    - ``fonts``: Latin face -> weight, faces from :data:`lpr_lib.synth.render.LATIN_FONTS`
      (``noto``, ``barlow``, ``roboto``).
    - ``latin_width``: the share of the character box the widest digit fills.
    - ``plain_one``: the share of plates whose "1" is a plain vertical bar, as on GA 36 plates.
    - ``cjk_scale``: the Chinese character's size in its box (real ones rarely fill it).
    - ``cjk_fonts``: Chinese face -> weight, faces from :data:`lpr_lib.synth.render.CJK_FONTS`
      (``bold``, ``regular``, ``light``). Adding ``light`` did not help a synthetic-only
      model read real plates (results/lettering_light_cjk_trial.json), so it is off.
    - ``weight``: the stroke-weight threshold (a higher value draws thinner strokes).

    :meth:`legacy` is the lettering of the first generator (Noto only, narrow, flagged
    "1", bold Chinese characters filling their boxes): the sim-to-real study's baseline.
    """

    fonts: dict[str, float] = field(default_factory=lambda: {"noto": 1.0, "barlow": 1.0,
                                                             "roboto": 1.0})
    latin_width: tuple[float, float] = (0.88, 1.0)
    plain_one: float = 0.9
    cjk_scale: tuple[float, float] = (0.8, 1.0)
    cjk_fonts: dict[str, float] = field(default_factory=lambda: {"bold": 1.0, "regular": 1.0})
    weight: tuple[float, float] = (0.48, 0.76)

    def __post_init__(self):
        from lpr_lib.synth.render import CJK_FONTS, LATIN_FONTS

        self.fonts = _font_weights("fonts", self.fonts, LATIN_FONTS)
        self.cjk_fonts = _font_weights("cjk_fonts", self.cjk_fonts, CJK_FONTS)
        self.latin_width = _pair("latin_width", self.latin_width, 0.3, 1.0)
        self.cjk_scale = _pair("cjk_scale", self.cjk_scale, 0.3, 1.0)
        self.weight = _pair("weight", self.weight, 0.05, 0.95)
        v = self.plain_one
        if isinstance(v, bool) or not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
            raise ValueError(f"lettering plain_one must be a number in [0, 1], not {v!r}")
        self.plain_one = float(v)

    @classmethod
    def legacy(cls) -> Lettering:
        return cls(fonts={"noto": 1.0}, latin_width=(0.86, 0.86), plain_one=0.0,
                   cjk_scale=(1.0, 1.0), cjk_fonts={"bold": 1.0}, weight=(0.45, 0.72))

    def draw(self, rng: np.random.Generator) -> dict:
        """One plate's style: font, widths, flags (what :func:`render_plate` needs)."""
        return {"font": _choose(self.fonts, rng),
                "latin_width": float(rng.uniform(*self.latin_width)),
                "plain_one": bool(rng.random() < self.plain_one),
                "cjk_scale": float(rng.uniform(*self.cjk_scale)),
                "cjk_font": _choose(self.cjk_fonts, rng),
                "weight": float(rng.uniform(*self.weight))}


def _font_weights(key: str, value, known) -> dict[str, float]:
    """A face -> weight mapping checked against the known faces."""
    if not isinstance(value, dict) or not value:
        raise ValueError(f"lettering {key} must map font names to weights, not {value!r}")
    unknown = [f for f in value if f not in known]
    if unknown:
        raise ValueError(f"unknown lettering {key} {unknown}; known: {', '.join(known)}")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value.values()) \
            or sum(value.values()) <= 0 or min(value.values()) < 0:
        raise ValueError(f"lettering {key} need non-negative weights with a positive sum: "
                         f"{value}")
    return {k: float(v) for k, v in value.items()}


def _choose(weights: dict[str, float], rng: np.random.Generator) -> str:
    names = list(weights)
    w = np.array([weights[n] for n in names])
    return names[int(rng.choice(len(names), p=w / w.sum()))]


@dataclass
class SynthConfig:
    """Everything that shapes the synthetic plates; ``to_dict``/``from_dict``/YAML round-trip.

    - ``size``: output (height, width), default 48x144 (the model's input).
    - ``kinds``: kind -> relative weight (the kind mix); missing kinds are never drawn.
    - ``provinces``: ``"traffic"`` (imbalanced like real traffic), ``"balanced"``
      (uniform) or a dict province -> weight (others 0).
    - ``label_noise``: share of samples whose label is wrong (see the module doc);
      ``label_noise_truncate``: share of those that are truncations rather than substitutions.
    - ``lettering``: how the characters are drawn (:class:`Lettering`).
    - ``degradations``: name -> :class:`Degradation`.
    """

    size: tuple[int, int] = DEFAULT_SIZE
    kinds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_KIND_MIX))
    provinces: str | dict[str, float] = "traffic"
    label_noise: float = 0.0
    label_noise_truncate: float = 0.3
    #: share of the detector's crops (``crop_jitter``) that are tight: the plate's frame cut
    #: off above and below the characters, as in most real crops (0 = all loose)
    tight_crops: float = 0.5
    lettering: Lettering = field(default_factory=Lettering)
    degradations: dict[str, Degradation] = field(default_factory=default_degradations)

    def __post_init__(self):
        self.size = tuple(int(v) for v in self.size)
        if len(self.size) != 2 or min(self.size) < 8:
            raise ValueError(f"size must be (height, width) of at least 8 pixels, not {self.size}")
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown:
            raise PlateError(f"unknown plate kind(s) {unknown}; known kinds: {', '.join(KINDS)}")
        if not self.kinds or sum(self.kinds.values()) <= 0 or min(self.kinds.values()) < 0:
            raise ValueError(f"kinds needs non-negative weights with a positive sum: {self.kinds}")
        if isinstance(self.provinces, str):
            if self.provinces not in ("traffic", "balanced"):
                raise ValueError(f"provinces must be 'traffic', 'balanced' or a dict, "
                                 f"not {self.provinces!r}")
        else:
            bad = [p for p in self.provinces if p not in PROVINCES]
            if bad:
                raise PlateError(f"unknown province(s) {bad} in provinces")
            if sum(self.provinces.values()) <= 0:
                raise ValueError("province weights need a positive sum")
        for name in ("label_noise", "label_noise_truncate", "tight_crops"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], not {v}")
        if isinstance(self.lettering, dict):
            known = {f.name for f in fields(Lettering)}
            unknown = [k for k in self.lettering if k not in known]
            if unknown:
                raise ValueError(f"unknown lettering field(s) {unknown}; known: {sorted(known)}")
            self.lettering = Lettering(**self.lettering)
        elif not isinstance(self.lettering, Lettering):
            raise ValueError(f"lettering must be a mapping of fields, not {self.lettering!r}")
        degs = default_degradations()
        for name, d in self.degradations.items():
            if name not in degs:
                raise ValueError(f"unknown degradation {name!r}; known: {', '.join(degs)}")
            degs[name] = d if isinstance(d, Degradation) else Degradation(**d)
        self.degradations = degs

    # --- derived -----------------------------------------------------------------
    def kind_p(self) -> tuple[list[str], np.ndarray]:
        names = [k for k, w in self.kinds.items() if w > 0]
        w = np.array([self.kinds[k] for k in names], dtype=float)
        return names, w / w.sum()

    def province_p(self) -> np.ndarray:
        if self.provinces == "balanced":
            w = np.ones(len(PROVINCES))
        else:
            table = TRAFFIC_PROVINCE_WEIGHTS if self.provinces == "traffic" else self.provinces
            w = np.array([float(table.get(p, 0.0)) for p in PROVINCES])
        return w / w.sum()

    # --- round trips ---------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["size"] = list(self.size)
        d["lettering"] = {k: list(v) if isinstance(v, tuple) else v
                          for k, v in d["lettering"].items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SynthConfig:
        known = {f.name for f in fields(cls)}
        unknown = [k for k in d if k not in known]
        if unknown:
            raise ValueError(f"unknown SynthConfig field(s) {unknown}; known: {sorted(known)}")
        return cls(**d)

    def to_yaml(self, path=None) -> str:
        import yaml

        text = yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_yaml(cls, source) -> SynthConfig:
        """Read a config from a YAML file path or a YAML string."""
        import yaml

        where = "YAML text"
        if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                        and source.endswith((".yaml", ".yml"))):
            where = str(source)
            try:
                source = Path(source).read_text(encoding="utf-8")
            except OSError as err:
                raise FileNotFoundError(f"{where}: cannot read the synth config ({err})") from err
        try:
            data = yaml.safe_load(source) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{where}: not valid YAML ({err})") from err
        if not isinstance(data, dict):
            raise ValueError(f"{where}: a synth config is a mapping of fields, "
                             f"not {type(data).__name__}")
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {err}") from err
