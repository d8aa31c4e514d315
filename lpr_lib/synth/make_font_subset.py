"""Make the OFL font subsets the plate renderer ships with (run once, by a maintainer).

The renderer may not download fonts at run time, so the package carries a small
subset of Noto Sans CJK SC Bold and Regular (SIL Open Font License 1.1) holding only the
glyphs that plates use (``plates.CHARS``), printable ASCII and a few characters
for the book's labels. Debian's ``fonts-noto-cjk`` package provides the source::

    python -m lpr_lib.synth.make_font_subset  # fonts/LPRPlateSansBold.otf, LPRPlateSans.otf

Real plates are not lettered in Noto: their digits and letters are drawn wider, with
straight sides and a plain bar for "1", and their Chinese characters in lighter strokes.
So that a model does not learn one typeface's quirks, the renderer also draws letters and
digits from two narrow sans faces and Chinese characters from Noto Sans SC Light (all OFL
1.1), subset to the plate's glyphs from the npm registry's Fontsource packages::

    npm pack @fontsource/barlow-condensed @fontsource/roboto-condensed @fontsource/noto-sans-sc
    # unpack each into a folder named after it, say under /tmp/fontsource, then
    python -m lpr_lib.synth.make_font_subset --fontsource /tmp/fontsource

The subset is renamed "LPR Plate Sans" as the OFL asks of modified versions
(Noto is not a Reserved Font Name, but a distinct name keeps it apart from the
full system font). The licence text ships beside it as ``fonts/OFL.txt``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

from lpr_lib.plates import CHARS

NOTO = Path("/usr/share/fonts/opentype/noto")
FONTS = Path(__file__).parent / "fonts"
FAMILY = "LPR Plate Sans"
#: weight -> (source collection, face inside it, output file). The plates use Bold; the
#: Regular face lets matplotlib draw the book's plain labels without a missing-weight warning
#: (and sorts first, so lpr_lib.book.setup registers it).
WEIGHTS = {
    "Bold": (NOTO / "NotoSansCJK-Bold.ttc", "Noto Sans CJK SC Bold",
             FONTS / "LPRPlateSansBold.otf"),
    "Regular": (NOTO / "NotoSansCJK-Regular.ttc", "Noto Sans CJK SC",
                FONTS / "LPRPlateSans.otf"),
}
#: Characters for the book's figure labels besides the plate alphabet.
EXTRA = "·蓝黄绿白黑色单双层新能源小大型车警察港澳学挂使领试超真实合成"


def glyph_text() -> str:
    ascii_ = "".join(chr(c) for c in range(0x20, 0x7F))
    return "".join(sorted(set("".join(CHARS) + ascii_ + EXTRA)))


def make_subset(weight: str = "Bold", source: Path | None = None, out: Path | None = None) -> Path:
    """Subset one weight of Noto Sans CJK SC to the plates' glyphs; return the file written."""
    src, face, dest = WEIGHTS[weight]
    source, out = Path(source or src), Path(out or dest)
    collection = TTCollection(str(source))
    fonts = [f for f in collection.fonts if f["name"].getDebugName(4) == face]
    if not fonts:
        raise ValueError(f"{source}: no face named {face!r}")
    ps = f"LPRPlateSans-{weight}"
    font = fonts[0]
    options = subset.Options()
    options.layout_features = ["kern", "liga"]
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    options.desubroutinize = True
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=glyph_text())
    subsetter.subset(font)
    name = font["name"]
    for rec in list(name.names):
        if rec.nameID in (1, 16):
            rec.string = FAMILY
        elif rec.nameID == 4:
            rec.string = f"{FAMILY} {weight}" if weight != "Regular" else FAMILY
        elif rec.nameID in (3, 6):
            rec.string = ps
        elif rec.nameID in (2, 17):
            rec.string = weight
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [ps]
        top = cff.topDictIndex[0]
        top.FullName = f"{FAMILY} {weight}"
        top.FamilyName = FAMILY
    out.parent.mkdir(parents=True, exist_ok=True)
    font.save(str(out))
    return out


#: Fontsource faces: name -> (package folder, file in its files/, output file, what it keeps:
#: the plate's letters and digits, or its Chinese characters).
FONTSOURCE = {
    "barlow": ("barlow-condensed", "barlow-condensed-latin-600-normal.woff",
               FONTS / "BarlowCondensed-SemiBold.ttf", "latin"),
    "roboto": ("roboto-condensed", "roboto-condensed-latin-700-normal.woff",
               FONTS / "RobotoCondensed-Bold.ttf", "latin"),
    "noto_light": ("noto-sans-sc", "noto-sans-sc-chinese-simplified-300-normal.woff",
                   FONTS / "NotoSansSC-Light.otf", "cjk"),
}


def make_fontsource_subset(name: str, packages: Path) -> Path:
    """Subset one Fontsource face (WOFF) to the plate's glyphs it draws, saved unwrapped
    (TrueType or CFF outlines, as the source has them)."""
    from fontTools.ttLib import TTFont

    from lpr_lib.plates import DIGITS, LETTERS, PROVINCES, SPECIALS

    folder, file, out, keep = FONTSOURCE[name]
    font = TTFont(str(Path(packages) / folder / "package" / "files" / file))
    options = subset.Options()
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    options.hinting = False
    subsetter = subset.Subsetter(options)
    text = "".join(DIGITS) + "".join(LETTERS) + "IO" if keep == "latin" else \
        "".join(PROVINCES) + "".join(SPECIALS)
    subsetter.populate(text=text)
    subsetter.subset(font)
    font.flavor = None  # FreeType reads it without a WOFF decoder
    font.save(str(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="+", default=list(WEIGHTS), choices=list(WEIGHTS))
    parser.add_argument("--fontsource", "--latin", metavar="PACKAGES", type=Path,
                        help="make the Fontsource subsets (condensed Latin faces, a light "
                             "Chinese face) instead, from the packages unpacked in this folder")
    args = parser.parse_args()
    if args.fontsource is not None:
        for name in FONTSOURCE:
            path = make_fontsource_subset(name, args.fontsource)
            print(f"{path}: {path.stat().st_size / 1024:.0f} KiB")
        return
    for weight in args.weights:
        path = make_subset(weight)
        print(f"{path}: {path.stat().st_size / 1024:.0f} KiB, {len(glyph_text())} characters")


if __name__ == "__main__":
    main()
