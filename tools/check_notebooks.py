"""Fail when a chapter would render badly.

    python tools/check_notebooks.py book                      # the chapters' sources
    python tools/check_notebooks.py _build/jupyter_execute    # what the build executed

On a chapter's source (``book/NN_name.md``, a MyST Markdown notebook): a control character in
a cell (``"\\beta"`` typed as ``"\beta"`` in a Python string becomes a backspace and "eta": the
maths renders broken and no build warns). On an executed notebook (``make book`` writes them
under ``_build/jupyter_execute``): the same, and no outputs at all, an error output, an image in
the output of a cell tagged ``real-images`` (real photographs are never published), or a path
of the machine that ran it in an output (the notebooks a reader downloads).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: where a machine's own files show through: temporary folders, home and work folders, and
#: the repr of a path object
MACHINE_PATH = re.compile(
    r"PosixPath\(|WindowsPath\(|(?<![\w.])/(?:tmp|home|work|root|Users|var/folders)/")
TEXT_MIMES = ("text/plain", "text/html", "text/markdown")


def cached_cells(path: Path) -> list | None:
    """The cells of ``path`` with the outputs the execution cache holds for it, or None.

    On a rebuild, Jupyter Book renders a chapter whose code has not changed from its cache
    (``_build/.jupyter_cache``, beside ``_build/jupyter_execute``) and writes the notebook
    without outputs; the outputs it rendered are the cached ones."""
    cache_dir = next((d / ".jupyter_cache" for d in Path(path).resolve().parents
                      if (d / ".jupyter_cache").is_dir()), None)
    if cache_dir is None:
        return None
    import nbformat
    from jupyter_cache import get_cache

    cache = get_cache(cache_dir)
    try:
        record = cache.match_cache_notebook(nbformat.read(path, as_version=4))
    except KeyError:  # not in the cache
        return None
    bundle = cache.get_cache_bundle(record.pk)
    return json.loads(nbformat.writes(bundle.nb))["cells"]


def problems(path: Path) -> list[str]:
    path = Path(path)
    if path.suffix == ".md":  # a source: read as text (a control character stops YAML)
        return [f"line {n} holds the control character {m.group()!r} (a backslash escape "
                f"read by Python?)"
                for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1)
                if (m := CONTROL.search(line))]
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    if path.suffix == ".ipynb" and not any(c.get("outputs") for c in cells
                                           if c["cell_type"] == "code"):
        cells = cached_cells(path) or cells  # rendered from the cache: check those outputs
    code = [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    out = []
    if path.suffix == ".ipynb" and code and not any(c.get("outputs") for c in code):
        out.append("no code cell has outputs (was it executed?)")
    for i, cell in enumerate(code):
        tags = cell.get("metadata", {}).get("tags", [])
        if "real-images" in tags and any(k.startswith("image/") for o in cell.get("outputs", [])
                                         for k in o.get("data", {})):
            out.append(f"code cell {i} is tagged real-images and shows an image")
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                out.append(f"code cell {i} has an error output: "
                           f"{o.get('ename')}: {o.get('evalue')}")
    for i, cell in enumerate(cells):
        m = CONTROL.search("".join(cell["source"]))
        if m:
            out.append(f"cell {i} ({cell['cell_type']}) holds the control character "
                       f"{m.group()!r} (a backslash escape read by Python?)")
        for o in cell.get("outputs", []):
            texts = ["".join(o.get("text", []))] + [
                "".join(v) if isinstance(v, list) else str(v)
                for k, v in o.get("data", {}).items() if k in TEXT_MIMES]
            for text in texts:
                m = MACHINE_PATH.search(text)
                if m:
                    out.append(f"cell {i} has a machine path in its output: "
                               f"...{text[max(0, m.start() - 30):m.end() + 40]}...")
                    break
    return out


def chapter_files(folder: Path) -> list[Path]:
    """The chapters' sources in ``folder``, or the executed notebooks under it."""
    folder = Path(folder)
    return sorted(folder.glob("[0-9][0-9]_*.md")) or sorted(folder.rglob("[0-9][0-9]_*.ipynb"))


def main(folder: str) -> int:
    paths = chapter_files(Path(folder))
    if not paths:
        print(f"{folder}: no chapter found", file=sys.stderr)
        return 1
    bad = 0
    for path in paths:
        for p in problems(path):
            print(f"{path}: {p}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "book"))
