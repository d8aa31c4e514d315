"""Latency per model and format: one call at batch 1 on one thread and at batch 64 on every
core (:data:`bench.SETTINGS`), each setting in a fresh process (``lpr_lib.latency``), with the
GFLOP/s the call achieves (two per multiply-accumulate), its share of the machine's measured
peak for the same threads, and the process's peak memory."""
from __future__ import annotations

from bench import SETTINGS
from bench.models import FORMATS

#: repeats (the most), warm-up calls and the time after which repeating stops (at least 5
#: calls), per setting; quick mode: 3 calls after 1
REPEATS = {"b1_t1": (100, 5, 3.0), "b64_all": (20, 2, 6.0)}
QUICK_REPEATS = (3, 1, 1.0)


def _peak_for(peak: dict | None, threads: int) -> float | None:
    if not peak:
        return None
    row = peak.get("1" if threads == 1 else "all")
    return row.get("gflops_best") if row else None


def time_one(path, setting: str, quick: bool) -> dict:
    """One setting of one exported (or Keras) model: in a fresh process, or in this one in
    quick mode."""
    from lpr_lib.latency import measure_latency, time_model

    s = SETTINGS[setting]
    repeats, warmup, budget = QUICK_REPEATS if quick else REPEATS[setting]
    if quick:
        result = time_model(path, s["batch"], repeats, warmup, threads=s["threads"],
                            max_seconds=budget)
        result["threads"] = s["threads"]
        result["fresh_process"] = False
        return result
    result = measure_latency(path, s["batch"], s["threads"], repeats, max_seconds=budget,
                             warmup=warmup)
    result["fresh_process"] = True
    return result


def measure(info: dict, paths: dict, peak: dict | None, quick: bool, log=print) -> dict:
    """Fill ``info["formats"][fmt][setting]`` for every format of the model described by
    ``info`` (from :func:`bench.models.prepare`); a format that could not be exported or timed
    says why instead."""
    macs = info["macs"]
    for fmt in FORMATS:
        row = info["formats"].setdefault(fmt, {"skipped": "not exported"})
        if fmt not in paths:
            continue
        for setting, s in SETTINGS.items():
            try:
                r = time_one(paths[fmt], setting, quick)
            except (RuntimeError, ValueError, OSError, ImportError) as err:
                row[setting] = {"error": str(err)[-500:]}
                log(f"    {fmt:12s} {setting}: failed ({str(err).splitlines()[0][:120]})")
                continue
            seconds = r["median_ms"] / 1e3
            r["gflops"] = round(2 * macs * s["batch"] / seconds / 1e9, 2)
            top = _peak_for(peak, s["threads"])
            r["share_of_peak"] = round(r["gflops"] / top, 4) if top else None
            row[setting] = r
        shown = "; ".join(f"{k} {row[k]['ms_per_plate']:.2f} ms/plate" for k in SETTINGS
                          if "ms_per_plate" in row.get(k, {}))
        log(f"    {fmt:12s} {shown}")
    return info
