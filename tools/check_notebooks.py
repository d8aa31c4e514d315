"""Fail when a committed notebook would render badly: no outputs, or an error output.

The book is built from the notebooks' committed outputs (the full run), not by
executing them, so this check stands in for Jupyter Book's execution errors.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def problems(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    out = []
    if code and not any(c.get("outputs") for c in code):
        out.append("no code cell has outputs (execute it with LPR_QUICK=0 and commit the outputs)")
    for i, cell in enumerate(code):
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                out.append(f"code cell {i} has an error output: {o.get('ename')}: {o.get('evalue')}")
    return out


def main(folder: str) -> int:
    bad = 0
    for path in sorted(Path(folder).glob("*.ipynb")):
        for p in problems(path):
            print(f"{path}: {p}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "book"))
