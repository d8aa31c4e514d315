"""The rendered-book check (tools/check_rendered_book.py) finds what a reader would see broken.

The browser tests open small hand-made pages in headless Chromium; they skip when Chromium,
its WebDriver or selenium is missing (CI installs them: see .ci/run). The link check is
plain Python and always runs.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import check_rendered_book as crb  # noqa: E402

FONT = ROOT / "lpr_lib" / "synth" / "fonts" / "LPRPlateSans.otf"

browser = pytest.mark.skipif(
    not ((shutil.which("chromium") or shutil.which("chromium-browser"))
         and shutil.which("chromedriver") and importlib.util.find_spec("selenium")),
    reason="needs Chromium, its WebDriver and selenium (apt-get install chromium "
           "chromium-driver; pip install selenium)")


def page(body: str, head: str = "") -> str:
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8">{head}</head>'
            f"<body><main>{body}</main></body></html>")


PLATE_FONT_CSS = ('<style>@font-face{font-family:"LPR Plate Sans";src:url("LPRPlateSans.otf");}'
                  'main{font-family:"LPR Plate Sans",sans-serif}</style>')


def test_links_to_missing_pages_and_anchors_are_found(tmp_path):
    (tmp_path / "a.html").write_text(page(
        '<h1 id="top">A</h1><a href="b.html#there">ok</a> <a href="b.html#gone">anchor</a> '
        '<a href="c.html">page</a> <a href="#top">self</a> <a href="https://example.org/x">'
        'web</a> <a href="_static/x.css">asset</a>'), encoding="utf-8")
    (tmp_path / "b.html").write_text(page('<p id="there">B</p>'), encoding="utf-8")
    found = crb.broken_links(tmp_path / "a.html", tmp_path, {})
    assert found == ["link to a missing file: _static/x.css",
                     "link to a missing anchor: b.html#gone",
                     "link to a missing file: c.html"]
    assert crb.broken_links(tmp_path / "b.html", tmp_path, {}) == []


def test_a_chapter_offers_its_executed_notebook(tmp_path):
    import json

    book = tmp_path / "book"
    (tmp_path / "_sources" / "book").mkdir(parents=True)
    book.mkdir()
    cell = {"cell_type": "code", "source": "1", "metadata": {}, "execution_count": 1}
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {**cell, "outputs": [{"output_type": "stream", "name": "stdout", "text": "1"}]}]}
    (tmp_path / "_sources" / "book" / "01_a.ipynb").write_text(json.dumps(nb))
    (tmp_path / "_sources" / "book" / "02_b.ipynb").write_text(
        json.dumps({**nb, "cells": [{**cell, "outputs": []}]}))
    link = '<a href="../_sources/book/{}.ipynb">.ipynb</a>'
    for name in ("01_a", "02_b", "03_c"):
        (book / f"{name}.html").write_text(page(link.format(name)), encoding="utf-8")
    (book / "04_d.html").write_text(page("no download"), encoding="utf-8")
    assert crb.notebook_download(book / "01_a.html") == []
    assert "no outputs" in crb.notebook_download(book / "02_b.html")[0]
    assert "not a notebook" in crb.notebook_download(book / "03_c.html")[0]
    assert crb.notebook_download(book / "04_d.html") == ["no .ipynb download of the chapter"]
    assert crb.CHAPTER.search("book/01_a.html") and not crb.CHAPTER.search("intro.html")


def test_pages_of_skips_sphinx_index_pages_and_assets(tmp_path):
    for name in ("index.html", "book/ch1.html", "genindex.html", "search.html",
                 "_static/x.html", "_sources/y.html"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(page("x"), encoding="utf-8")
    assert [p.relative_to(tmp_path).as_posix() for p in crb.pages_of(tmp_path)] == \
        ["book/ch1.html", "index.html"]


def _has_cjk_system_font() -> bool:
    if not shutil.which("fc-list"):
        return False
    out = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
    return bool(out.strip())


@browser
def test_the_browser_check_reports_each_kind_of_problem(tmp_path):
    shutil.copy(FONT, tmp_path / "LPRPlateSans.otf")
    (tmp_path / "good.html").write_text(page(
        '<p>Plate 皖A12345 in the plate font.</p><img src="ok.png" alt="x">',
        PLATE_FONT_CSS), encoding="utf-8")
    # a 1x1 PNG
    (tmp_path / "ok.png").write_bytes(bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a1d4e9b30000000049454e44ae426082"))
    (tmp_path / "bad.html").write_text(page(
        '<img src="missing.png" alt="gone"><span class="math notranslate">\\(x^2\\)</span>'
        '<p style="font-family: monospace">皖A12345</p>'
        '<script>notDefinedAnywhere();</script>'), encoding="utf-8")
    problems = crb.check_site(tmp_path, screenshots=tmp_path / "shots")
    assert "good.html" not in problems, problems.get("good.html")
    bad = problems["bad.html"]
    assert "image does not load: missing.png" in bad
    assert any(p.startswith("maths not typeset: \\(x^2\\)") for p in bad)
    assert any(p.startswith("console error:") and "notDefinedAnywhere" in p for p in bad)
    tofu = [p for p in bad if p.startswith("characters drawn as missing-glyph boxes")]
    if _has_cjk_system_font():  # the system font draws 皖: no box to find
        assert not tofu
    else:
        assert tofu == ["characters drawn as missing-glyph boxes: 皖"]
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == ["bad.png", "good.png"]


@browser
def test_typeset_maths_passes_and_a_tex_error_is_reported(tmp_path):
    mathjax = tmp_path / "mathjax"
    subprocess.run([sys.executable, str(ROOT / "tools" / "local_mathjax.py"), str(tmp_path)],
                   check=True, capture_output=True)
    head = ('<script>window.MathJax = {"options": {"processHtmlClass": "math"}}</script>'
            f'<script defer src="{mathjax.name}/tex-chtml.js"></script>')
    (tmp_path / "ok.html").write_text(page(
        '<span class="math notranslate">\\(\\beta_2 \\approx 0.999\\)</span>', head),
        encoding="utf-8")
    (tmp_path / "err.html").write_text(page(
        '<span class="math notranslate">\\(x^2^3\\)</span>', head), encoding="utf-8")
    problems = crb.check_site(tmp_path)
    assert "ok.html" not in problems, problems.get("ok.html")
    assert any(p.startswith("maths typeset as an error") for p in problems["err.html"])
