"""``python -m lpr_lib.data --benchmark``: the input-pipeline benchmark (see :mod:`.bench`)."""
import argparse
import sys

from lpr_lib.data.bench import benchmark_pipeline


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lpr_lib.data", description=__doc__)
    parser.add_argument("--benchmark", action="store_true", help="time the input pipelines")
    parser.add_argument("--batches", type=int, default=None, help="timed batches per pipeline")
    parser.add_argument("--files", type=int, default=None, help="synthetic JPEGs to read back")
    parser.add_argument("--no-train-step", action="store_true", help="skip the training step")
    args = parser.parse_args(argv)
    if not args.benchmark:
        parser.print_help()
        return 0
    benchmark_pipeline(batches=args.batches, files=args.files, train_step=not args.no_train_step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
