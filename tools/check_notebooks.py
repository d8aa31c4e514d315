"""Fail when a committed notebook would render badly: no outputs, an error output, a control
character in a cell (``"\\beta"`` typed as ``"\beta"`` in a Python string becomes a backspace and
"eta": the maths renders broken and no build warns), or a path of the machine that ran it in
an output.

The book is built from the notebooks' committed outputs (the full run), not by
executing them, so this check stands in for Jupyter Book's execution errors.
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


def problems(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    out = []
    if code and not any(c.get("outputs") for c in code):
        out.append("no code cell has outputs (execute it with LPR_QUICK=0 and commit the outputs)")
    for i, cell in enumerate(code):
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                out.append(f"code cell {i} has an error output: "
                           f"{o.get('ename')}: {o.get('evalue')}")
    for i, cell in enumerate(nb["cells"]):
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


def main(folder: str) -> int:
    bad = 0
    for path in sorted(Path(folder).glob("*.ipynb")):
        for p in problems(path):
            print(f"{path}: {p}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "book"))
