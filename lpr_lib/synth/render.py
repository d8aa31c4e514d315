"""Draw a clean, flat plate following the GA 36-2018 geometry (in millimetres).

Layouts (character boxes as x, y, width, height in mm):

- single row, 440x140: seven 45x90 boxes at y=25, 12 mm apart, except a 34 mm gap after
  the second character holding a 10 mm dot; 15.5 mm side margins.
- new-energy, 480x140: the province box 45 wide, the others 43 wide, 9 mm apart, a 49 mm
  gap after the second character (no dot: the new-energy plate dropped it).
- double row, 440x220: the top row holds province and letter in 80x60 boxes; the bottom
  row the other five in 65x110 boxes, 15 mm apart.

Characters fill their boxes as plate fonts do: Chinese glyphs are stretched to (a share of)
the box, letters and digits keep the box height and are scaled so that the widest digit
fills a share of the box width. Each plate draws its lettering (face, widths, a plain-bar
"1", stroke weight) from :class:`lpr_lib.synth.config.Lettering`.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lpr_lib.config import CJK_FACES, LATIN_FACES
from lpr_lib.plates import DIGITS, KINDS, PROVINCES, SPECIALS, rows
from lpr_lib.synth._random import _n, _u

FONT_DIR = Path(__file__).parent / "fonts"
FONT_PATH = FONT_DIR / "LPRPlateSansBold.otf"
CJK_REGULAR_PATH = FONT_DIR / "LPRPlateSans.otf"
#: Faces for the Chinese characters: name -> font file (``Lettering.cjk_fonts`` weighs them;
#: the names a config may give are :data:`lpr_lib.config.CJK_FACES`).
CJK_FONTS = {name: FONT_DIR / file for name, file in CJK_FACES.items()}
#: Faces for letters and digits (see ``make_font_subset``): name -> font file.
LATIN_FONTS = {name: FONT_DIR / file for name, file in LATIN_FACES.items()}
#: The lettering of plates drawn without a style: the first generator's (Noto, narrow).
PLAIN_STYLE = {"font": "noto", "latin_width": 0.86, "plain_one": False, "cjk_scale": 1.0,
               "cjk_font": "bold", "weight": None}

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Layout:
    size_mm: tuple[int, int]  # (width, height)
    boxes: tuple[Box, ...]
    dots: tuple[tuple[float, float], ...]  # dot centres
    rivets: tuple[tuple[float, float], ...]


def _single_row() -> Layout:
    xs = [15.5, 15.5 + 57]
    x = 15.5 + 57 + 45 + 34
    for _ in range(5):
        xs.append(x)
        x += 57
    boxes = tuple((x, 25.0, 45.0, 90.0) for x in xs)
    return Layout((440, 140), boxes, ((134.5, 70.0),), ((110.0, 12.0), (330.0, 12.0)))


def _new_energy() -> Layout:
    boxes = [(15.5, 25.0, 45.0, 90.0), (69.5, 25.0, 43.0, 90.0)]
    x = 69.5 + 43 + 49
    for _ in range(6):
        boxes.append((x, 25.0, 43.0, 90.0))
        x += 52
    return Layout((480, 140), tuple(boxes), (), ((120.0, 12.0), (360.0, 12.0)))


def _double_row() -> Layout:
    boxes = [(110.0, 15.0, 80.0, 60.0), (250.0, 15.0, 80.0, 60.0)]
    x = 27.5
    for _ in range(5):
        boxes.append((x, 92.0, 65.0, 110.0))
        x += 80
    return Layout((440, 220), tuple(boxes), ((220.0, 45.0),), ((70.0, 40.0), (370.0, 40.0)))


LAYOUTS = {"single": _single_row(), "new_energy": _new_energy(), "double": _double_row()}


def layout_for(kind: str) -> Layout:
    k = KINDS[kind]
    if k.rows == 2:
        return LAYOUTS["double"]
    return LAYOUTS["new_energy"] if k.length == 8 else LAYOUTS["single"]


# --- colours (RGB in [0, 1]) -----------------------------------------------------------
def _hsv(h, s, v):
    return np.array(colorsys.hsv_to_rgb(h / 360.0, s, v), dtype=np.float32)


WHITE = np.array([0.96, 0.97, 0.98], np.float32)
BLACK = np.array([0.06, 0.06, 0.07], np.float32)
RED = np.array([0.80, 0.08, 0.08], np.float32)


def _background(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """The plate's paint, with the small variation of paint, film and camera white balance.

    Returns (h, w, 3) or, for plates of one colour per row, (h, 1, 3) that broadcasts."""
    ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    if kind == "blue":
        c = _hsv(_u(rng, 208, 238), _u(rng, 0.66, 1.0), _u(rng, 0.6, 0.95))
    elif kind in ("yellow", "yellow_double", "learner", "trailer"):
        c = _hsv(_u(rng, 42, 52), _u(rng, 0.85, 1.0), _u(rng, 0.85, 1.0))
    elif kind == "police":
        c = np.full(3, _u(rng, 0.88, 0.98), np.float32)
    elif kind in ("hk_macao", "embassy", "consulate"):
        c = np.full(3, _u(rng, 0.04, 0.12), np.float32)
    elif kind == "green_small":  # gradient: near-white green at the top to green below
        top = _hsv(_u(rng, 100, 130), _u(rng, 0.05, 0.15), _u(rng, 0.92, 1.0))
        bottom = _hsv(_u(rng, 115, 135), _u(rng, 0.45, 0.65), _u(rng, 0.72, 0.88))
        return (top + (bottom - top) * ys ** 0.8).astype(np.float32)
    elif kind == "green_large":  # yellow left part (province + letter), green right part
        img = np.empty((h, w, 3), np.float32)
        split = int(round(w * 118.0 / 480.0))
        img[:, :split] = _hsv(_u(rng, 42, 52), _u(rng, 0.85, 1.0), _u(rng, 0.85, 1.0))
        img[:, split:] = _hsv(_u(rng, 115, 135), _u(rng, 0.5, 0.7), _u(rng, 0.7, 0.85))
        return img
    else:  # pragma: no cover - every kind is listed above
        raise ValueError(f"no colours for plate kind {kind!r}")
    shade = 1.0 + _u(rng, -0.06, 0.06) * (ys - 0.5)  # a little light falloff
    return np.clip(c * shade, 0, 1).astype(np.float32)  # (h, 1, 3): broadcasts over the width


def text_colours(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(colour of ordinary characters, colour of the red special character)."""
    if kind in ("blue", "hk_macao", "embassy", "consulate"):
        return WHITE, RED
    return BLACK, RED


def border_colour(kind: str) -> np.ndarray:
    if kind in ("blue", "hk_macao", "embassy", "consulate"):
        return WHITE
    if kind in ("green_small", "green_large"):
        return np.array([0.15, 0.3, 0.15], np.float32)
    return BLACK


#: Characters printed red: 警 on police plates, 使/领 on embassy/consulate plates.
RED_CHARS = {"警", "使", "领"}


# --- glyphs ------------------------------------------------------------------------------
#: Share of the box width the widest digit fills in the plain style.
LATIN_WIDTH = 0.86
#: Width of the plain-bar "1" as a share of the box (GA 36 strokes are ~10 mm of 45 mm).
BAR_WIDTH = 0.22


@lru_cache(maxsize=4)
def _font(path: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, px)


@lru_cache(maxsize=4)
def _digit_aspect(path: str) -> float:
    """Ink width/height of the widest digit: the condensing reference for letters/digits."""
    return max(_ink(path, d).shape[1] / _ink(path, d).shape[0] for d in DIGITS)


@lru_cache(maxsize=256)
def _ink(path: str, char: str) -> np.ndarray:
    """The glyph's ink, cropped to its bounding box, at a 200 px em (float32 in [0, 1])."""
    font = _font(path, 200)
    img = Image.new("L", (320, 320), 0)
    ImageDraw.Draw(img).text((60, 20), char, font=font, fill=255)
    a = np.asarray(img, np.float32) / 255.0
    ys, xs = np.nonzero(a > 0.02)
    if len(ys) == 0:
        raise ValueError(f"{path}: the font has no glyph for {char!r}")
    return a[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


@lru_cache(maxsize=4096)
def glyph(char: str, w: int, h: int, path: str = str(FONT_PATH),
          latin_width: float = LATIN_WIDTH, cjk_scale: float = 1.0) -> np.ndarray:
    """The character as a (h, w) float32 coverage mask filling a w x h box as plate fonts do.

    Chinese characters are stretched to ``cjk_scale`` of the box, centred; letters and
    digits keep the box height, scaled so that the font's widest digit is ``latin_width``
    of the box width.
    """
    ink = _ink(path, char)
    cjk = char in PROVINCES or char in SPECIALS
    if cjk:
        gw, gh = max(1, int(round(w * cjk_scale))), max(1, int(round(h * cjk_scale)))
    else:
        gh = h
        scale_x = latin_width * w / (_digit_aspect(path) * h)  # widest digit: share of box
        gw = max(1, min(w, int(round(ink.shape[1] / ink.shape[0] * h * scale_x))))
    g = cv2.resize(ink, (gw, gh), interpolation=cv2.INTER_AREA)
    out = np.zeros((h, w), np.float32)
    x0, y0 = (w - gw) // 2, (h - gh) // 2
    out[y0: y0 + gh, x0: x0 + gw] = g
    return out


@lru_cache(maxsize=256)
def bar(w: int, h: int) -> np.ndarray:
    """GA 36's "1": a plain vertical bar in the middle of the box (no flag, no foot)."""
    out = np.zeros((h, w), np.float32)
    bw = max(1.0, BAR_WIDTH * w)
    x0 = (w - bw) / 2
    lo, hi = int(np.floor(x0)), int(np.ceil(x0 + bw))
    cols = np.clip(np.minimum(np.arange(lo, hi) + 1, x0 + bw) - np.maximum(np.arange(lo, hi), x0),
                   0, 1)
    out[:, lo:hi] = cols[None, :]
    return out


def styled_glyph(char: str, w: int, h: int, style: dict) -> np.ndarray:
    """``char`` in one plate's lettering ``style`` (a :meth:`Lettering.draw` dict)."""
    if char in PROVINCES or char in SPECIALS:
        return glyph(char, w, h, str(CJK_FONTS[style["cjk_font"]]),
                     cjk_scale=round(style["cjk_scale"], 2))
    if char == "1" and style["plain_one"]:
        return bar(w, h)
    return glyph(char, w, h, str(LATIN_FONTS[style["font"]]),
                 latin_width=round(style["latin_width"], 2))


def _rounded_mask(h: int, w: int, r: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    r = max(1, min(r, h // 2, w // 2))
    cv2.rectangle(m, (r, 0), (w - 1 - r, h - 1), 255, -1)
    cv2.rectangle(m, (0, r), (w - 1, h - 1 - r), 255, -1)
    for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(m, (cx, cy), r, 255, -1, lineType=cv2.LINE_AA)
    return m.astype(np.float32) / 255.0


def render_plate(text: str, kind: str, scale: float, rng: np.random.Generator,
                 dirt: float = 0.0, style: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``text`` as a clean ``kind`` plate at ``scale`` pixels per millimetre.

    Returns ``(rgb, alpha)``: float32 (h, w, 3) in [0, 1] and the (h, w) plate shape
    (rounded corners). ``dirt`` in [0, 1] adds mud/dust blotches of that strength;
    ``style`` is the plate's lettering (:meth:`Lettering.draw`; None: :data:`PLAIN_STYLE`).
    """
    style = style or PLAIN_STYLE
    lay = layout_for(kind)
    w_mm, h_mm = lay.size_mm
    H, W = int(round(h_mm * scale)), int(round(w_mm * scale))
    img = _background(kind, H, W, rng)
    text_c, red_c = text_colours(kind)

    # characters: one coverage mask for the ordinary colour and one for red
    chars = "".join(rows(text, kind))
    if len(chars) != len(lay.boxes):
        raise ValueError(f"{text!r}: {len(chars)} characters for a {kind} layout of "
                         f"{len(lay.boxes)} boxes")
    mask = np.zeros((H, W), np.float32)
    red = np.zeros((H, W), np.float32)
    jx = rng.normal(0, 0.6, len(chars))  # stamping is not perfect: ~0.6 mm jitter
    for i, (ch, (x, y, bw, bh)) in enumerate(zip(chars, lay.boxes)):
        x0, y0 = int(round((x + jx[i]) * scale)), int(round(y * scale))
        gw, gh = max(2, int(round(bw * scale))), max(2, int(round(bh * scale)))
        g = styled_glyph(ch, gw, gh, style)
        y1, x1 = min(H, y0 + gh), min(W, x0 + gw)
        target = red if ch in RED_CHARS and kind != "hk_macao" else mask
        target[y0:y1, x0:x1] = np.maximum(target[y0:y1, x0:x1], g[: y1 - y0, : x1 - x0])
    # stroke weight varies between plate makers and with wear: re-threshold a blurred mask
    if scale * 2 >= 1:
        t = _u(rng, 0.45, 0.72) if style["weight"] is None else style["weight"]
        for m in (mask, red):
            if m.any():
                soft = cv2.GaussianBlur(m, (0, 0), max(0.5, 0.9 * scale))
                m[:] = np.clip((soft - t) / 0.25 + 0.5, 0, 1)
    dots = np.zeros((H, W), np.float32)
    for cx, cy in lay.dots:
        cv2.circle(dots, (int(round(cx * scale)), int(round(cy * scale))),
                   max(1, int(round(5 * scale))), 1.0, -1, lineType=cv2.LINE_AA)
    mask = np.maximum(mask, dots)

    # embossed characters: a thin shadow below-right of each stroke
    shift = max(1, int(round(0.8 * scale)))
    ink = np.maximum(mask, red)
    shadow = np.zeros_like(ink)
    shadow[shift:, shift:] = ink[:-shift, :-shift]
    shadow = np.clip(shadow - ink, 0, 1)

    # border line, inset ~3 mm, ~1.6 mm wide
    border = np.zeros((H, W), np.float32)
    inset, thick = int(round(3.0 * scale)), max(1, int(round(1.6 * scale)))
    cv2.rectangle(border, (inset, inset), (W - 1 - inset, H - 1 - inset), 1.0, thick,
                  lineType=cv2.LINE_AA)
    border = np.minimum(border, 1 - ink)

    # one composite: paint where nothing covers it, plus each layer's colour x coverage
    layers = np.stack([border, mask, red], axis=-1)  # the layers hardly overlap
    keep = np.clip(1 - layers.sum(-1) - 0.35 * shadow, 0, 1)[..., None]
    colours = np.stack([border_colour(kind), text_c, red_c])
    img = img * keep + layers @ colours

    # rivets: bolt heads, metallic grey with a dark rim
    for cx, cy in lay.rivets:
        if rng.random() < 0.85:
            c = (int(round(cx * scale + _n(rng, 0, 2 * scale))), int(round(cy * scale)))
            r = max(1, int(round(_u(rng, 3.5, 5.5) * scale)))
            tone = _u(rng, 0.45, 0.85)
            cv2.circle(img, c, r + max(1, int(scale)), (0.15, 0.15, 0.15), -1, cv2.LINE_AA)
            cv2.circle(img, c, r, (tone, tone, tone * 0.97), -1, cv2.LINE_AA)
    if dirt > 0:
        img = _add_dirt(img, dirt, rng)
    alpha = _rounded_mask(H, W, int(round(_u(rng, 4, 12) * scale)))
    return np.clip(img, 0, 1).astype(np.float32), alpha


def _add_dirt(img: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Mud and dust: smooth random blotches of a brown-grey, stronger at the bottom edge."""
    H, W = img.shape[:2]
    small = rng.random((3, 8)).astype(np.float32)
    field = cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)
    field = cv2.GaussianBlur(field, (0, 0), max(1.0, H / 30))
    cover = 0.08 + 0.2 * strength  # share of the plate under dirt
    thr = np.quantile(field, 1 - cover)
    a = np.clip((field - thr) / 0.08, 0, 1) * _u(rng, 0.3, 0.5 + 0.35 * strength)
    a += np.linspace(0, 1, H, dtype=np.float32)[:, None] ** 3 * 0.25 * strength
    colour = np.array([_u(rng, 0.35, 0.5), _u(rng, 0.33, 0.45), _u(rng, 0.28, 0.4)],
                      np.float32)
    a = np.clip(a, 0, 0.9)[..., None]
    return img * (1 - a) + colour * a
