"""Read ``make bench``'s files (``results/bench/*.json``) into tables: what the deployment
chapter draws and quotes.

    bench = load_bench()                       # {"machine": ..., "latency": ..., ...}
    latency_frame(bench["latency"])            # one row per model, format and setting

Each table is a ``pandas.DataFrame`` built from the files alone (no measuring here).
"""
from __future__ import annotations

import json
from pathlib import Path

from lpr_lib.repro import RESULTS_DIR

__all__ = ["BENCH_DIR", "PARTS", "FORMAT_LABELS", "FORMAT_COLORS", "load_bench", "latency_frame",
           "accuracy_frame", "training_frame", "best_format", "machine_lines", "grouped_bars",
           "load_readers", "readers_frame", "reader_latency_frame", "province_frame",
           "lprnet_reference", "READER_LABELS"]

BENCH_DIR = RESULTS_DIR / "bench"
PARTS = ("machine", "latency", "accuracy", "training", "synth")
#: the formats in the order the chapter shows them, with their names there
FORMAT_LABELS = {"keras": "Keras", "savedmodel": "SavedModel", "tflite": "TFLite",
                 "tflite_int8": "TFLite int8", "onnx": "ONNX"}


def load_bench(directory=None) -> dict:
    """``{part: {"result": ..., "meta": ...}}`` for each file of ``directory`` (default
    ``results/bench``), and ``"run"`` when the run finished; a clear error naming the file
    when a part is missing."""
    directory = Path(directory or BENCH_DIR)
    out = {}
    for part in PARTS:
        path = directory / f"{part}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; make bench writes it")
        out[part] = json.loads(path.read_text(encoding="utf-8"))
    run = directory / "run.json"  # the run's duration (written last: absent if it was killed)
    if run.is_file():
        out["run"] = json.loads(run.read_text(encoding="utf-8"))
    readers = directory / "readers.json"  # the readers side by side, when they were measured
    if readers.is_file():
        out["readers"] = json.loads(readers.read_text(encoding="utf-8"))
    return out


def latency_frame(latency: dict):
    """One row per (model, format, setting) that was timed: the model's kind, parameters and
    MACs; ``ms`` (median per call), ``ms_per_plate`` and its IQR per plate, GFLOP/s, share of
    the peak, size on disk (MB), peak memory (MB). Formats that were not exported or timed are
    left out (the file says why, under the format)."""
    import pandas as pd

    result = latency.get("result", latency)
    rows = []
    for model, info in result["models"].items():
        for fmt, r in info["formats"].items():
            for setting, s in result["settings"].items():
                t = r.get(setting)
                if not t or "median_ms" not in t:
                    continue
                batch = s["batch"]
                rows.append({
                    "model": model, "kind": info["kind"], "format": fmt, "setting": setting,
                    "batch": batch, "threads": s["threads"], "params": info["params"],
                    "macs": info["macs"], "ms": t["median_ms"], "ms_per_plate": t["ms_per_plate"],
                    "iqr_low": t["iqr_ms"][0] / batch, "iqr_high": t["iqr_ms"][1] / batch,
                    "repeats": t["repeats"], "gflops": t["gflops"],
                    "share_of_peak": t.get("share_of_peak"),
                    "mb": r["bytes"] / 1e6 if "bytes" in r else None,
                    "peak_rss_mb": t.get("peak_rss_mb"),
                    "fresh_process": t.get("fresh_process")})
    return pd.DataFrame(rows)


def accuracy_frame(accuracy: dict):
    """One row per (shipped model, format): plate and character accuracy on the bench's test
    set, agreement with Keras, and the largest probability difference."""
    import pandas as pd

    result = accuracy.get("result", accuracy)
    rows = []
    for model, formats in result["models"].items():
        for fmt, r in formats.items():
            if fmt in FORMAT_LABELS and "plate_accuracy" in r:
                rows.append({"model": model, "format": fmt, **{k: r[k] for k in (
                    "plate_accuracy", "char_accuracy", "agrees_with_keras",
                    "max_abs_diff_chars")}})
    return pd.DataFrame(rows)


def training_frame(training: dict):
    """One row per training setting: backbone, width, images/s (and of the fastest quarter of
    the steps), the step's median and IQR, GFLOP/s, peak memory."""
    import pandas as pd

    result = training.get("result", training)
    rows = []
    for r in result["rows"]:
        rows.append({"backbone": r["setting"]["backbone"], "width": r["setting"]["width"],
                     "params": r["params"], "macs": r["macs"], "batch": r["batch_size"],
                     "img_per_s": r["img_per_s"], "best_quarter": r["img_per_s_best_quarter"],
                     "step_ms": r["step_ms"]["median"], "step_iqr": r["step_ms"]["iqr"],
                     "train_gflops": r["train_gflops"], "peak_rss_mb": r["peak_rss_mb"],
                     "first_steps_s": r["first_steps_s"]})
    return pd.DataFrame(rows)


def best_format(frame, model: str, setting: str = "b1_t1"):
    """The fastest timed format of ``model`` in ``setting``: its row of :func:`latency_frame`."""
    rows = frame[(frame.model == model) & (frame.setting == setting)]
    if rows.empty:
        raise ValueError(f"no {setting} timing of {model} in the bench's latency file")
    return rows.loc[rows.ms_per_plate.idxmin()]


def machine_lines(machine: dict) -> list[str]:
    """The machine in a few lines: cores, CPU, SIMD flags, peak GFLOP/s, library versions."""
    result = machine.get("result", machine)
    cpu = result["cpu"]
    peak = result.get("peak", {})
    versions = result["versions"]
    shown = ("tensorflow", "keras", "onnxruntime", "tf2onnx", "numpy")
    lines = [f"{result['cpu_count']} cores ({result['usable_cores']} usable): {cpu['model_name']}",
             "SIMD flags: " + (", ".join(cpu["simd_flags"]) or "none listed")]
    if peak:
        lines.append("float32 matmul peak: " + "; ".join(
            f"{v['gflops_best']:.0f} GFLOP/s on {'one thread' if k == '1' else 'every core'}"
            for k, v in peak.items()))
    lines.append("versions: python " + versions.get("python", "?") + ", " + ", ".join(
        f"{k} {versions[k]}" for k in shown if k in versions))
    return lines


#: a colour per format, the same in every figure of the chapter
FORMAT_COLORS = {"keras": "tab:grey", "savedmodel": "tab:brown", "tflite": "tab:blue",
                 "tflite_int8": "tab:cyan", "onnx": "tab:orange"}


def grouped_bars(ax, frame, value: str, models, low: str | None = None,
                 high: str | None = None, formats=tuple(FORMAT_LABELS)):
    """One group of bars per model (in ``models``' order), one bar per format, of the column
    ``value`` of ``frame`` (rows with ``model`` and ``format``); error bars from the columns
    ``low`` and ``high`` (an interquartile range) when given. A missing pair leaves a gap."""
    import numpy as np

    width = 0.8 / len(formats)
    centre = np.arange(len(models))
    for i, fmt in enumerate(formats):
        rows = frame[frame.format == fmt].set_index("model").reindex(list(models))
        x = centre + (i - (len(formats) - 1) / 2) * width
        err = None
        if low is not None and high is not None:
            err = np.vstack([(rows[value] - rows[low]).clip(lower=0),
                             (rows[high] - rows[value]).clip(lower=0)]).astype(float)
        ax.bar(x, rows[value].astype(float), width, yerr=err, capsize=1.5,
               color=FORMAT_COLORS.get(fmt), label=FORMAT_LABELS.get(fmt, fmt),
               error_kw={"elinewidth": 0.8})
    ax.set_xticks(centre, list(models), rotation=30, ha="right")
    return ax


# ------------------------------------------------------------------ the readers side by side

#: the readers of ``readers.json`` in the order the chapters show them, with their names there
READER_LABELS = {"mixed": "ours: mixed", "slim": "ours: slim", "synthetic": "ours: synthetic",
                 "lprnet": "LPRNet", "hyperlpr": "HyperLPR"}


def load_readers(directory=None) -> dict:
    """``readers.json`` of ``directory`` (default ``results/bench``): ``{"result", "meta"}``;
    a clear error when it is missing."""
    path = Path(directory or BENCH_DIR) / "readers.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; python -m bench --parts readers writes it")
    return json.loads(path.read_text(encoding="utf-8"))


def readers_frame(readers: dict):
    """One row per (reader, set) measured: plate, character and province (first position)
    accuracy, the share of crops without a reading, the number of crops. Readers that were
    skipped are left out (the file says why, under the reader)."""
    import pandas as pd

    result = readers.get("result", readers)
    rows = []
    for reader, r in result["readers"].items():
        for name, s in r.get("sets", {}).items():
            rows.append({"reader": reader, "set": name, "plates": s["plates"],
                         "plate_accuracy": s["plate_accuracy"],
                         "char_accuracy": s["char_accuracy"],
                         "province_accuracy": s["per_position"][0],
                         "no_reading": s["no_reading"]})
    return pd.DataFrame(rows)


def reader_latency_frame(readers: dict):
    """One row per (reader, way of timing): median and IQR in ms of one crop at batch 1 on
    one thread (``end_to_end``: a decoded crop to its text; ``model``: the network alone)."""
    import pandas as pd

    result = readers.get("result", readers)
    rows = []
    for reader, r in result["readers"].items():
        for how, t in r.get("latency", {}).items():
            if "median_ms" in t:
                rows.append({"reader": reader, "timing": how, "ms": t["median_ms"],
                             "iqr_low": t["iqr_ms"][0], "iqr_high": t["iqr_ms"][1],
                             "repeats": t["repeats"]})
    return pd.DataFrame(rows)


def province_frame(readers: dict, set_name: str):
    """One row per (reader, province) of ``set_name``: its crops, plate accuracy and the
    accuracy of the province character."""
    import pandas as pd

    result = readers.get("result", readers)
    rows = []
    for reader, r in result["readers"].items():
        s = r.get("sets", {}).get(set_name)
        for province, p in (s or {}).get("provinces", {}).items():
            rows.append({"reader": reader, "province": province, **p})
    return pd.DataFrame(rows)


def lprnet_reference(directory=None) -> dict:
    """LPRNet's measured figures, from ``readers.json`` in ``directory`` (default
    ``results/bench``): its network's time at batch 1 on one thread (``ms_b1_t1``; a crop to
    its text: ``ms_b1_t1_end_to_end``), its parameters and its plate accuracy on the real
    test crops; ``{"missing": why}`` when they were not measured. ``make bench`` writes this
    into the latency file's reference; read it from here, never type it in."""
    path = Path(directory or BENCH_DIR) / "readers.json"
    if not path.is_file():
        return {"missing": f"{path} does not exist: python -m bench --parts readers writes it"}
    payload = json.loads(path.read_text(encoding="utf-8"))
    row = payload["result"]["readers"].get("lprnet", {})
    if "latency" not in row:
        return {"missing": f"{path}: LPRNet was not measured ({row.get('skipped', 'absent')})"}
    test = row["sets"].get("real_test", {})
    inside = Path(directory or BENCH_DIR).resolve() == BENCH_DIR.resolve()
    return {"ms_b1_t1": row["latency"]["model"]["median_ms"],
            "ms_b1_t1_end_to_end": row["latency"]["end_to_end"]["median_ms"],
            "params": row["params"],
            "real_test_plate_accuracy": test.get("plate_accuracy"),
            "real_test_char_accuracy": test.get("char_accuracy"),
            "source": "results/bench/readers.json" if inside else str(path),
            "git_commit": payload["meta"].get("git_commit")}
