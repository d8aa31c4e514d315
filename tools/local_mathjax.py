"""Copy MathJax 3 (its ES5 build, from the ``django-static-mathjax`` package on PyPI, which
holds MathJax's files and needs no Django) into ``DEST/mathjax``, for the book to serve
locally: ``_config.yml`` points Sphinx's ``mathjax_path`` at it, so the formulas typeset
without a network. ``make book`` runs this before building.

    python tools/local_mathjax.py _mathjax
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path


def mathjax_source() -> Path:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("local_mathjax: the MathJax files are not installed "
                         "(pip install django-static-mathjax, part of the book extra)")
    es5 = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5"
    if not (es5 / "tex-chtml.js").is_file():
        raise SystemExit(f"local_mathjax: {es5}/tex-chtml.js not found (another `mathjax` "
                         "package installed?)")
    return es5


def main(dest: str) -> int:
    target = Path(dest) / "mathjax"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(mathjax_source(), target)
    print(f"MathJax copied to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "_mathjax"))
