"""The experiment config and all its parts, validated one way, with a YAML round-trip and ``--set``.

One :class:`ExperimentConfig` describes a run::

    ExperimentConfig
      data: DataConfig            sources (train/val, or a weighted ``mix``), input size,
                                  whitening, validation split, and
        augment: AugmentConfig    the training augmentation (``true``: its defaults, ``false``: off)
        synth: SynthConfig        the generator of the synthetic plates (Lettering, Degradation)
      model: ModelConfig          backbone, width, heads (lpr_lib.model.build_model)
      loss: LossConfig            one of lpr_lib.losses.LOSSES
      optimizer: OptimizerConfig
      schedule: ScheduleConfig
      epochs, batch_size, seed, and how the run executes (jit, threads, strategy, ...)

Every part is a :class:`ConfigModel`: a pydantic model with ``extra="forbid"``, so an unknown key,
a value of the wrong type or out of range is a :class:`ConfigError` that names where it came from
(the YAML file, ``--set``), the dotted key, the problem and, for a file, its line::

    configs/x.yaml: unknown config key 'data.augment.rotaton_deg' (known at this ...) (line 9)
    --set: model.width must be > 0, got 0

The same checks run however a config is made: from YAML (:meth:`ExperimentConfig.from_yaml`),
from a dict, from ``KEY=VALUE`` overrides (:meth:`ConfigModel.override`, what ``lpr train --set``
does: ``data.synth.tight_crops=0.5``, ``data.augment.rotation_deg=6``), by calling a class, or by
assigning an attribute. :meth:`ConfigModel.to_yaml` writes a file that loads back equal.

The generator (:mod:`lpr_lib.synth`) and the augmentation (:mod:`lpr_lib.data.augmentation`)
use :class:`SynthConfig` and :class:`AugmentConfig` from here (their modules re-export them).
This module imports neither TensorFlow nor Keras; the names of the losses, backbones and
optimizers are checked against their registries (which do) when a config names one.
"""
import types
from pathlib import Path
from typing import Annotated, Any, ClassVar, Union, get_args, get_origin

import numpy as np
import yaml
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict,
                      ValidationError, field_serializer, field_validator)
from pydantic_core import PydanticCustomError

from lpr_lib.plates import DEFAULT_SIZE, KINDS, PROVINCES
from lpr_lib.repro import DEFAULT_SEED, quick_mode

__all__ = ["ConfigError", "ConfigModel", "ExperimentConfig", "DataConfig", "MixEntry",
           "ModelConfig", "LossConfig", "OptimizerConfig", "ScheduleConfig", "SynthConfig",
           "Lettering", "Degradation", "AugmentConfig", "default_config", "default_degradations",
           "no_degradations", "DEFAULT_KIND_MIX", "TRAFFIC_PROVINCE_WEIGHTS", "DEGRADATION_NAMES",
           "FILL_MODES", "LATIN_FACES", "CJK_FACES", "POOLINGS", "SCHEDULES", "STRATEGIES"]


class ConfigError(ValueError):
    """A config (file, mapping, override or value) that does not fit its config class; the
    message names the source, the dotted key, the problem and, for a YAML file, the line."""


# ================================================================== value types and checks

def _no_bool(value):
    if isinstance(value, bool):  # pydantic would read True as 1.0
        raise PydanticCustomError("float_type", "not a number")
    return value


def _finite(value):
    if not np.isfinite(value):  # .inf would train (a learning rate of inf: NaN at once)
        raise ValueError(f"must be a finite number, got {value!r}")
    return value


def short(value, limit: int = 80) -> str:
    """``repr(value)``, cut to about ``limit`` characters: what an error message quotes (a
    value that YAML aliases expanded can be megabytes)."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<a {type(value).__name__} nested too deep to show>"
    return _cut(text, limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 20] + f"... ({len(text)} characters)"


Int = Annotated[int, Strict()]  # no True, no "3", no 3.0
# ints and numeric text ("1e-3") welcome; inf and nan refused
Float = Annotated[float, BeforeValidator(_no_bool), AfterValidator(_finite)]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]


def _check(test, what: str) -> AfterValidator:
    """A check on a valid value: ``what`` is the problem, as it reads after the key."""
    def check(value):
        if not test(value):
            raise ValueError(f"{what}, got {short(value)}")
        return value
    return AfterValidator(check)


def _one_of(names) -> AfterValidator:
    """The value is one of ``names`` (a tuple, or a function that returns the registry)."""
    def check(value):
        known = names() if callable(names) else names
        if value not in known:
            raise ValueError(f"must be one of {', '.join(map(str, known))}, got {short(value)}")
        return value
    return AfterValidator(check)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _pair(low: float | None = None, high: float | None = None, ordered: bool = True):
    """Two numbers ``[low, high]`` (``ordered``: low <= high), inside ``[low, high]`` if given."""
    def check(value):
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(map(_is_number, value)):
            a, b = (float(v) for v in value)
        else:
            raise ValueError(f"must be a pair [{'low, high' if ordered else 'a, b'}] of "
                             f"numbers, got {short(value)}")
        if low is not None and not (low <= a <= high and low <= b <= high) \
                or ordered and a > b:
            inside = f"inside [{low}, {high}] " if low is not None else ""
            raise ValueError(f"must be a range {inside}with low <= high, got {[a, b]}")
        return a, b
    return BeforeValidator(check)


def _at_most(top: int) -> AfterValidator:
    """An upper bound: beyond it a value cannot be meant (and would exhaust memory or time
    before saying so)."""
    return _check(lambda v: v <= top, f"must be at most {top:_}".replace("_", ","))


#: the bounds of values that would exhaust memory long before they were of any use
MAX_SIDE, MAX_WIDTH, MAX_BATCH, MAX_SEED = 1024, 4.0, 65536, 2**32 - 1

Unit = Annotated[Float, _check(lambda v: 0.0 <= v <= 1.0, "must be a number in [0, 1]")]
NonNegative = Annotated[Float, _check(lambda v: v >= 0, "must be 0 or more")]
Range = Annotated[tuple[float, float], _pair()]


def _weights(value, known, names: str, unknown_what: str) -> dict[str, float]:
    """A name -> weight mapping: names from ``known``, weights >= 0 with a positive sum."""
    if not isinstance(value, dict) or not value:
        raise ValueError(f"must map {names} to weights, got {short(value)}")
    unknown = [k for k in value if k not in known]
    if unknown:
        raise ValueError(f"unknown {unknown_what}(s) {short(unknown)}; known: "
                         f"{', '.join(known)}")
    if not all(map(_is_number, value.values())) or min(value.values()) < 0 \
            or sum(value.values()) <= 0:
        raise ValueError(f"needs non-negative weights with a positive sum, got {short(value)}")
    return {k: float(v) for k, v in value.items()}


# ================================================================== the base class


class ConfigModel(BaseModel):
    """A part of the configuration: unknown keys are refused, values are checked when the
    object is made (from a mapping, YAML, ``KEY=VALUE`` overrides or a call) and when an
    attribute is assigned; each problem is a :class:`ConfigError` with its dotted key."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    #: what an unknown key inside this part is called in an error
    _noun: ClassVar[str] = "config key"
    #: what a mapping for this part looks like, for the error when something else is given
    _hint: ClassVar[str] = ""

    def __init__(self, /, **data):
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise ConfigError(describe(err, type(self), type(self).__name__)) from None

    # a part inside a part is built by pydantic's validator directly (its problems reach the
    # outermost call, with their whole key), not through this __init__ (pydantic's RootModel
    # marks its own __init__ so too)
    __init__.__pydantic_base_init__ = True

    def __setattr__(self, name, value):
        try:
            super().__setattr__(name, value)
        except ValidationError as err:
            raise ConfigError(describe(err, type(self), type(self).__name__)) from None

    # ------------------------------------------------------------ dicts and YAML
    def to_dict(self) -> dict:
        """Plain Python (lists, dicts, numbers, strings): what :meth:`to_yaml` writes."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data, source: str | None = None, _node=None):
        """Build from a (possibly partial) mapping: missing keys keep their defaults; a
        :class:`ConfigError` naming ``source`` and the key for anything that does not fit."""
        try:
            return cls.model_validate({} if data is None else data)
        except ValidationError as err:
            raise ConfigError(describe(err, cls, source, _node)) from None

    def to_yaml(self, path=None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_yaml(cls, source):
        """From a YAML file (a path, or a string ending in .yaml/.yml) or from YAML text."""
        if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                        and source.endswith((".yaml", ".yml"))):
            return cls._from_yaml_file(Path(source))
        return cls._from_yaml_text(source, "YAML text")

    @classmethod
    def _from_yaml_file(cls, path: Path):
        import os
        import stat

        from lpr_lib.oserrors import os_reason

        try:
            st = os.stat(path)
            if stat.S_ISREG(st.st_mode) and st.st_size > MAX_YAML_BYTES:
                raise ConfigError(f"{path}: {st.st_size:,} bytes, too large for a config file "
                                  f"(at most {MAX_YAML_BYTES:,})")
            if not stat.S_ISREG(st.st_mode):
                raise ConfigError(f"{path}: not a regular file (a folder, FIFO or device), "
                                  "not a config file")
            raw = path.read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: config file not found") from None
        except OSError as err:
            raise ConfigError(f"{path}: cannot be read ({os_reason(err)})") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") \
                from None
        return cls._from_yaml_text(text, str(path))

    @classmethod
    def _from_yaml_text(cls, text: str, where: str):
        data, node = parse_yaml(text, where)
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping of config keys, got "
                              f"{type(data).__name__}")
        return cls.from_dict(data, where, node)

    # ------------------------------------------------------------ overrides
    def override(self, assignments, source: str = "--set"):
        """A copy with ``KEY=VALUE`` assignments applied (``model.width=0.5``,
        ``data.synth.tight_crops=0.5``, ``data.augment.rotation_deg=6``); each value is read
        as YAML (``true``, ``[32, 96]``, ``null``, ``1e-3``, ``{p: 0.5}``). A key inside
        ``data.augment`` switches the augmentation on if it was off."""
        tree = self.model_dump(mode="json", context={"full": True})
        for item in assignments or []:
            key, sep, text = item.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ConfigError(f"{source}: expected KEY=VALUE, got {item!r}")
            value, _ = parse_yaml(text, f"{source}: {key}")
            _assign(tree, key, value, source)
        return type(self).from_dict(tree, source)


def _assign(tree: dict, key: str, value, source: str) -> None:
    """Set ``key`` (dotted; a list's items by their index: ``data.mix.1.weight``) in ``tree``,
    the config as a mapping; a key it does not have is added, for the validation to judge."""
    node: Any = tree
    parts = key.split(".")
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{source}: {key!r}: {'.'.join(parts[:depth])} is a list of "
                                  f"{len(node)} items, {part!r} is not one of its indices")
            part = int(part)
        elif not isinstance(node, dict):
            raise ConfigError(f"{source}: {'.'.join(parts[:depth])} is {node!r}, not a "
                              f"section: cannot set {key!r}")
        if last:
            node[part] = value
        elif isinstance(node, dict) and (node.get(part) is None or isinstance(node[part], bool)):
            node[part] = {}  # a switch or an unset value becomes a section (data.augment: false
            node = node[part]  # -> its defaults, with this setting)
        else:
            node = node[part]


# ================================================================== YAML


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (YAML
    itself keeps the last one without a word)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be a name, not a {type(key).__name__}",
                    key_node.start_mark) from None
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


#: The most values (mappings, lists and scalars, counted as if every alias were written out)
#: a config may hold: a whole experiment has a few hundred. Nested anchors and aliases
#: (a "billion laughs" file) would expand a few hundred bytes into billions of values.
MAX_YAML_VALUES = 100_000
#: The largest config file read
MAX_YAML_BYTES = 4 << 20


def _expanded_size(node, where: str) -> int:
    """How many values ``node`` holds with every alias written out (each node counted once
    per path to it); a :class:`ConfigError` for a recursive alias or beyond the bound."""
    memo: dict[int, int] = {}
    open_: set[int] = set()

    def size(n) -> int:
        key = id(n)
        if key in memo:
            return memo[key]
        if key in open_:
            raise ConfigError(f"{where}: an alias refers to the value that contains it "
                              f"(line {n.start_mark.line + 1}): a recursive value cannot be "
                              "a config")
        open_.add(key)
        if isinstance(n, yaml.SequenceNode):
            total = 1 + sum(size(c) for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in n.value)
        else:
            total = 1
        open_.discard(key)
        memo[key] = min(total, MAX_YAML_VALUES + 1)  # enough to tell; keeps the sums small
        return memo[key]

    return size(node)


def parse_yaml(text: str, where: str):
    """``(data, node)``: the YAML ``text`` read (duplicate keys refused) and its node tree,
    whose marks give the line of each key; a :class:`ConfigError` naming ``where``. A text
    whose aliases expand beyond :data:`MAX_YAML_VALUES` values, or that refers to itself,
    is refused before its values are built."""
    try:
        loader = _UniqueKeyLoader(text)  # its reader refuses control characters at once
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: not valid YAML: {_cut(str(err), 500)}") from None
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node, where) > MAX_YAML_VALUES:
            raise ConfigError(f"{where}: holds more than {MAX_YAML_VALUES:,} values once its "
                              "aliases (*name) are expanded: nested anchors and aliases that "
                              "multiply (a 'billion laughs' file?); a config has a few "
                              "hundred, write it out")
        data = loader.construct_document(node) if node is not None else None
    except ConfigError:
        raise
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: not valid YAML: {_cut(str(err), 500)}") from None
    except (ValueError, TypeError, OverflowError) as err:  # a number of 5,000 digits...
        raise ConfigError(f"{where}: not valid YAML: {_cut(str(err), 300)}") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deep to be a config") from None
    finally:
        loader.dispose()
    return data, node


def _yaml_line(node, loc) -> int | None:
    """The line of the YAML key (or list item) at ``loc``, else of the nearest enclosing one."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value
                          if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


# ================================================================== error messages

_TYPES = {"int": "an integer", "float": "a number", "bool": "true or false",
          "string": "a string", "list": "a list", "tuple": "a list", "dict": "a mapping",
          "model": "a mapping", "model_attributes": "a mapping"}


def _unwrap(t):
    while True:
        origin = get_origin(t)
        if origin is Annotated:
            t = get_args(t)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(t) if a is not type(None)]
            if len(args) != 1:
                return t
            t = args[0]
        else:
            return t


def _type_at(t, loc):
    """The declared type at ``loc`` under the model class ``t`` (None where unknown)."""
    for part in loc:
        t = _unwrap(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            field = t.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            t = field.annotation
        elif get_origin(t) in (list, tuple) and get_args(t):
            t = get_args(t)[0]
        elif get_origin(t) is dict and get_args(t):
            t = get_args(t)[1]
        else:
            return None
    return _unwrap(t)


def _dotted(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(error: dict, expected) -> str:
    """What is wrong, as it reads after the key (``must be ...``)."""
    kind, value = error["type"], error.get("input")
    if kind in ("value_error", "assertion_error"):
        return _cut(str(error["ctx"]["error"]), 300)
    if kind == "missing":
        return "is required"
    if kind == "literal_error":
        return f"must be one of {error['ctx']['expected']}, got {short(value)}"
    if kind in ("too_short", "too_long"):
        return f"must have {error['ctx'].get('min_length', error['ctx'].get('max_length'))} " \
               f"items, got {short(value)}"
    base = kind.removesuffix("_type").removesuffix("_parsing").removesuffix("_from_float")
    if base in _TYPES:
        hint = getattr(expected, "_hint", "") if isinstance(expected, type) else ""
        return f"must be {_TYPES[base]}{' ' + hint if hint else ''}, got {short(value)}"
    return f"is not valid ({_cut(error['msg'], 200)}), got {short(value)}"


def describe(err: ValidationError, root: type, source: str | None = None, node=None) -> str:
    """The problems of a pydantic ``ValidationError`` under the model class ``root``, one line
    each: ``SOURCE: KEY PROBLEM (line N)``, the line being the YAML ``node``'s where given."""
    out = []  # (line, message), in the order of the file where there is one
    for error in err.errors(include_url=False):
        loc = tuple(error["loc"])
        key = _dotted(loc)
        if error["type"] == "extra_forbidden":
            owner = _type_at(root, loc[:-1])
            noun = "config key" if root._noun == "config key" else \
                getattr(owner, "_noun", "config key")
            text = f"unknown {noun} {key!r}"
            if isinstance(owner, type) and issubclass(owner, BaseModel):
                text += f" (known at this level: {', '.join(owner.model_fields)})"
        else:
            problem = _problem(error, _type_at(root, loc))
            if not key:
                text = problem
            elif problem.startswith(("must", "is ", "needs")):
                text = f"{key} {problem}"
            else:
                text = f"{key}: {problem}"
        line = _yaml_line(node, loc) if node is not None else None
        if line is not None:
            text += f" (line {line})"
        out.append((line or 0, f"{source}: {text}" if source else text))
    return "\n".join(text for _, text in sorted(out, key=lambda item: item[0]))


# ================================================================== the synthetic plates

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


class Degradation(ConfigModel):
    """How often (``p``) and how hard (``strength`` in [0, 1]) one degradation hits.

    ``Degradation(0.3, 0.4)`` or ``Degradation(p=0.3, strength=0.4)``. What strength 1 means:

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
    """

    _noun: ClassVar[str] = "degradation field"
    _hint: ClassVar[str] = "{p: P, strength: S}"

    p: Unit
    strength: Unit = 0.5

    def __init__(self, *args, **data):
        if len(args) > 2:
            raise TypeError(f"Degradation takes p and strength, got {len(args)} values")
        data.update(zip(("p", "strength"), args))
        super().__init__(**data)

    __init__.__pydantic_base_init__ = True


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


#: The faces a lettering may name for letters and digits (``Lettering.fonts``), and their font
#: files in ``lpr_lib/synth/fonts/`` (``lpr_lib.synth.render.LATIN_FONTS`` has their paths)
LATIN_FACES = {"noto": "LPRPlateSansBold.otf", "barlow": "BarlowCondensed-SemiBold.ttf",
               "roboto": "RobotoCondensed-Bold.ttf"}
#: ... and for the Chinese characters (``Lettering.cjk_fonts``; ``render.CJK_FONTS``)
CJK_FACES = {"bold": "LPRPlateSansBold.otf", "regular": "LPRPlateSans.otf",
             "light": "NotoSansSC-Light.otf"}


class Lettering(ConfigModel):
    """How the characters are drawn; each plate draws its own style from these ranges.

    Real plates are lettered in the GA 36 plate face, which no free font reproduces: its
    letters and digits are wide with straight sides and its "1" is a plain bar, while
    Noto's are narrow and its "1" has a flag. A model that saw one typeface reads that
    typeface's quirks, so each plate's letters and digits come from one of ``fonts``:

    - ``fonts``: Latin face -> weight, faces from :data:`LATIN_FACES`
      (``noto``, ``barlow``, ``roboto``).
    - ``latin_width``: the share of the character box the widest digit fills.
    - ``plain_one``: the share of plates whose "1" is a plain vertical bar, as on GA 36 plates.
    - ``cjk_scale``: the Chinese character's size in its box (real ones rarely fill it).
    - ``cjk_fonts``: Chinese face -> weight, faces from :data:`CJK_FACES`
      (``bold``, ``regular``, ``light``). Adding ``light`` did not help a synthetic-only
      model read real plates (the run light_cjk of results/sim_to_real_study.json), so it is off.
    - ``weight``: the stroke-weight threshold (a higher value draws thinner strokes).

    :meth:`legacy` is the lettering of the first generator (Noto only, narrow, flagged
    "1", bold Chinese characters filling their boxes): the sim-to-real study's baseline.
    """

    _noun: ClassVar[str] = "lettering field"

    fonts: dict[str, float] = Field(default_factory=lambda: {"noto": 1.0, "barlow": 1.0,
                                                             "roboto": 1.0})
    latin_width: Annotated[tuple[float, float], _pair(0.3, 1.0)] = (0.88, 1.0)
    plain_one: Unit = 0.9
    cjk_scale: Annotated[tuple[float, float], _pair(0.3, 1.0)] = (0.8, 1.0)
    cjk_fonts: dict[str, float] = Field(default_factory=lambda: {"bold": 1.0, "regular": 1.0})
    weight: Annotated[tuple[float, float], _pair(0.05, 0.95)] = (0.48, 0.76)

    @field_validator("fonts", "cjk_fonts", mode="before")
    @classmethod
    def _known_faces(cls, value, info):
        what = "lettering font" if info.field_name == "fonts" else "lettering cjk_fonts face"
        faces = LATIN_FACES if info.field_name == "fonts" else CJK_FACES
        return _weights(value, list(faces), "font names", what)

    @classmethod
    def legacy(cls) -> "Lettering":
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


def _choose(weights: dict[str, float], rng: np.random.Generator) -> str:
    names = list(weights)
    w = np.array([weights[n] for n in names])
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def _size(value):
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            _is_number(v) and float(v).is_integer() and v >= 8 for v in value):
        return tuple(int(v) for v in value)
    raise ValueError(f"must be (height, width) of at least 8 pixels, got {short(value)}")


class SynthConfig(ConfigModel):
    """Everything that shapes the synthetic plates (:mod:`lpr_lib.synth`).

    - ``size``: output (height, width), default 48x144 (the model's input; in an
      :class:`ExperimentConfig` the plates are rendered at ``data.image_size``).
    - ``kinds``: kind -> relative weight (the kind mix); missing kinds are never drawn.
    - ``provinces``: ``"traffic"`` (imbalanced like real traffic), ``"balanced"``
      (uniform) or a dict province -> weight (others 0).
    - ``label_noise``: share of samples whose label is wrong; ``label_noise_truncate``:
      share of those that are truncations rather than substitutions. ``substitute`` writes
      one character of the label wrong (replaced by another character of the same class, so
      the label stays a valid plate); ``truncate`` cuts the end of the image off through a
      character while the label keeps the full text (the detector's bad box of real data).
      The label file records the noisy label and ``meta.tsv`` the true text.
    - ``tight_crops``: share of the detector's crops that are tight.
    - ``lettering``: how the characters are drawn (:class:`Lettering`).
    - ``degradations``: name -> :class:`Degradation`; names not given keep their defaults.
    """

    _noun: ClassVar[str] = "SynthConfig field"

    size: Annotated[tuple[int, int], BeforeValidator(_size)] = DEFAULT_SIZE
    kinds: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_KIND_MIX))
    provinces: Any = "traffic"
    label_noise: Annotated[Float, _check(lambda v: 0 <= v <= 1, "must be in [0, 1]")] = 0.0
    label_noise_truncate: Annotated[Float, _check(lambda v: 0 <= v <= 1,
                                                  "must be in [0, 1]")] = 0.3
    #: share of the detector's crops (``crop_jitter``) that are tight: the plate's frame cut
    #: off above and below the characters, as in most real crops (0 = all loose)
    tight_crops: Annotated[Float, _check(lambda v: 0 <= v <= 1, "must be in [0, 1]")] = 0.5
    lettering: Lettering = Field(default_factory=Lettering)
    degradations: dict[str, Degradation] = Field(default_factory=default_degradations)

    @field_validator("kinds", mode="before")
    @classmethod
    def _known_kinds(cls, value):
        return _weights(value, list(KINDS), "plate kinds", "plate kind")

    @field_validator("provinces", mode="before")
    @classmethod
    def _province_mix(cls, value):
        if isinstance(value, str):
            if value not in ("traffic", "balanced"):
                raise ValueError(f"must be 'traffic', 'balanced' or a mapping province -> "
                                 f"weight, got {short(value)}")
            return value
        if isinstance(value, dict):
            return _weights(value, list(PROVINCES), "provinces", "province")
        raise ValueError(f"must be 'traffic', 'balanced' or a mapping province -> weight, "
                         f"got {short(value)}")

    @field_validator("degradations")
    @classmethod
    def _over_the_defaults(cls, value):
        unknown = [k for k in value if k not in DEGRADATION_NAMES]
        if unknown:
            raise ValueError(f"unknown degradation {unknown[0]!r}; known: "
                             f"{', '.join(DEGRADATION_NAMES)}")
        return {**default_degradations(), **value}

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

    def changes(self) -> dict:
        """The settings that differ from the generator's defaults (``size`` left out): what
        ``data.synth`` writes, and what names a cached synthetic set."""
        out = self.model_dump(mode="json", exclude_defaults=True,
                              exclude={"size", "degradations"})
        defaults = default_degradations()  # each one that differs, whole (p and strength)
        changed = {k: d.model_dump(mode="json") for k, d in self.degradations.items()
                   if d != defaults.get(k)}
        return {**out, "degradations": changed} if changed else out

    def override_clean(self) -> "SynthConfig":
        """These settings with every label right (``label_noise`` 0): what validation and
        test plates are rendered with, so that a run trained on noisy labels is judged on
        true ones."""
        return self.model_copy(update={"label_noise": 0.0})


# ================================================================== augmentation

#: ``AugmentConfig.fill_mode`` (TensorFlow's names) -> the OpenCV border mode it is
FILL_MODES = {"nearest": "BORDER_REPLICATE", "constant": "BORDER_CONSTANT",
              "reflect": "BORDER_REFLECT", "wrap": "BORDER_WRAP"}


class AugmentConfig(ConfigModel):
    """Strengths of every augmentation (:func:`lpr_lib.data.augment`); a probability of 0 (or
    a strength of 0) turns one off.

    Intensities are in units of the [0, 1] image. Geometry (rotation, shear, scale, shift and the
    per-side crop jitter) is composed into one affine transform, so the image is resampled once.
    """

    _noun: ClassVar[str] = "AugmentConfig field"

    # the seed's photometric augmentation, applied in a random order
    brightness: Float = 0.25  # max additive delta
    contrast: Range = (0.6, 1.4)
    saturation: Range = (0.5, 1.5)
    hue: Float = 0.0  # off by default: plate colour tells the kind of plate
    # the seed's noise
    noise_prob: Unit = 0.5
    noise_std: Float = 0.04  # Gaussian noise, std (drawn uniformly in [0, noise_std])
    salt_pepper_prob: Unit = 0.3
    salt_pepper_amount: Unit = 0.02  # share of pixels set to black or white
    # geometry, for real crops whose plate is never perfectly framed
    affine_prob: Unit = 0.8
    rotation_deg: Float = 4.0
    shear: Float = 0.1  # horizontal shear (x += shear * y)
    # vertical shear (y += shear_y * x): the character row slants while verticals stay upright,
    # as in a detector's axis-aligned box around a plate seen from one side (rectified crops,
    # such as those warped out of a CCPD scene by their four corners, never show it)
    shear_y: Float = 0.0
    scale: Range = (0.92, 1.05)
    #: max shift as a share of (H, W)
    shift: Annotated[tuple[float, float], _pair(ordered=False)] = (0.03, 0.03)
    crop_jitter: Float = 0.04  # each side moves in or out by up to this share
    #: how pixels outside the crop are filled (see FILL_MODES)
    fill_mode: Annotated[Str, _one_of(tuple(FILL_MODES))] = "nearest"
    # capture resolution: shrink by a factor in ``downscale`` (one per batch), then enlarge back;
    # a sharp 136x36 crop then looks like a 94x24 one from a parking-lot camera
    downscale_prob: Unit = 0.3
    downscale: Range = (0.45, 0.9)
    # white balance: each channel scaled by its own factor in [1 - g, 1 + g] (a camera's colour
    # cast; small enough that a blue plate stays blue)
    channel_gain: Float = 0.0

    @classmethod
    def from_dict(cls, data, source: str | None = None, _node=None) -> "AugmentConfig":
        """Its fields over the defaults, from a mapping (or an ``AugmentConfig``, returned)."""
        return data if isinstance(data, AugmentConfig) else \
            super().from_dict(data, source or "AugmentConfig", _node)

    @classmethod
    def none(cls) -> "AugmentConfig":
        """No augmentation at all (every probability and strength zero)."""
        return cls(brightness=0.0, contrast=(1.0, 1.0), saturation=(1.0, 1.0), noise_prob=0.0,
                   salt_pepper_prob=0.0, affine_prob=0.0, downscale_prob=0.0)


# ================================================================== the experiment


class MixEntry(ConfigModel):
    """One training source of ``data.mix`` and its weight."""

    _hint: ClassVar[str] = "{source: PATH or synthetic, weight: W}"

    #: a path (any format ``lpr_lib.data.load_samples`` reads) or ``synthetic``
    source: Str
    weight: Annotated[Float, _check(lambda v: v > 0, "must be a positive number")] = 1.0


def _image_size(value):
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and 16 <= v <= MAX_SIDE
            for v in value):
        return list(value)
    raise ValueError(f"must be [height, width], each an integer in [16, {MAX_SIDE}], got "
                     f"{short(value)}")


def _augment_switch(value):
    if value is True:
        return AugmentConfig()
    if value is False or value is None:
        return None
    if isinstance(value, (dict, AugmentConfig)):
        return value
    raise ValueError(f"must be a bool (true: the defaults of AugmentConfig, false: off) or a "
                     f"mapping of AugmentConfig fields, got {short(value)}")


class DataConfig(ConfigModel):
    """What the model trains and is validated on, at which input size, augmented how."""

    #: training data: any format ``data.load_samples`` reads; ``None`` = synthetic plates
    train: Str | None = None
    #: validation data; ``None`` = synthetic plates from another seed (or none if val_size=0)
    val: Str | None = None
    #: the model's input (H, W), the seed's 48x144: the backbone's last map is 3x9 cells (2x6
    #: at 32x96, which holds every pixel of a real crop at 2.25x fewer pixels but reads far
    #: fewer plates after the same 5,280 steps: results/ablation/long32 against long, ch. 4)
    image_size: Annotated[list[int], BeforeValidator(_image_size)] = \
        Field(default_factory=lambda: list(DEFAULT_SIZE))
    #: per-image standardisation (the seed's "whitening"), else scale to [0, 1]
    whiten: Bool = True
    #: random geometric/photometric augmentation of training images (:class:`AugmentConfig`):
    #: written ``true`` (its defaults), ``false`` (none: ``None`` here) or a mapping of the
    #: fields to change (``{downscale_prob: 0.6, rotation_deg: 6}``)
    augment: Annotated[AugmentConfig | None, BeforeValidator(_augment_switch)] = \
        Field(default_factory=AugmentConfig)
    #: synthetic plates rendered for training (rendered once in parallel and cached under
    #: runs/synth/, the same set every epoch; augmentation varies)
    synthetic_train: Annotated[Int, _check(lambda v: v >= 1, "must be at least 1"),
                               _at_most(100_000_000)] = 40000
    #: synthetic validation plates (when ``val`` is None and no real data is mixed in); 2,048
    #: puts a plate accuracy near 90% within about +-0.7 points (one standard error)
    val_size: Annotated[Int, _check(lambda v: v >= 0, "must be 0 or more"),
                        _at_most(10_000_000)] = 2048
    #: several training sources mixed at weights, instead of ``train``: a list of
    #: ``{source: PATH or "synthetic", weight: W}``; each batch draws an image from source i
    #: with probability W_i / sum(W). Paths are any format ``data.load_samples`` reads.
    mix: list[MixEntry] = Field(default_factory=list)
    #: the generator of the synthetic plates (:class:`SynthConfig`; rendered at
    #: ``image_size``), written as the settings that differ from its defaults
    #: (``{tight_crops: 0.0, provinces: balanced}``)
    synth: SynthConfig = Field(default_factory=SynthConfig)
    #: share of each real (non-synthetic) source held out for validation, split by plate text
    #: (all crops of one plate on one side); the best checkpoint is chosen on it
    val_split: Annotated[Float, _check(lambda v: 0 <= v < 1, "must be in [0, 1)")] = 0.1

    @field_validator("mix")
    @classmethod
    def _not_with_train(cls, value, info):
        if value and info.data.get("train") is not None:
            raise ValueError("must not be given with data.train (they are exclusive): put the "
                             "training source in data.mix")
        return value

    @field_validator("synth", mode="before")
    @classmethod
    def _rendered_at_image_size(cls, value):
        given = value.model_fields_set if isinstance(value, SynthConfig) else \
            value if isinstance(value, dict) else ()
        if "size" in given:
            raise ValueError("must not set size: the synthetic plates are rendered at "
                             "data.image_size")
        return {} if value is None else value

    @field_serializer("augment")
    def _augment_as_written(self, value, info):
        if not isinstance(value, AugmentConfig):
            return value if isinstance(value, (bool, dict)) else False
        if (info.context or {}).get("full"):
            return value.model_dump(mode="json")
        changes = value.model_dump(mode="json", exclude_defaults=True)
        return changes or True

    @field_serializer("synth")
    def _synth_as_written(self, value, info):
        if not isinstance(value, SynthConfig):
            return value
        if (info.context or {}).get("full"):
            return value.model_dump(mode="json", exclude={"size"})
        return value.changes()


# The registries of names live beside what they name, in modules that import Keras (imported
# when a config names one; none of them imports this module).
def _backbones():
    from lpr_lib.backbones import BACKBONES

    return tuple(BACKBONES)


def _losses():
    from lpr_lib.losses import LOSSES

    return tuple(LOSSES)


def _optimizers():
    from lpr_lib.optim import OPTIMIZERS

    return OPTIMIZERS


#: ``model.pooling``: see :func:`lpr_lib.model.build_model`
POOLINGS = ("flatten", "avg", "attention")


class ModelConfig(ConfigModel):
    """Everything :func:`lpr_lib.model.build_model` needs. Part of :class:`ExperimentConfig`."""

    #: a name of ``lpr_lib.backbones.BACKBONES``
    backbone: Annotated[Str, _one_of(_backbones)] = "resnet18"
    #: width multiplier on every channel count (rounded to multiples of 8)
    width: Annotated[Float, _check(lambda v: v > 0, "must be > 0"),
                     _check(lambda v: v <= MAX_WIDTH, f"must be at most {MAX_WIDTH} (a "
                            "multiplier of every channel count: 1.0 is the full model)")] = 0.25
    #: ResNet stage widths before ``width`` (the seed's final model: 64, 128, 256, 384)
    stage_widths: Annotated[list[Int], _check(lambda v: len(v) == 4 and min(v) >= 1
                                              and max(v) <= 4096, "must be 4 integers in "
                                              "[1, 4096] (one a stage)")] = \
        Field(default_factory=lambda: [64, 128, 256, 384])
    #: ResNet stage strides (48x144 -> 12x36 after the stem -> 12x36, 6x18, 3x9, 3x9)
    strides: Annotated[list[Int], _check(lambda v: len(v) == 4 and min(v) >= 1
                                         and max(v) <= 8, "must be 4 integers in [1, 8] "
                                         "(one a stage)")] = \
        Field(default_factory=lambda: [1, 2, 2, 1])
    cardinality: Annotated[Int, _check(lambda v: v >= 1, "must be at least 1"),
                           _at_most(1024)] = 8  # resnext18
    variant: Annotated[Str, _one_of(("small", "large"))] = "small"  # mobilenet_v3 only
    #: L2 on conv and dense kernels (``decay * sum(w**2)``)
    conv_decay: NonNegative = 5e-4
    #: decay on BatchNorm gamma, "l2" or "l1" (network slimming)
    bn_decay: NonNegative = 0.0
    bn_decay_type: Annotated[Str, _one_of(("l2", "l1"))] = "l2"
    #: "flatten" (keep where each feature is: each head sees which column it came from) or
    #: "avg" (global average pooling, the seed's; learns to read far more slowly, see ch. 4)
    #: or "attention" (one learned attention map per character position,
    #: :class:`~lpr_lib.model.CharacterAttention`: a head that finds its character wherever
    #: it falls)
    pooling: Annotated[Str, _one_of(POOLINGS)] = "flatten"
    dropout: Annotated[Float, _check(lambda v: 0 <= v < 1, "must be in [0, 1)")] = 0.0
    #: add a plate-kind head (``len(plates.KINDS)`` classes, target from plates.infer_kind)
    kind_head: Bool = False


class LossConfig(ConfigModel):
    """The loss of the character heads (one of ``lpr_lib.losses.LOSSES``), and the
    weight of the length and kind heads' cross-entropy."""

    #: a name of ``lpr_lib.losses.LOSSES``: "ce", "smooth", "focal", "ghm_global",
    #: "ghm_labelwise"; each takes the fields below that its entry there lists
    name: Annotated[Str, _one_of(_losses)] = "ce"
    label_smoothing: Annotated[Float, _check(lambda v: 0 <= v < 1, "must be in [0, 1)")] = 0.1
    gamma: NonNegative = 2.0  # "focal"
    alpha: Float | None = 0.25  # "focal"
    bins: Annotated[Int, _check(lambda v: v >= 1, "must be at least 1"),
                    _at_most(10_000)] = 30  # GHM
    momentum: Annotated[Float, _check(lambda v: 0 <= v < 1, "must be in [0, 1)")] = 0.75
    #: weight of the length head's cross-entropy (and of the kind head's)
    length_weight: NonNegative = 1.0

    def build(self):
        """The loss of the character heads: ``LOSSES[name]`` with the fields it takes."""
        from lpr_lib.losses import LOSSES, get_loss

        return get_loss(self.name, **{k: getattr(self, k) for k in LOSSES[self.name].params})


class OptimizerConfig(ConfigModel):
    """The optimizer and its peak learning rate."""

    #: "radam" (the seed's), "adam" or "sgd" (lpr_lib.optim.get_optimizer); the default
    #: model uses Adam: in a few-minute budget RAdam's rectified start is too slow (ch. 4)
    name: Annotated[Str, _one_of(_optimizers)] = "adam"
    #: the peak learning rate (the "seed" schedule has its own values); 8e-3 read the most
    #: synthetic plates in the default run's budget (a trial at 32x96 in commits f566604 to
    #: aa10c55: 72.9% after 7 epochs, against 71.1% at 6e-3, 65.8% at 4e-3 and 48.8% at 2e-3)
    learning_rate: Annotated[Float, _check(lambda v: v >= 0, "must be 0 (frozen) or more")] = \
        8e-3
    clipnorm: Annotated[Float, _check(lambda v: v > 0, "must be > 0 (or null: none)")] | None \
        = None


#: ``schedule.name``: see :func:`lpr_lib.train.compile_model`
SCHEDULES = ("seed", "cosine", "constant", "plateau", "step")


class ScheduleConfig(ConfigModel):
    """How the learning rate changes over the run."""

    #: "seed" (1e-5 warmup, 1e-3, 1e-4, 1e-5, 1e-6 by epoch), "cosine" (warmup + cosine),
    #: "constant", or "plateau" (warm-up, then the rate times ``factor`` whenever the
    #: validation plate accuracy of ``patience`` epochs gains less than ``min_delta``; after
    #: ``drops`` drops the run stops once its last quarter gains less than ``min_delta``, or at
    #: ``epochs``: :class:`lpr_lib.optim.PlateauDrops`), or "step" (warm-up, then the peak
    #: times ``factor`` from the share ``drops_at[0]`` of the steps and times ``factor``
    #: squared from ``drops_at[1]``: :class:`lpr_lib.optim.WarmupSteps`)
    name: Annotated[Str, _one_of(SCHEDULES)] = "cosine"
    warmup_epochs: NonNegative = 0.5  # cosine, plateau and step
    final_ratio: Unit = 0.01  # cosine
    #: cosine: the share of the run's steps the cosine takes to reach ``final_ratio``; the rest
    #: holds it (below 1, the run ends on a flat stretch at its lowest rate)
    anneal_share: Annotated[Float, _check(lambda v: 0 < v <= 1, "must be in (0, 1]")] = 1.0
    #: plateau and step: the rate's factor at each drop
    factor: Annotated[Float, _check(lambda v: 0 < v < 1, "must be in (0, 1)")] = 0.1
    #: step: where (shares of the run's steps) the two drops come
    drops_at: Annotated[tuple[float, float], _pair(0.0, 1.0)] = (0.5, 0.7)
    drops: Annotated[Int, _check(lambda v: v >= 0, "must be 0 or more")] = 2  # plateau
    patience: Annotated[Int, _check(lambda v: v >= 1, "must be at least 1")] = 2  # plateau
    min_delta: Unit = 0.005  # plateau


#: ``strategy``: see :func:`lpr_lib.train.train`
STRATEGIES = ("none", "mirrored", "data_parallel")

AtLeast1 = Annotated[Int, _check(lambda v: v >= 1, "must be at least 1")]
AtLeast0 = Annotated[Int, _check(lambda v: v >= 0, "must be 0 or more")]


def _run_name(value: str) -> str:
    """A run's name is a folder under ``runs/``: one plain path component."""
    bad = [c for c in value if c in "/\\" or ord(c) < 32]
    if not value or value in (".", "..") or value.startswith(".") or bad or len(value) > 200:
        raise ValueError("must be a plain folder name (the run folder is runs/NAME): not "
                         "empty, no '/', '\\' or control character, not starting with '.', "
                         f"at most 200 characters; got {short(value)}")
    return value


class ExperimentConfig(ConfigModel):
    """One experiment: :func:`lpr_lib.train.train` runs it; its YAML is the run's
    ``config.yaml``::

        cfg = default_config()                 # the book's CPU model on synthetic plates
        cfg = ExperimentConfig.from_yaml("configs/seed_full.yaml")
        cfg = cfg.override(["model.width=0.5", "epochs=3"])   # what `lpr train --set` does
    """

    name: Annotated[Str, AfterValidator(_run_name)] = "default"
    seed: Annotated[Int, _check(lambda v: 0 <= v <= MAX_SEED, "must be an integer in "
                                f"[0, {MAX_SEED}] (NumPy's and TensorFlow's seeds)")] = \
        DEFAULT_SEED
    epochs: Annotated[AtLeast1, _at_most(100_000)] = 9
    batch_size: Annotated[AtLeast1, _at_most(MAX_BATCH)] = 64
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    #: bit-identical runs for a seed on CPU (TF deterministic ops; a little slower)
    deterministic: Bool = False
    #: XLA-compile the training step (the speed study's main win on CPU at width 0.5; at 0.25
    #: it slows the ResNets and speeds up the MobileNets: results/jit_by_backbone.json)
    jit_compile: Bool = True
    #: training steps per call into the compiled step (Keras' per-step Python overhead)
    steps_per_execution: Annotated[AtLeast1, _at_most(100_000)] = 1
    #: TensorFlow thread pools; 0 = TensorFlow's choice (set before TF starts)
    intra_op_threads: Annotated[AtLeast0, _at_most(4096)] = 0
    inter_op_threads: Annotated[AtLeast0, _at_most(4096)] = 0
    #: "none", "mirrored" (TensorFlow: tf.distribute.MirroredStrategy over all visible
    #: devices) or "data_parallel" (JAX: keras.distribution.DataParallel over all devices)
    strategy: Annotated[Str, _one_of(STRATEGIES)] = "none"
    #: split the CPU into this many logical devices (for MirroredStrategy on one CPU)
    logical_cpus: Annotated[AtLeast0, _at_most(1024)] = 0
    #: fine-tune: start from the weights of this model (a .keras file or a run folder; the
    #: architecture must match), instead of a random initialisation
    init_from: Str | None = None
    #: training steps per epoch; 0 = one pass over the training data (the synthetic set
    #: when the data are mixed)
    steps_per_epoch: Annotated[Int, _check(lambda v: v >= 0, "must be 0 (one pass) or more"),
                               _at_most(100_000_000)] = 0
    #: Keras progress display: 1 = bar, 2 = one line per epoch, 0 = silent
    verbose: Annotated[Int, _one_of((0, 1, 2))] = 2
    #: TensorBoard logs in <run>/logs (when the tensorboard package is installed)
    tensorboard: Bool = True

    @classmethod
    def from_dict(cls, data, source: str = "config", _node=None) -> "ExperimentConfig":
        return super().from_dict(data, source, _node)

    @classmethod
    def from_yaml(cls, path) -> "ExperimentConfig":
        """From a YAML file (missing keys keep their defaults)."""
        return cls._from_yaml_file(Path(path))

    def validate(self, source: str = "config") -> "ExperimentConfig":
        """Check the config as it is now (after attributes were changed in place): a
        :class:`ConfigError` naming ``source`` and the key. Returns ``self``."""
        type(self).from_dict(self.model_dump(mode="json", context={"full": True}), source)
        return self

    def quick(self) -> "ExperimentConfig":
        """A seconds-long version for CI (LPR_QUICK=1): a few hundred plates, 1 epoch."""
        return self.override(["epochs=1", "data.synthetic_train=256", "data.val_size=64"])


def default_config() -> ExperimentConfig:
    """The book's default: ResNet-18 at width 0.25 (the seed's stem, 384-wide last stage) on
    40,000 synthetic plates at 48x144, 9 epochs: under 15 minutes on 2 CPU cores, rendering
    included (the shipped model ``synthetic``); shrunk to seconds in quick mode
    (``LPR_QUICK=1``)."""
    cfg = ExperimentConfig()
    return cfg.quick() if quick_mode() else cfg
