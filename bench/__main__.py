"""``python -m bench``: run the benchmark's parts and write their JSON files (see
:mod:`bench`)."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import GOAL_MS, RESULTS, SETTINGS

PARTS = ("machine", "readers", "latency", "accuracy", "training", "synth")


class Log:
    """Progress lines with the minutes since the start (make bench's budget is 20)."""

    def __init__(self):
        self.start = time.perf_counter()

    def __call__(self, text: str) -> None:
        print(f"[{(time.perf_counter() - self.start) / 60:5.1f} min] {text}", flush=True)


def machine_part(quick: bool, log) -> dict:
    """The machine's description and its float32 matmul peak on one thread and on every
    core, each in a fresh process."""
    from lpr_lib.benchmark import describe_machine, measure_in_process

    out = describe_machine()
    repeats = "5" if quick else "30"
    out["peak"] = {}
    for key, threads in (("1", 1), ("all", 0)):
        out["peak"][key] = measure_in_process(["-m", "lpr_lib.benchmark", "--peak", "--repeats",
                                               repeats], threads=threads,
                                              what=f"the matmul peak on {key} thread(s)")
        log(f"  float32 matmul peak, {key} thread(s): {out['peak'][key]['gflops_best']} GFLOP/s")
    return out


def _read_peak(out_dir: Path) -> dict | None:
    path = out_dir / "machine.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))["result"].get("peak")


def training_part(workdir: Path, quick: bool, log, only=None) -> dict:
    """Training images/s per setting (``only``: the ``(backbone, width)`` rows to run, default
    :func:`bench.training.settings`) and the input pipeline's, each in a fresh process (quick:
    in this process)."""
    from bench import training
    from lpr_lib.benchmark import measure_in_process
    from lpr_lib.config import default_config
    from lpr_lib.repro import REPO_ROOT
    from lpr_lib.train import synthetic_folder

    cfg = default_config()
    files = 128 if quick else 1024
    folder = synthetic_folder(files, tuple(cfg.data.image_size), cfg.seed,
                              root=workdir / "train_plates")
    steps, warmup, batches = (2, 1, 2) if quick else (6, 2, 8)
    out = {"files": files, "steps": steps, "warmup": warmup, "rows": []}
    common = ["--folder", str(folder), "--steps", str(steps), "--warmup", str(warmup),
              "--batches", str(batches)] + (["--quick"] if quick else [])
    rows = training.settings()
    if only:
        rows = [{"backbone": b, "width": w} for b, w in only]
    if quick:
        out["pipeline"] = training.measure_pipeline(folder, batches, quick)
    else:
        out["pipeline"] = measure_in_process(["-m", "bench.training", "--pipeline", *common],
                                             cwd=REPO_ROOT, what="the input pipeline")
    log(f"  input pipeline (cached, augmented): {out['pipeline']['img_per_s']} img/s")
    for setting in rows:
        if quick:
            r = training.measure_training(setting, folder, steps, warmup, quick)
        else:
            r = measure_in_process(["-m", "bench.training", "--one", json.dumps(setting),
                                    *common], cwd=REPO_ROOT, what=f"training {setting}")
        r["fresh_process"] = not quick
        out["rows"].append(r)
        log(f"  training {setting['backbone']} x{setting['width']}: {r['img_per_s']} img/s "
            f"(step {r['step_ms']['median']} ms, peak memory {r['peak_rss_mb']} MB)")
    return out


def main(argv=None) -> int:
    from lpr_lib.repro import quick_mode, write_result

    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few repeats, in one process "
                   "(also LPR_QUICK=1): checks the code, does not time it")
    p.add_argument("--out", default=str(RESULTS), help="where the JSON files go "
                   "(default results/bench)")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    p.add_argument("--models", nargs="+", default=None,
                   help="the models of latency and accuracy (default: the six backbones, "
                        "mixed and slim)")
    p.add_argument("--readers", nargs="+", default=None, metavar="READER",
                   help="the readers of the readers part (default: mixed slim synthetic "
                        "lprnet hyperlpr)")
    p.add_argument("--train", nargs="+", default=None, metavar="BACKBONE:WIDTH",
                   help="the training rows (default: every backbone at the default width, and "
                        "resnet18 at 0.25 and 0.5)")
    args = p.parse_args(argv)
    quick = args.quick or quick_mode()
    only = None
    if args.train:
        try:
            only = [(b, float(w)) for b, w in (t.split(":") for t in args.train)]
        except ValueError:
            p.error(f"--train takes BACKBONE:WIDTH, such as resnet18:0.5, not {args.train}")
    out_dir = Path(args.out)
    log = Log()
    from bench import accuracy, latency, readers
    from bench.models import SHIPPED, model_names, prepare

    unknown = sorted(set(args.readers or []) - set(readers.READERS))
    if unknown:
        p.error(f"unknown reader(s) {', '.join(unknown)}: choose among "
                f"{', '.join(readers.READERS)}")

    names = args.models or model_names()
    unknown = sorted(set(names) - set(model_names()))
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}: choose among {', '.join(model_names())}")
    from lpr_lib.backbones import BACKBONES

    unknown = sorted({b for b, _ in only or []} - set(BACKBONES))
    if unknown:
        p.error(f"unknown backbone(s) {', '.join(unknown)} in --train: choose among "
                f"{', '.join(BACKBONES)}")
    command = " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])
    config = {"command": command, "quick": quick, "parts": args.parts, "models": names,
              "settings": SETTINGS,
              "train": args.train, "readers": args.readers or list(readers.READERS)}
    log(f"make bench{' (quick mode)' if quick else ''}: {', '.join(args.parts)} -> {out_dir}")
    workdir = Path(tempfile.mkdtemp(prefix="lpr_bench_"))
    written, seconds, begun = [], {}, time.time()
    try:
        if "machine" in args.parts:
            started = time.time()
            written.append(write_result("machine", machine_part(quick, log), config=config,
                                        started=started, directory=out_dir))
        if "readers" in args.parts:
            started = time.time()
            log("plate readers side by side, one thread each")
            result = readers.measure(workdir, quick, log, args.readers or readers.READERS)
            written.append(write_result("readers", result, config=config, started=started,
                                        directory=out_dir))
        peak = _read_peak(out_dir)
        wanted = [n for n in names if "latency" in args.parts
                  or ("accuracy" in args.parts and n in SHIPPED)]
        prepared = {}
        if wanted:
            log(f"exporting {len(wanted)} model(s)")
        started = time.time()
        for name in wanted:
            prepared[name] = prepare(name, workdir / "models", log=log)
        seconds["exports"] = round(time.time() - started, 1)
        if "latency" in args.parts:
            started = time.time()
            result = {"peak_gflops": {k: v["gflops_best"] for k, v in (peak or {}).items()},
                      "settings": SETTINGS, "quick": quick,
                      "reference": {"lprnet": readers.lprnet_reference(out_dir),
                                    "goal_ms_b1_t1": GOAL_MS}, "models": {}}
            for name in names:
                log(f"  timing {name}")
                info, paths = prepared[name]
                result["models"][name] = latency.measure(info, paths, peak, quick, log)
                # after every model: a killed run keeps what finished
                path = write_result("latency", result, config=config, started=started,
                                    directory=out_dir)
            written.append(path)
        if "accuracy" in args.parts:
            started = time.time()
            source, described = accuracy.test_set(workdir, quick)
            log(f"accuracy on {described['plates']} {described['name']}")
            result = {"test_set": described, "models": {}}
            for name in [n for n in names if n in SHIPPED]:
                log(f"  {name}")
                result["models"][name] = accuracy.measure(name, prepared[name][1], source, log)
            written.append(write_result("accuracy", result, config=config, started=started,
                                        directory=out_dir))
        if "training" in args.parts:
            started = time.time()
            written.append(write_result("training", training_part(workdir, quick, log, only),
                                        config=config, started=started, directory=out_dir))
        if "synth" in args.parts:
            from lpr_lib.synth import SynthConfig
            from lpr_lib.synth.bench import benchmark_generator

            started = time.time()
            result = benchmark_generator(40 if quick else 600, SynthConfig())
            log(f"  generator: {result['sample_plates_per_s']} plates/s in one process; "
                f"generate(): {result['generate_plates_per_s']}")
            written.append(write_result("synth", result, config=config, seed=0,
                                        started=started, directory=out_dir))
        for path in written:
            part = Path(path).stem
            seconds[part] = json.loads(Path(path).read_text(encoding="utf-8"))["meta"].get(
                "run_seconds")
        written.append(write_result("run", {"quick": quick, "seconds": seconds,
                                            "total_seconds": round(time.time() - begun, 1)},
                                    config=config, started=begun, directory=out_dir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    log(f"done: {', '.join(Path(w).name for w in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
