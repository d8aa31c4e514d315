"""``lpr synth``: render synthetic plates and their label file."""
from __future__ import annotations

import sys
import time


def cli_synth(args) -> int:
    from lpr_lib.synth.config import SynthConfig
    from lpr_lib.synth.generator import generate

    config = SynthConfig.from_yaml(args.config) if args.config else SynthConfig()
    t0 = time.perf_counter()
    try:
        path = generate(args.count, args.out, seed=args.seed, kinds=args.kinds, size=args.size,
                        workers=args.workers, config=config,
                        overwrite=getattr(args, "overwrite", False))
    except FileExistsError as err:
        hint = "" if getattr(args, "overwrite", False) else " (--overwrite replaces it)"
        print(f"lpr synth: error: {err}{hint}", file=sys.stderr)
        return 2
    except OSError as err:  # a folder that cannot be created or written: say which, no traceback
        where = f"{err.filename}: " if err.filename else ""
        print(f"lpr synth: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    dt = time.perf_counter() - t0
    print(f"wrote {args.count} plates and {path} in {dt:.1f} s ({args.count / dt:.0f} plates/s)")
    return 0
