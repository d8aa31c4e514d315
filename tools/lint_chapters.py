"""Run ruff, with the project's rules, on the code cells of every chapter (``book/*.md``).

Ruff reads Python files and notebooks, not MyST Markdown: each chapter is written as a
notebook (jupytext) into a temporary folder, checked there cell by cell, and every finding
is reported against the chapter's own file. ``--fix`` applies ruff's safe fixes and writes
the fixed cells back into the chapter.

    python tools/lint_chapters.py            # make lint runs this after `ruff check .`
    python tools/lint_chapters.py --fix
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[1]


def chapters(folder: Path = ROOT / "book") -> list[Path]:
    return sorted(folder.glob("[0-9][0-9]_*.md"))


def ruff(paths: list[Path], fix: bool = False) -> list[dict]:
    """Ruff's findings (its JSON records) for notebook ``paths``; fixes them in place."""
    cmd = [sys.executable, "-m", "ruff", "check", "--config", str(ROOT / "pyproject.toml"),
           "--output-format", "json", "--no-cache", *(["--fix"] if fix else []),
           *map(str, paths)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode not in (0, 1):
        raise SystemExit(f"ruff failed: {done.stderr.strip()}")
    return json.loads(done.stdout or "[]")


def lint(paths: list[Path], fix: bool = False) -> list[str]:
    """One line per finding, ``book/NN_name.md: cell K, line L: CODE message``."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        notebooks = {}
        for path in paths:
            nb = jupytext.read(path)
            target = Path(tmp) / (path.stem + ".ipynb")
            jupytext.write(nb, target)
            notebooks[target.name] = (path, nb, target)
        findings = ruff([t for _, _, t in notebooks.values()], fix=fix)
        if fix:
            for path, nb, target in notebooks.values():
                fixed = jupytext.read(target)
                for cell, new in zip(nb.cells, fixed.cells):
                    cell.source = new.source
                jupytext.write(nb, path, fmt="md:myst")
        for f in findings:
            path, nb, _ = notebooks[Path(f["filename"]).name]
            line = f["location"]["row"]
            if f.get("cell"):  # 1-based over all cells: the line of the chapter's file
                line += code_cell_lines(path)[_code_ordinal(nb, f["cell"] - 1)] - 1
            name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            out.append(f"{name}:{line}: {f['code']} {f['message']}")
    return out


def _code_ordinal(nb, index: int) -> int:
    """The ordinal among code cells of the notebook's cell ``index``."""
    return sum(c.cell_type == "code" for c in nb.cells[:index])


def code_cell_lines(path: Path) -> list[int]:
    """The line (1-based) of each code cell's first line of code in a MyST notebook."""
    lines = path.read_text(encoding="utf-8").split("\n")
    starts = []
    for i, line in enumerate(lines):
        if line.startswith("```{code-cell}"):
            j = i + 1
            if j < len(lines) and lines[j] == "---":  # options as a YAML block
                j = lines.index("---", j + 1) + 1
            elif j < len(lines) and lines[j].startswith(":"):  # options as :key: lines
                while lines[j].startswith(":"):
                    j += 1
                j += 1  # the blank line after them
            starts.append(j + 1)
    return starts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", type=Path, help="default: every book/NN_*.md")
    parser.add_argument("--fix", action="store_true", help="apply ruff's fixes to the chapters")
    args = parser.parse_args(argv)
    found = lint([p.resolve() for p in args.chapters] or chapters(), fix=args.fix)
    for line in found:
        print(line)
    print(f"{len(found)} finding(s) in the chapters' code cells" if found
          else "the chapters' code cells pass ruff")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
