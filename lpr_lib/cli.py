"""The ``lpr`` command: one sub-command per step of the flow, every one listed in
:data:`COMMANDS`.

Each sub-command's options are declared here, so that ``lpr --help`` answers at once; its
work is done by the handler the table names (``module:function``, a function of the parsed
arguments that returns the exit status), in the module that owns the idea, imported only
when that sub-command runs (TensorFlow is slow to import).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before anything imports TensorFlow


def _size(text: str) -> tuple[int, int]:
    """Parse ``HxW`` (``48x144``) into ``(48, 144)``."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW, such as 48x144, not {text!r}") \
            from None
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, not {text!r}")
    return h, w


def _unit(text: str) -> float:
    """Parse a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], not {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {text!r}")
    return value


MODEL_HELP = ("a shipped model's name (mixed, synthetic, slim), 'latest' (the newest run under "
              "runs/), a run folder or a .keras file (default: mixed, the shipped model)")
READ_MODEL_HELP = MODEL_HELP[:-1] + ("; or an export: a .tflite or .onnx file, a SavedModel "
                                     "folder, an lpr export folder)")


def _synth_arguments(s: argparse.ArgumentParser) -> None:
    from lpr_lib.plates import DEFAULT_SIZE

    h, w = DEFAULT_SIZE
    s.add_argument("--count", type=int, required=True, help="number of plates to render")
    s.add_argument("--out", required=True, help="output folder (created)")
    s.add_argument("--seed", type=int, default=None, help="random seed (default: the project's)")
    s.add_argument("--kinds", nargs="+", default=None, help="plate kinds to render (default: all)")
    s.add_argument("--size", type=_size, default=DEFAULT_SIZE,
                   help=f"output HxW (default {h}x{w})")
    s.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    s.add_argument("--config", default=None, help="YAML file with generator settings")
    s.add_argument("--overwrite", action="store_true",
                   help="replace an earlier `lpr synth` output in --out, whole (default: refuse)")


def _data_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("data", nargs="+", help="dataset(s): label file, folder, CCPD folder, TFRecord")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _check_arguments(c: argparse.ArgumentParser) -> None:
    _data_arguments(c)
    c.add_argument("--strict", action="store_true",
                   help="exit 1 on warnings too (duplicates, unlisted images)")


def _stats_arguments(c: argparse.ArgumentParser) -> None:
    _data_arguments(c)
    c.add_argument("--plot", default=None, help="write a class-frequency plot here")


def _train_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument("config", nargs="?", default=None, help="experiment YAML (default: the book's)")
    t.add_argument("--out", default=None, help="run folder (default: runs/<name>)")
    t.add_argument("--epochs", type=int, default=None, help="override the config's epochs")
    t.add_argument("--overwrite", action="store_true",
                   help="replace a finished run (or one started with another config) in the "
                        "run folder; the old one is kept until the new one saves an epoch")
    t.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override config fields (the value is YAML), e.g. model.width=0.5 "
                        "data.synth.tight_crops=0.3 data.augment.rotation_deg=6")


def _eval_arguments(e: argparse.ArgumentParser) -> None:
    e.add_argument("data", nargs="+", help="dataset(s) in any format the data module reads")
    e.add_argument("--model", default=None, help=READ_MODEL_HELP)
    e.add_argument("--json", action="store_true", help="print JSON")
    e.add_argument("--thresholds", type=float, nargs="+", default=[0.85, 0.95])


def _predict_arguments(pr: argparse.ArgumentParser) -> None:
    pr.add_argument("images", nargs="+", help="cropped plate images")
    pr.add_argument("--model", default=None, help=READ_MODEL_HELP)
    pr.add_argument("--json", action="store_true", help="print JSON")
    pr.add_argument("--min-confidence", type=_unit, default=None, metavar="F",
                    help="below this plate confidence the answer is 'no plate' "
                         "(default: lpr_lib.predict.MIN_CONFIDENCE, 0.5)")
    pr.add_argument("--locate", action="store_true",
                    help="cut each image down to the plate found by its colour first (for "
                         "loose crops with car body around the plate; lpr_lib.locate)")


def _prune_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="the trained run folder to prune (its best model and config)")
    p.add_argument("--ratio", type=float, required=True,
                   help="share of the prunable channels to cut, in [0, 1) (lowest |gamma| first)")
    p.add_argument("--out", default=None, help="run folder of the fine-tuned narrower model "
                                              "(default: RUN_prunedNN beside RUN)")
    p.add_argument("--epochs", type=int, default=6, help="fine-tuning epochs (default 6)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a finished fine-tuning run in --out")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override the run's config for the fine-tuning (the value is YAML)")


def _ablate_arguments(a: argparse.ArgumentParser) -> None:
    from lpr_lib.ablation import DATA_SETTINGS, EXTRA_ROWS, ROWS, SCALES, SEEDS

    a.add_argument("--rows", nargs="+", choices=ROWS + EXTRA_ROWS, metavar="ROW",
                   help=f"rows to run (default: the table's: {', '.join(ROWS)}; the chapters "
                        f"add {', '.join(EXTRA_ROWS)})")
    a.add_argument("--data", nargs="+", choices=DATA_SETTINGS,
                   help="data settings (default: both)")
    a.add_argument("--seeds", nargs="+", type=int, metavar="N",
                   help=f"seeds (default: {' '.join(map(str, SEEDS))})")
    a.add_argument("--full", action="store_true",
                   help="the full-size table (configs/ablation/scale_full.yaml: hours a row "
                        "on a CPU) instead of the book's (the same as --scale full)")
    a.add_argument("--scale", choices=SCALES, default=None,
                   help="book (the default: configs/ablation/scale_book.yaml), long (the "
                        "book's size for 4 times its steps: the convergence check), full, "
                        "or any other configs/ablation/scale_NAME.yaml")
    a.add_argument("--close", action="store_true",
                   help=f"the third seed ({SEEDS[2]}, or --seeds) for the rows of every pair "
                        "whose difference is at most twice its spread in the results so far")
    a.add_argument("--unresolved", action="store_true",
                   help="the next seed for both rows of every pair whose paired 95%% interval "
                        "still holds zero (at most 5 seeds a row)")
    a.add_argument("--remeasure", action="store_true",
                   help="measure the finished jobs (of --rows, --data, --seeds) again from "
                        "their trained models, without training, where their figures are "
                        "older than what this version records")
    a.add_argument("--list", action="store_true", help="list the jobs, done or to do, and stop")
    a.add_argument("--runs", default=None, help="run folders' root (default runs/ablation)")
    a.add_argument("--results", default=None,
                   help="results' root (default results/ablation)")


def _export_arguments(x: argparse.ArgumentParser) -> None:
    x.add_argument("--model", default=None, help=MODEL_HELP)
    x.add_argument("--out", required=True, help="output folder")
    x.add_argument("--format", default="both",
                   choices=["savedmodel", "tflite", "tflite_int8", "onnx", "all", "both"],
                   help="tflite_int8: int8 weights; onnx: needs tf2onnx (the onnx extra); "
                        "all: the four; both: savedmodel and tflite (default)")


@dataclass(frozen=True)
class Command:
    """One sub-command: its handler (``"module:function"``, imported when the command runs),
    its one-line help, and the function that declares its options."""

    handler: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]

    def load(self) -> Callable[[argparse.Namespace], int]:
        """The handler function (its module imported now)."""
        module, _, function = self.handler.partition(":")
        return getattr(importlib.import_module(module), function)


#: Every sub-command of ``lpr``, in the order ``lpr --help`` lists them.
COMMANDS = {
    "synth": Command("lpr_lib.synth.cli:cli_synth",
                     "render synthetic plates and their label file", _synth_arguments),
    "check": Command("lpr_lib.data.check:cli_check",
                     "report unreadable images, unknown characters, bad labels, duplicates",
                     _check_arguments),
    "stats": Command("lpr_lib.data.stats:cli_stats",
                     "class statistics of a dataset, per position and province", _stats_arguments),
    "train": Command("lpr_lib.train:cli_train",
                     "train a model from a YAML config (default: the book's model)",
                     _train_arguments),
    "eval": Command("lpr_lib.evaluate:cli_eval", "evaluate a model on a dataset", _eval_arguments),
    "predict": Command("lpr_lib.predict:cli_predict", "read the plate in each image",
                       _predict_arguments),
    "prune": Command("lpr_lib.prune:cli_prune",
                     "network slimming: cut a trained run's low-|gamma| channels, fine-tune",
                     _prune_arguments),
    "ablate": Command("lpr_lib.ablation:cli_ablate",
                      "train and measure the ablation table's rows (resumable; "
                      "results/ablation/)", _ablate_arguments),
    "export": Command("lpr_lib.export:cli_export",
                      "export a trained model (SavedModel, TFLite, int8 TFLite, ONNX), each "
                      "checked against Keras", _export_arguments),
}


def build_parser() -> argparse.ArgumentParser:
    from lpr_lib import __version__

    parser = argparse.ArgumentParser(
        prog="lpr", description="Chinese licence-plate recognition as multi-label classification.")
    parser.add_argument("--version", action="version", version=f"lpr_lib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        command.arguments(sub.add_parser(name, help=command.help, description=command.help))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from lpr_lib._tf import DependencyMissing

    handler = COMMANDS[args.command].load()
    try:
        return int(handler(args) or 0)
    except (OSError, ValueError, DependencyMissing) as err:
        # the library's errors name the file and the problem (or the missing TensorFlow)
        if isinstance(err, OSError) and err.filename and err.strerror:
            err = f"{err.filename}: {err.strerror.lower()}"
        print(f"lpr {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
