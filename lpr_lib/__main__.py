"""``python -m lpr_lib`` is the ``lpr`` command."""
import sys

from lpr_lib.cli import main

if __name__ == "__main__":
    sys.exit(main())
