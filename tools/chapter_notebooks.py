"""The chapters as notebooks for nbval, with the outputs that results/ gives.

    python tools/chapter_notebooks.py build _build/nbval   # make notebooks runs nbval on these
    python tools/chapter_notebooks.py record                # after make book: new expected outputs

A chapter's source is a MyST Markdown notebook without outputs. ``build`` writes each one as a
notebook (jupytext) and gives every cell tagged ``nbval-check-output`` (cells that print
tables or numbers read from ``results/``) the output recorded in ``book/outputs/<chapter>.json``;
nbval then runs the notebook (quick mode) and compares those cells' fresh output with it, so
a chapter whose printed numbers no longer match ``results/`` fails ``make test``. ``record``
takes the outputs of those cells from the notebooks ``make book`` executed at full size
(``_build/jupyter_execute/book``): run it when results/ changed on purpose, and read the
chapter's prose again.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
OUTPUTS = BOOK / "outputs"
EXECUTED = ROOT / "_build" / "jupyter_execute" / "book"
#: nbval's cell tag for "compare this cell's output" (not shown in the book)
MARK = "nbval-check-output"
#: what is compared: text and tables, not pictures or widget state
KEEP_MIMES = ("text/plain", "text/html")


def chapters() -> list[Path]:
    return sorted(BOOK.glob("[0-9][0-9]_*.md"))


def checked_cells(nb) -> list[int]:
    """The indices (among all cells) of the code cells marked for output checking."""
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and MARK in c.metadata.get("tags", [])]


def _text_outputs(outputs) -> list[dict]:
    kept = []
    for o in outputs:
        if o.get("output_type") == "stream" and o.get("name") == "stdout":
            kept.append({"output_type": "stream", "name": "stdout", "text": o["text"]})
        elif o.get("output_type") in ("execute_result", "display_data"):
            data = {k: v for k, v in o.get("data", {}).items() if k in KEEP_MIMES}
            if data:
                kept.append({"output_type": o["output_type"], "data": data, "metadata": {},
                             **({"execution_count": 1}
                                if o["output_type"] == "execute_result" else {})})
    return kept


def build(out: Path) -> list[Path]:
    """Every chapter as ``out/<chapter>.ipynb``, checked cells holding their expected output."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in chapters():
        nb = jupytext.read(path)
        expected_file = OUTPUTS / f"{path.stem}.json"
        expected = (json.loads(expected_file.read_text(encoding="utf-8"))
                    if expected_file.is_file() else {})
        for i in checked_cells(nb):
            key = _key(nb.cells[i].source)
            if key not in expected:
                raise SystemExit(f"{path.name}: a cell tagged {MARK} has no recorded output in "
                                 f"{expected_file.relative_to(ROOT)} (make book, then "
                                 f"python tools/chapter_notebooks.py record)")
            nb.cells[i].outputs = [nbformat.from_dict(o) for o in expected[key]]
            nb.cells[i].execution_count = 1
        target = out / f"{path.stem}.ipynb"
        nbformat.write(nb, target)
        written.append(target)
    return written


def _key(source: str) -> str:
    """A checked cell is known by its whole code, blank lines and trailing spaces aside
    (stable when cells around it move; two cells that start alike, such as the same table
    for two data settings, stay apart)."""
    return "\n".join(line.rstrip() for line in source.splitlines() if line.strip())


def record(executed: Path = EXECUTED) -> list[Path]:
    """Write ``book/outputs/<chapter>.json`` from the executed notebooks of ``make book``."""
    OUTPUTS.mkdir(exist_ok=True)
    written = []
    for path in chapters():
        run = executed / f"{path.stem}.ipynb"
        nb = jupytext.read(path)
        cells = checked_cells(nb)
        target = OUTPUTS / f"{path.stem}.json"
        if not cells:
            target.unlink(missing_ok=True)
            continue
        if not run.is_file():
            raise SystemExit(f"{run.relative_to(ROOT)} is missing: run make book first")
        done = nbformat.read(run, as_version=4)
        by_key = {_key(c.source): c for c in done.cells if c.cell_type == "code"}
        expected = {}
        keys = [_key(nb.cells[i].source) for i in cells]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise SystemExit(f"{path.name}: {len(twice)} cell(s) tagged {MARK} have the same "
                             f"code as another ({twice[0][:60]!r}...): make each one distinct")
        for i in cells:
            key = _key(nb.cells[i].source)
            if key not in by_key:
                raise SystemExit(f"{path.name}: the executed notebook has no cell {key!r} "
                                 "(make book again)")
            expected[key] = _text_outputs(by_key[key].get("outputs", []))
        target.write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")
        written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="the chapters as notebooks into a folder")
    b.add_argument("out", type=Path)
    sub.add_parser("record", help="expected outputs from make book's executed notebooks")
    args = parser.parse_args(argv)
    paths = build(args.out) if args.command == "build" else record()
    print(f"{args.command}: {len(paths)} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
