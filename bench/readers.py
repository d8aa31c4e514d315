"""The plate readers side by side: ours (the shipped ``mixed``, ``slim`` and ``synthetic``) and
the public ones a user would pick instead (LPRNet from ``../shared/anchors/lprnet``, HyperLPR
from PyPI's ``hyperlpr2`` in an environment of its own), on the same crops and the same cores.

Every reader runs in a fresh process limited to one thread (:func:`lpr_lib.benchmark.thread_env`;
ONNX Runtime and OpenCV are told one thread too), one after the other: it reads every crop of
every set (:mod:`lpr_lib.data.valsets`: the real test crops, the training crops ``mixed`` held
out, the CCPD-derived loose and edge crops, the synthetic scene and province sets), then is
timed alone at batch 1 after warm-up on a fixed list of crops (:data:`TIMING_CROPS` tight and as
many loose ones, cycled). Scores: plate accuracy, character accuracy, accuracy at each position
(the reading's i-th character against the label's: a reading one character short is wrong from
there on), per province, per framing, and the share of crops with no reading at all.

HyperLPR's environment (``.venv-hyperlpr``, gitignored) is created on demand with
``python3 -m venv`` and ``pip install`` (:data:`HYPERLPR_REQUIREMENTS`); where that fails the
results say why and the other readers are measured all the same.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from lpr_lib.bench_report import lprnet_reference
from lpr_lib.metrics import score_readings
from lpr_lib.repro import REPO_ROOT

__all__ = ["READERS", "measure", "run_reader", "hyperlpr_python", "lprnet_reference"]

#: every reader, in the order of the tables
READERS = ("mixed", "mixed-located", "slim", "synthetic", "lprnet", "hyperlpr")
OURS = ("mixed", "mixed-located", "slim", "synthetic")
DESCRIPTIONS = {
    "mixed": "ours, shipped: synthetic plates + real training crops (Keras; ONNX timed too)",
    "mixed-located": "ours: mixed reading each crop cut down to the plate found by its colour "
                     "(lpr predict --locate, lpr_lib.locate)",
    "slim": "ours, shipped: mixed after network slimming",
    "synthetic": "ours, shipped: synthetic plates only",
    "lprnet": "LPRNet (sirius-ai/LPRNet_Pytorch, pretrained), ../shared/anchors/lprnet/"
              "lprnet.onnx in ONNX Runtime, batch 1",
    "hyperlpr": "HyperLPR (PyPI hyperlpr2==2.0.0, OpenCV 4 dnn), in .venv-hyperlpr",
}
HYPERLPR_VENV = REPO_ROOT / ".venv-hyperlpr"
HYPERLPR_REQUIREMENTS = ("hyperlpr2==2.0.0", "opencv-python<5")
#: crops of the tight set and of the loose set that every reader is timed on, in turn
TIMING_CROPS = 12
#: (repeats, warm-up calls, seconds) of each timing; quick mode: a few calls
TIMING = (300, 10, 4.0)
QUICK_TIMING = (6, 2, 0.5)
#: the sets timing takes its crops from, in order of preference (real first)
TIGHT_FOR_TIMING = ("real_test", "synth_tight")
LOOSE_FOR_TIMING = ("ccpd_loose", "synth_loose")
#: sets kept short in quick mode (crops per set), and built small (in the work folder)
QUICK_CROPS = 24
QUICK_SETS = {"scenes": 4, "per_province": 1}


def hyperlpr_python(log=print, create: bool = True) -> tuple[Path | None, str | None]:
    """``(python, None)`` of HyperLPR's environment, created when it is missing and
    ``create``; ``(None, why)`` when it cannot be had."""
    python = HYPERLPR_VENV / "bin" / "python"

    def works() -> str | None:
        if not python.is_file():
            return f"{python} does not exist"
        res = subprocess.run([str(python), "-c", "import hyperlpr2"], capture_output=True,
                             text=True, timeout=300, cwd=REPO_ROOT)
        return None if res.returncode == 0 else res.stderr.strip().splitlines()[-1][:300]

    why = works()
    if why is None or not create:
        return (python, None) if why is None else (None, why)
    log(f"  creating {HYPERLPR_VENV.name} ({why}): pip install {' '.join(HYPERLPR_REQUIREMENTS)}")
    steps = [["python3", "-m", "venv", str(HYPERLPR_VENV)],
             [str(python), "-m", "pip", "install", "--quiet", *HYPERLPR_REQUIREMENTS]]
    for cmd in steps:
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO_ROOT)
        except (OSError, subprocess.TimeoutExpired) as err:
            return None, f"{' '.join(cmd[:4])}: {err}"
        if res.returncode:
            tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
            return None, f"{' '.join(cmd[:4])} failed: {' | '.join(tail)[:500]}"
    why = works()
    return (python, None) if why is None else (None, f"installed but {why}")


def run_reader(name: str, files: list[str], timing_files: list[str], workdir: Path,
               quick: bool, python=None, lprnet_dir=None) -> dict:
    """One reader over ``files`` and timed on ``timing_files``, in a fresh process limited to
    one thread; its JSON answer (texts, confidences, latency)."""
    from lpr_lib.benchmark import thread_env

    repeats, warmup, seconds = QUICK_TIMING if quick else TIMING
    spec = {"reader": name, "files": files, "timing_files": timing_files, "repeats": repeats,
            "warmup": warmup, "max_seconds": seconds, "out": str(workdir / f"{name}.out.json"),
            "workdir": str(workdir)}
    if lprnet_dir is not None:
        spec["lprnet_dir"] = str(lprnet_dir)
    spec_file = workdir / f"{name}.spec.json"
    spec_file.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    if name == "hyperlpr":
        cmd = [str(python), str(REPO_ROOT / "bench" / "hyperlpr_worker.py"), str(spec_file)]
    else:
        cmd = [sys.executable, "-m", "bench.reader_worker", str(spec_file)]
    env = thread_env(1)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                         timeout=3600)
    if res.returncode:
        raise RuntimeError(f"reader {name} failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
    return json.loads(Path(spec["out"]).read_text(encoding="utf-8"))


def _timing_crops(sets: dict) -> tuple[list[str], list[str]]:
    """The crops every reader is timed on, and the sets they come from."""
    files, names = [], []
    for choices in (TIGHT_FOR_TIMING, LOOSE_FOR_TIMING):
        name = next(n for n in choices if sets.get(n))
        files += [str(p) for p, _, _ in sets[name][:TIMING_CROPS]]
        names.append(name)
    return files, names


def measure(workdir: Path, quick: bool, log=print, readers=READERS, sets_dir=None) -> dict:
    """Build the validation sets (:func:`lpr_lib.data.valsets.build_val_sets`, into
    ``sets_dir``, default ``runs/val_sets``), run every reader of ``readers`` on them and time
    it; the results file's dict."""
    from lpr_lib.data.valsets import build_val_sets, read_set, real_sets
    from lpr_lib.repro import RUNS_DIR, SHARED_REAL

    from bench.hyperlpr_worker import PATH as HYPERLPR_PATH
    from bench.reader_worker import LPRNET_DIR

    sets_dir = Path(sets_dir or (workdir / "val_sets" if quick else RUNS_DIR / "val_sets"))
    started = time.time()
    described = build_val_sets(sets_dir, **(QUICK_SETS if quick else {}))
    log(f"  validation sets in {sets_dir} ({time.time() - started:.0f} s): "
        + ", ".join(f"{k} {v['plates']}" for k, v in described.items() if "plates" in v))
    sets = {k: read_set(v["path"]) for k, v in described.items() if v.get("path")}
    sets.update(real_sets(SHARED_REAL))
    sets = {k: sets[k] for k in described if k in sets}  # the descriptions' order
    if quick:
        sets = {k: v[:QUICK_CROPS] for k, v in sets.items()}
        for k, v in sets.items():
            described[k] = {**described[k], "plates_measured": len(v)}
    files = [str(p) for items in sets.values() for p, _, _ in items]
    timing_files, timing_sets = _timing_crops(sets)
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover
        load = None
    result = {
        "sets": described,
        "readers": {},
        "hyperlpr_path": HYPERLPR_PATH,
        "timing": {"crops": len(timing_files), "from_sets": timing_sets,
                   "batch": 1, "threads": 1, "repeats_warmup_seconds": QUICK_TIMING if quick
                   else TIMING, "fresh_process_per_reader": True,
                   "what": "each reader timed alone after warm-up, one after the other in "
                           "the same run, cycling through the same crops; end_to_end: a "
                           "decoded crop to its text; model: the network alone on a "
                           "preprocessed crop"},
        "cores": {"cpu_count": os.cpu_count(), "loadavg_before": load,
                  "note": "the load averages before and after say whether other work "
                          "shared the cores: near or above the core count, every latency is "
                          "slower and noisier than on quiet cores; all readers were timed in "
                          "the same run, under the same conditions"},
        "scoring": "plate accuracy: the reading equals the label; per_position[i]: the "
                   "reading's i-th character equals the label's (a reading one character "
                   "short or long is wrong from there on); ours read as lpr predict reads "
                   "(the most probable valid plate) with no confidence floor, so every crop "
                   "gets a reading; 'argmax' under ours: each head's most probable "
                   "character, as lpr eval and results/shipped_*.json score it",
        "quick": quick,
    }
    for name in readers:
        desc = {"what": DESCRIPTIONS[name]}
        python, why = None, None
        if name == "hyperlpr":
            python, why = hyperlpr_python(log)
            desc["path"] = HYPERLPR_PATH
        if name == "lprnet" and not (LPRNET_DIR / "lprnet.onnx").is_file():
            why = f"{LPRNET_DIR / 'lprnet.onnx'} is absent (../shared/anchors is not shipped)"
        if why:
            result["readers"][name] = {**desc, "skipped": why}
            log(f"  {name}: skipped ({why})")
            continue
        t0 = time.time()
        try:
            out = run_reader(name, files, timing_files, workdir, quick, python=python)
        except RuntimeError as err:
            result["readers"][name] = {**desc, "skipped": str(err)[-1500:]}
            log(f"  {name}: failed ({str(err).splitlines()[0]})")
            continue
        texts, conf = out.pop("texts"), out.pop("confidence")
        argmax = out.pop("texts_argmax", None)
        row = {**desc, **out, "seconds": round(time.time() - t0, 1), "sets": {}}
        i = 0
        for set_name, items in sets.items():
            row["sets"][set_name] = score_readings(items, texts[i:i + len(items)])
            row["sets"][set_name]["mean_confidence"] = round(
                sum(conf[i:i + len(items)]) / len(items), 4)
            if argmax is not None:  # each head's argmax, as lpr eval scores it
                a = score_readings(items, argmax[i:i + len(items)])
                row["sets"][set_name]["argmax"] = {k: a[k] for k in ("plate_accuracy",
                                                                     "char_accuracy")}
            i += len(items)
        result["readers"][name] = row
        shown = ", ".join(f"{k} {v['plate_accuracy']:.3f}" for k, v in row["sets"].items())
        lat = row["latency"]
        ms = (lat.get("onnx_end_to_end") or lat.get("end_to_end") or {}).get("median_ms")
        log(f"  {name}: {shown}; {ms} ms a crop end to end ({row['seconds']:.0f} s)")
    try:
        result["cores"]["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover
        pass
    return result
