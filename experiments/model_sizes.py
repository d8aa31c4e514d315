"""Chapter 4's table of backbones: parameters and multiply-adds of every backbone, with the
plate heads, at widths 1.0 and 0.25 and the default input size.

    .venv/bin/python experiments/model_sizes.py     # about half a minute (12 models built)

Writes ``results/model_sizes.json`` (:func:`lpr_lib.model.flops_table`'s rows); chapter 4
prints it.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# this checkout's library, not whichever one the environment installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

WIDTHS = (1.0, 0.25)


def main() -> int:
    from lpr_lib.model import flops_table
    from lpr_lib.plates import DEFAULT_SIZE
    from lpr_lib.repro import REPO_ROOT, write_result

    started = time.time()
    path = write_result("model_sizes", {"rows": flops_table(widths=WIDTHS)},
                        config={"widths": list(WIDTHS), "image_size": list(DEFAULT_SIZE)},
                        started=started)
    print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
