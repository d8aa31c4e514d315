"""Open every page of the built book in headless Chromium and report what a reader would see
broken: an image that does not load, a link to a page or anchor that is not there, maths left
as TeX source or typeset as an error, a Chinese character drawn as a missing-glyph box,
errors in the browser console, and a chapter whose page offers no ``.ipynb`` download of the
executed notebook (or offers one that is not a notebook with outputs).

    python tools/check_rendered_book.py _build/html --screenshots _build/screenshots

Needs Chromium and its WebDriver (Debian: ``apt-get install chromium chromium-driver``) and
the ``selenium`` package; ``make check-book`` builds the book and runs this. Exits 1 and
lists the problems, page by page, when there are any; writes one screenshot a page (the
first screen) when ``--screenshots`` is given.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: Pages that Sphinx writes but a reader does not read as a chapter.
SKIP = {"genindex.html", "search.html"}

#: Waits for MathJax 3 to finish typesetting (or returns at once when the page has none).
WAIT_MATHJAX = """
const done = arguments[arguments.length - 1];
const mj = window.MathJax;
if (mj && mj.startup && mj.startup.promise) {
  mj.startup.promise.then(() => done(true), () => done(false));
} else { done(null); }
"""

#: Per page: images that did not load, maths left untypeset or typeset as an error, and the
#: CJK characters of the page's text that its font draws as the missing-glyph box.
INSPECT = r"""
const images = [...document.images]
  .filter(i => !(i.complete && i.naturalWidth > 0))
  .map(i => i.getAttribute('src'));
const maths = [...document.querySelectorAll('.math')];
const raw = maths.filter(m => !m.querySelector('mjx-container'))
  .map(m => m.textContent.trim().slice(0, 60));
const errors = [...document.querySelectorAll('mjx-merror')]
  .map(m => (m.getAttribute('data-mjx-error') || m.textContent).slice(0, 60));
const tofu = [];
const main = document.querySelector('main') || document.body;
const text = main.innerText;
const chars = [...new Set(text.match(/[\u3400-\u9fff]/g) || [])];
if (chars.length) {
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 64;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const style = getComputedStyle(main);
  ctx.font = '48px ' + style.fontFamily;
  const draw = c => {
    ctx.clearRect(0, 0, 64, 64); ctx.fillText(c, 4, 52);
    return ctx.getImageData(0, 0, 64, 64).data.join(',');
  };
  const missing = draw('\uE000');  // a private-use code point: the missing-glyph box
  for (const c of chars) { if (draw(c) === missing) tofu.push(c); }
}
return {images, raw, errors, tofu, mathCount: maths.length};
"""


def pages_of(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.html")
                  if p.name not in SKIP and not any(part.startswith("_")
                                                    for part in p.relative_to(root).parts))


def _ids(page: Path, cache: dict) -> set[str]:
    if page not in cache:
        html = page.read_text(encoding="utf-8", errors="replace")
        cache[page] = set(re.findall(r'\bid="([^"]+)"', html))
    return cache[page]


def broken_links(page: Path, root: Path, cache: dict) -> list[str]:
    """Links from ``page`` to a file of the site that is missing, or to a missing anchor."""
    html = page.read_text(encoding="utf-8", errors="replace")
    problems = []
    for href in sorted(set(re.findall(r'\bhref="([^"]+)"', html))):
        parts = urlsplit(href)
        if parts.scheme or href.startswith(("//", "mailto:", "javascript:")):
            continue
        target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if not target.exists():
            problems.append(f"link to a missing file: {href}")
        elif target.suffix == ".html" and parts.fragment and \
                unquote(parts.fragment) not in _ids(target, cache):
            problems.append(f"link to a missing anchor: {href}")
    return problems


#: The chapters' pages: each offers its executed notebook for download.
CHAPTER = re.compile(r"(^|/)\d\d_[^/]+\.html$")


def notebook_download(page: Path) -> list[str]:
    """A chapter's page must link its executed notebook (``.ipynb``), and the file must be a
    notebook whose code cells carry outputs."""
    import json

    html = page.read_text(encoding="utf-8", errors="replace")
    links = sorted({h for h in re.findall(r'\bhref="([^"]+\.ipynb)"', html)
                    if not urlsplit(h).scheme})
    if not links:
        return ["no .ipynb download of the chapter"]
    problems = []
    for href in links:
        target = (page.parent / unquote(urlsplit(href).path)).resolve()
        try:
            nb = json.loads(target.read_text(encoding="utf-8"))
            code = [c for c in nb["cells"] if c.get("cell_type") == "code"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            problems.append(f"the .ipynb download is not a notebook: {href} ({err})")
            continue
        if code and not any(c.get("outputs") for c in code):
            problems.append(f"the .ipynb download has no outputs (not executed): {href}")
    return problems


def make_driver(width: int = 1280, height: int = 1600):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--allow-file-access-from-files", f"--window-size={width},{height}"):
        options.add_argument(arg)
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary:
        options.binary_location = binary
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = shutil.which("chromedriver")
    if not driver_path:
        raise RuntimeError("chromedriver not found: install Chromium's WebDriver "
                           "(Debian: apt-get install chromium chromium-driver)")
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_script_timeout(60)
    return driver


def check_site(root: Path, screenshots: Path | None = None, driver=None) -> dict[str, list[str]]:
    """``{page: [problem, ...]}`` for every page of the site at ``root`` with a problem."""
    root = Path(root).resolve()
    pages = pages_of(root)
    if not pages:
        raise FileNotFoundError(f"{root}: no HTML pages (build the book first: make book)")
    own = driver is None
    driver = driver or make_driver()
    problems: dict[str, list[str]] = {}
    cache: dict = {}
    try:
        for page in pages:
            name = page.relative_to(root).as_posix()
            found = broken_links(page, root, cache)
            if CHAPTER.search(name):
                found += notebook_download(page)
            driver.get(page.as_uri())
            if driver.execute_async_script(WAIT_MATHJAX) is False:
                found.append("MathJax failed to start")
            seen = driver.execute_script(INSPECT)
            found += [f"image does not load: {src}" for src in seen["images"]]
            found += [f"maths not typeset: {t}" for t in seen["raw"]]
            found += [f"maths typeset as an error: {t}" for t in seen["errors"]]
            if seen["tofu"]:
                found.append("characters drawn as missing-glyph boxes: " + "".join(seen["tofu"]))
            for entry in driver.get_log("browser"):
                if entry.get("level") == "SEVERE":
                    found.append(f"console error: {entry.get('message', '')[:200]}")
            if screenshots is not None:
                shot = Path(screenshots) / (name.replace("/", "__")[:-5] + ".png")
                shot.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(shot))
            if found:
                problems[name] = found
    finally:
        if own:
            driver.quit()
    return problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("site", type=Path, nargs="?", default=Path("_build/html"))
    p.add_argument("--screenshots", type=Path)
    a = p.parse_args(argv)
    problems = check_site(a.site, a.screenshots)
    n = len(pages_of(a.site.resolve()))
    for page, found in problems.items():
        print(page)
        for f in found:
            print(f"  {f}")
    print(f"{n} pages opened, {len(problems)} with problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
