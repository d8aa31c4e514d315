"""Re-execute chapters at full size (``LPR_QUICK=0``), in place, writing their figures into
``book/figures/``: the one way to refresh a chapter's committed outputs.

    python tools/run_chapter.py 04            # a chapter by number (or by file name)
    python tools/run_chapter.py 01 03 --dry   # say what would run
    make chapter CH=04

A chapter's source is its notebook, edited in Jupyter, except for chapters 1, 3 and
8-18, which a script in tools/ writes cell by cell (reviewable as text): their script runs
first, so that an edit there reaches the notebook. Outputs of cells tagged ``real-images``
are cleared after the run: real photographs are never committed. Long runs (chapter 4's
default model, chapter 8's study) are reused when their run folder already holds the
finished run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
#: chapters written by a generator script (the script is their source)
GENERATORS = {"01": "make_intro_notebook.py", "03": "make_data_notebook.py",
              "08": "make_real_plates_notebook.py", "09": "make_pruning_notebook.py",
              "10": "make_deployment_notebook.py",
              **{n: "make_ablation_chapters.py" for n in ("11", "12", "13", "14", "15", "16",
                                                          "17", "18")}}
#: generators that write several chapters: they are given the chapter's name
SEVERAL = {"make_ablation_chapters.py"}


def chapter_path(name: str) -> Path:
    """``"4"``, ``"04"``, ``"04_model_and_training"`` or a path -> the chapter's notebook."""
    path = Path(name)
    if path.suffix == ".ipynb" and path.is_file():
        return path.resolve()
    stem = path.stem
    number = stem.split("_")[0]
    if number.isdigit():
        matches = sorted(BOOK.glob(f"{int(number):02d}_*.ipynb"))
    else:
        matches = sorted(BOOK.glob(f"{stem}*.ipynb"))
    if len(matches) != 1:
        known = ", ".join(p.stem for p in sorted(BOOK.glob("[0-9][0-9]_*.ipynb")))
        raise SystemExit(f"run_chapter: no single chapter matches {name!r} (chapters: {known})")
    return matches[0]


def strip_real_images(path: Path) -> int:
    """Clear the outputs of cells tagged ``real-images``; return how many were cleared."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    n = 0
    for cell in nb["cells"]:
        if "real-images" in cell.get("metadata", {}).get("tags", []) and cell.get("outputs"):
            cell["outputs"], cell["execution_count"] = [], None
            n += 1
    if n:
        path.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return n


def commands(path: Path) -> list[list[str]]:
    number = path.name[:2]
    out = []
    if number in GENERATORS:
        script = GENERATORS[number]
        out.append([sys.executable, str(ROOT / "tools" / script)]
                   + ([path.stem] if script in SEVERAL else []))
    out.append([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                "--inplace", "--ExecutePreprocessor.timeout=-1", str(path)])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="+", help="chapter numbers or notebook names")
    parser.add_argument("--dry", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)
    paths = [chapter_path(c) for c in args.chapters]
    env = {**os.environ, "LPR_QUICK": "0"}
    for path in paths:
        for cmd in commands(path):
            print(" ".join(cmd), flush=True)
            if not args.dry:
                subprocess.run(cmd, check=True, cwd=ROOT, env=env)
        if not args.dry:
            n = strip_real_images(path)
            print(f"{path.relative_to(ROOT)}: executed" + (f"; {n} real-image output(s) cleared"
                                                          if n else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
