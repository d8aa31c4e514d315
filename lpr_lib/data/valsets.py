"""Validation sets for the crops a detector gives: loose crops with car body around the plate,
tight crops cut at an edge, and every province. Made from the CCPD photos' annotations (built
at run time, never committed: the photos are not the project's) and from synthetic plates
(deterministic from a seed). Nothing here is ever chosen on ``real_plates/test``.

    sets = build_val_sets("runs/val_sets")      # {name: {"plates": n, "what": ..., ...}}
    items = read_set("runs/val_sets/ccpd_loose")  # [(path, text, framing), ...]

=====================  ========================================================================
``ccpd_tight``         each CCPD photo's plate box, nothing around it (the framing of the tight
                       test crops, at the photo's resolution)
``ccpd_loose``         the box with :data:`LOOSE_MARGINS` plate heights of car on every side
``ccpd_edge``          the tight box shifted so that one side cuts into the plate
                       (:data:`EDGE_CUTS`: a share of its width at the left and right, of its
                       height at the top and bottom)
``synth_tight``        the same three framings of synthetic plates composited into scene-like
``synth_loose``        pictures of cars (:func:`lpr_lib.synth.scene.plate_scene`), blue and
``synth_edge``         yellow single-row plates, every province equally likely
``synth_provinces``    the generator's own crops (its default degradations and lettering),
                       blue plates, :data:`PER_PROVINCE` of each of the 31 provinces
=====================  ========================================================================

Each set is a folder of PNG crops with a ``labels.tsv`` (``file plate source framing``), which
:func:`lpr_lib.data.load_samples` reads like any labelled folder. The real crops of
``real_plates`` are sets too (:func:`real_sets`): ``real_test`` (the tight test crops) and
``real_train_heldout`` (the training crops that the shipped ``mixed`` and ``slim`` held out for
validation, split by plate text with their config's seed).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from lpr_lib.data.crops import EDGE_SIDES, edge_crop, loose_crop, tight_crop

__all__ = ["VAL_SEED", "LOOSE_MARGINS", "EDGE_CUTS", "SCENE_KINDS", "SCENES", "PER_PROVINCE",
           "SET_DESCRIPTIONS", "ccpd_crops", "scene_crops", "province_plates", "write_set",
           "read_set", "build_val_sets", "real_sets"]

#: the seed of every synthetic set (no training set uses it)
VAL_SEED = 3100
#: a loose crop's margins, in plate heights on every side
LOOSE_MARGINS = (0.25, 0.5, 1.0)
#: how far an edge crop cuts into the plate: a share of its width (left, right) or height
#: (top, bottom). 0.06 of the width is about a third of the first or last character; 0.25 of
#: the height cuts the characters' tops or bottoms (they start 18% below the plate's top edge)
EDGE_CUTS = {"left": 0.06, "right": 0.06, "top": 0.25, "bottom": 0.25}
#: the plate kinds of the synthetic scenes (single-row, seven characters: every reader's kind)
SCENE_KINDS = {"blue": 0.85, "yellow": 0.15}
#: synthetic scenes (each gives one tight, three loose and four edge crops)
SCENES = 80
#: synthetic plates of each province in ``synth_provinces``
PER_PROVINCE = 10

SET_DESCRIPTIONS = {
    "real_test": "real_plates/test: the tight CCPD-style test crops at 94x24 (never used to "
                 "choose anything)",
    "real_train_heldout": "real_plates/train's crops whose plate texts the shipped mixed and "
                          "slim held out for validation (their config's seed and val_split): "
                          "never trained on, but their checkpoint and threshold were chosen "
                          "on it, which flatters them here",
    "ccpd_tight": "the plate box of each real_plates/ccpd_scenes photo, no margin",
    "ccpd_loose": "the box of each CCPD photo with a margin of "
                  + ", ".join(f"{m:g}" for m in LOOSE_MARGINS) + " plate heights on every side",
    "ccpd_edge": "the tight box of each CCPD photo shifted so one side cuts into the plate ("
                 + ", ".join(f"{s} {c:g}" for s, c in EDGE_CUTS.items())
                 + "; of the width at left/right, of the height at top/bottom)",
    "synth_tight": "synthetic plates composited into car scenes (blue 85%, yellow 15%, "
                   "every province equally likely): the plate box, no margin",
    "synth_loose": "the same synthetic scenes with margins of "
                   + ", ".join(f"{m:g}" for m in LOOSE_MARGINS) + " plate heights",
    "synth_edge": "the same synthetic scenes cut at each edge as ccpd_edge",
    "synth_provinces": f"the generator's crops (default degradations and lettering), blue "
                       f"plates, {PER_PROVINCE} of each of the 31 provinces: drawn by the "
                       f"generator ours trained on (in distribution for ours, not for the "
                       f"public readers); it says whether a reader knows each province's "
                       f"glyph as the generator draws it, not whether that transfers",
}


def _read_rgb(path) -> np.ndarray:
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError(f"{path}: not an image OpenCV can decode")
    return image[..., ::-1]


def _framings(image: np.ndarray, corners) -> dict[str, list[tuple[np.ndarray, str]]]:
    """The tight, loose and edge crops of one photo: ``{set suffix: [(crop, framing)]}``."""
    return {"tight": [(tight_crop(image, corners), "tight")],
            "loose": [(loose_crop(image, corners, m), f"margin {m:g}") for m in LOOSE_MARGINS],
            "edge": [(edge_crop(image, corners, side, EDGE_CUTS[side]),
                      f"{side} {EDGE_CUTS[side]:g}") for side in EDGE_SIDES]}


def ccpd_crops(scenes_dir) -> dict[str, list[tuple[np.ndarray, str, str]]]:
    """``{"ccpd_tight"|"ccpd_loose"|"ccpd_edge": [(crop, text, framing), ...]}`` from every
    CCPD photo in ``scenes_dir`` (its file name gives the plate's corners and text)."""
    from lpr_lib.data.formats import parse_ccpd_name

    out = {f"ccpd_{k}": [] for k in ("tight", "loose", "edge")}
    photos = sorted(p for p in Path(scenes_dir).iterdir() if p.suffix.lower() == ".jpg")
    if not photos:
        raise FileNotFoundError(f"{scenes_dir}: no CCPD photos (*.jpg)")
    for path in photos:
        info = parse_ccpd_name(path.name)
        image = _read_rgb(path)
        for key, crops in _framings(image, info["corners"]).items():
            out[f"ccpd_{key}"] += [(crop, info["text"], framing) for crop, framing in crops]
    return out


def scene_crops(n: int = SCENES, seed: int = VAL_SEED) -> dict[str, list]:
    """``{"synth_tight"|"synth_loose"|"synth_edge": [(crop, text, framing), ...]}`` from ``n``
    synthetic scenes; scene ``i`` depends only on ``(seed, i)``."""
    from lpr_lib.plates import sample_text
    from lpr_lib.synth.scene import plate_scene

    kinds = list(SCENE_KINDS)
    p = np.array([SCENE_KINDS[k] for k in kinds])
    out = {f"synth_{k}": [] for k in ("tight", "loose", "edge")}
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
        text = sample_text(kind, rng)  # every province equally likely
        scene, corners = plate_scene(text, kind, rng)
        for key, crops in _framings(scene, corners).items():
            out[f"synth_{key}"] += [(crop, text, framing) for crop, framing in crops]
    return out


def province_plates(per_province: int = PER_PROVINCE, seed: int = VAL_SEED) -> list:
    """``[(crop, text, "generator"), ...]``: ``per_province`` blue plates of every province,
    drawn by the generator with its default degradations and lettering; plate ``j`` of
    province ``k`` depends only on ``(seed, k, j)``."""
    from lpr_lib.plates import PROVINCES, sample_text
    from lpr_lib.synth import PlateGenerator, SynthConfig

    gen = PlateGenerator(SynthConfig(kinds={"blue": 1.0}), seed=seed)
    out = []
    for k, province in enumerate(PROVINCES):
        onehot = np.array([float(p == province) for p in PROVINCES])
        for j in range(per_province):
            rng = np.random.default_rng([seed, 1000 + k, j])
            text = sample_text("blue", rng, onehot)
            out.append((gen.render(text, "blue", rng), text, "generator"))
    return out


def write_set(items, folder, source: str) -> Path:
    """Write ``items`` (``(crop, text, framing)``, uint8 RGB crops) into ``folder`` as PNG
    files and a ``labels.tsv``; the folder is replaced whole. Returns the label file."""
    import shutil

    import cv2

    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    rows = []
    for i, (crop, text, framing) in enumerate(items):
        name = f"{i:04d}.png"
        if not cv2.imwrite(str(tmp / name), np.ascontiguousarray(crop[..., ::-1])):
            raise OSError(f"{tmp / name}: could not be written")
        rows.append((name, text, source, framing))
    with open(tmp / "labels.tsv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(("file", "plate", "source", "framing"))
        w.writerows(rows)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder / "labels.tsv"


def read_set(folder) -> list[tuple[Path, str, str]]:
    """``[(image path, plate text, framing), ...]`` of a set written by :func:`write_set`
    (``framing`` is ``""`` for a ``labels.tsv`` without that column)."""
    folder = Path(folder)
    label_file = folder / "labels.tsv" if folder.is_dir() else folder
    with open(label_file, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [(label_file.parent / r["file"], r["plate"], r.get("framing") or "") for r in rows]


def real_sets(shared=None) -> dict[str, list[tuple[Path, str, str]]]:
    """The real crops as sets, where ``shared`` (default ``../shared/real_plates``) has them:
    ``real_test`` and ``real_train_heldout``; an absent folder gives no set."""
    from lpr_lib.data import load_samples, split_by_plate
    from lpr_lib.predict import resolve_model, run_config
    from lpr_lib.repro import SHARED_REAL

    shared = Path(shared or SHARED_REAL)
    out = {}
    if (shared / "test").is_dir():
        out["real_test"] = [(s.path, s.text, "tight") for s in load_samples(shared / "test")]
    if (shared / "train").is_dir():
        cfg = run_config(resolve_model("mixed")[0])
        _, held = split_by_plate(load_samples(shared / "train"), cfg.data.val_split, cfg.seed)
        out["real_train_heldout"] = [(s.path, s.text, s.source) for s in held]
    return out


def build_val_sets(out_dir, shared=None, scenes: int = SCENES,
                   per_province: int = PER_PROVINCE, seed: int = VAL_SEED) -> dict:
    """Write every set that can be made here into ``out_dir/<name>/`` and describe each (and
    the real sets, which stay where they are): ``{name: {"plates", "what", "real", "path",
    "framings": {framing: count}}}``. The CCPD sets need ``shared/ccpd_scenes``; without it
    they are left out, and ``{"missing": why}`` stands in their place."""
    from lpr_lib.repro import SHARED_REAL

    shared = Path(shared or SHARED_REAL)
    out_dir = Path(out_dir)
    made: dict[str, tuple[list, str]] = {}
    scenes_dir = shared / "ccpd_scenes"
    if scenes_dir.is_dir():
        for name, items in ccpd_crops(scenes_dir).items():
            made[name] = (items, "ccpd_scenes")
    for name, items in scene_crops(scenes, seed).items():
        made[name] = (items, "synthetic scene")
    made["synth_provinces"] = (province_plates(per_province, seed), "synthetic")
    sets = {}
    for name, (items, source) in made.items():
        write_set(items, out_dir / name, source)
        sets[name] = _describe(name, [(None, t, f) for _, t, f in items],
                               real=name.startswith("ccpd"), path=out_dir / name)
    for name, items in real_sets(shared).items():
        sets[name] = _describe(name, items, real=True, path=None)
    if not scenes_dir.is_dir():
        for name in ("ccpd_tight", "ccpd_loose", "ccpd_edge"):
            sets[name] = {"missing": f"{scenes_dir} is absent: the real photos are not "
                                     "shipped with the project"}
    order = list(SET_DESCRIPTIONS)
    return dict(sorted(sets.items(), key=lambda kv: order.index(kv[0])))


def _describe(name, items, real: bool, path) -> dict:
    framings, provinces = {}, {}
    for _, text, framing in items:
        framings[framing] = framings.get(framing, 0) + 1
        provinces[text[0]] = provinces.get(text[0], 0) + 1
    out = {"plates": len(items), "what": SET_DESCRIPTIONS[name], "real": real,
           "framings": framings, "provinces": dict(sorted(provinces.items(),
                                                          key=lambda kv: -kv[1]))}
    if path is not None:
        out["path"] = str(path)
    return out
