"""Rewrite results files so that they name no folder of the machine that wrote them.

    python tools/portable_results.py [FILE_OR_FOLDER ...]   (default: results/)

Every string of a results JSON that is an absolute path in the repository or beside it is made
relative to the repository (:func:`lpr_lib.repro.portable`, which :func:`write_result` now
applies to what it writes); nothing else in the file changes. Files written before the writer
did this are brought in line; the others are left untouched. Prints the files it rewrote.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from lpr_lib.repro import RESULTS_DIR, portable


def main(argv=None) -> int:
    targets = [Path(a) for a in (argv if argv is not None else sys.argv[1:])] or [RESULTS_DIR]
    files = [f for t in targets for f in (sorted(t.rglob("*.json")) if t.is_dir() else [t])]
    for path in files:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        fixed = portable(data)
        if fixed != data:
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(fixed, indent=2, ensure_ascii=False) + "\n",
                           encoding="utf-8")
            tmp.replace(path)
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
