"""Reading the ablation table: each row against the row it builds on, the seed's verdict beside
ours, and the figures of the technique chapters, all from the result files of
:mod:`lpr_lib.ablation` (``results/ablation/<scale>/...``).

    results = load_results(TABLE)                # every job's result
    runs, summary = summary_lines(results)       # mean and spread over seeds (nothing written)
    compare(summary, "mixed", "real_test")       # each row minus its base, with the verdict
"""
from __future__ import annotations

from functools import cache

import numpy as np

from lpr_lib.ablation import (CLOSE_FACTOR, CONFIDENCE, DATA_SETTINGS,
                              DISSECTION, EXTRA_ROWS, PRIMARY, ROWS, SEEDS, close_pairs,
                              close_rows, compare, judge, load_results, load_row, paired,
                              row_config, summarise, summary_lines)

__all__ = ["TABLE", "load_results", "summarise", "summary_lines", "judge", "compare",
           "seed_table", "by_row", "LABELS",
           "plot_bars", "plot_curves", "plot_loss_trace", "plot_kernel_norms",
           "plot_gamma_histograms", "plot_lighting", "plot_reliability", "plot_g_density",
           "plot_backbones", "ghm_contributions", "table_frame", "cell",
           "ece_frame", "size_frame", "bench_latency", "ghm_batch_weights",
           "ghm_frame", "scale_frame", "PRIMARY", "close_pairs", "close_rows",
           "close_frame", "head_params", "paired_frame", "seed_verdicts", "LIKE_FOR_LIKE",
           "convergence_frame", "cost_summary", "dissection_frame", "DISSECTED", "noise_frame",
           "plot_noise", "NOISE_LOSSES", "NOISE_RATES", "plot_gamma_over_epochs",
           "size_study_frame", "plot_size_study", "t_interval", "verdict_text", "budget_text",
           "seed_frame", "METRIC_WORDS"]

#: the scale whose results the chapters show: the short table until the book's table (every
#: row for 5,280 steps, both data settings, three seeds) is complete
TABLE = "short"

#: short labels of the rows, as the seed's table names them
LABELS = {"baseline": "baseline", "v1": "v1 decay 5e-4", "v2": "v2 +whitening",
          "v3": "v3 +augmentation", "v4.0": "v4.0 resnet18", "v4-radam": "v4 RAdam",
          "v4.1": "v4.1 resnet18-v2", "v4.2": "v4.2 resnext18", "v4.3": "v4.3 mobilenet v1",
          "v4.4": "v4.4 mobilenet v2", "v4.5": "v4.5 mobilenet v3", "v5": "v5 +smoothing",
          "v6": "v6 GHM global", "v6-multi": "v6 GHM label-wise", "v7": "v7 +pruning",
          "final": "seed's final", "final-flatten": "final, flatten head",
          "v4.0-nowarmup": "v4.0, no warm-up", "v4-radam-nowarmup": "RAdam, no warm-up",
          "v4.0-focal": "v4.0 focal", "final-cosine": "final, cosine schedule",
          "final-ce": "final, cross-entropy", "final-adam": "final, Adam",
          "final-flathead": "final, flatten head only", "final-nol1": "final, no gamma penalty",
          "final-l2gamma": "final, L2 on gamma", "final-steps8": "final, its steps at 8e-3",
          **{f"{r}-noise{n}": f"{label}, {n}% wrong labels"
             for r, label in (("v4.0", "v4.0 cross-entropy"), ("v6", "v6 GHM global"),
                              ("v6-multi", "v6 GHM label-wise")) for n in (5, 15)}}


def by_row(results: list[dict], data: str | None = None) -> dict[str, list[dict]]:
    """The results grouped by row (one entry a seed), for one data setting."""
    out: dict[str, list[dict]] = {}
    for r in results:
        if data is None or r["data"] == data:
            out.setdefault(r["row"], []).append(r)
    return out


def seed_table(summary: list[dict], data: str = "mixed") -> list[dict]:
    """The seed's figures beside ours, row by row: the seed's "acc" (precision at its
    threshold) and "recall", and ours on the real test at 0.85 (a plate's confidence the
    product of its characters', and under ``_min`` the least sure one's), with plate
    accuracy."""
    lines = {s["row"]: s for s in summary if s["data"] == data}
    out = []
    for name in ROWS:
        row = load_row(name)
        seed = row.seed_result or {}
        s = lines.get(name, {})
        diff = None
        base = (row.bases or (None,))[0]
        theirs = load_row(base).seed_result if seed and base else None
        if theirs:
            diff = seed["acc"] - theirs["acc"]
        out.append({"row": name, "seed_acc": seed.get("acc"), "seed_recall": seed.get("recall"),
                    "seed_diff": diff, "seeds": s.get("seeds", 0),
                    "precision_85": s.get("real_test_p85_mean"),
                    "recall_85": s.get("real_test_r85_mean"),
                    "precision_85_min": s.get("real_test_p85_min_mean"),
                    "recall_85_min": s.get("real_test_r85_min_mean"),
                    "plate_accuracy": s.get("real_test_mean"),
                    "plate_accuracy_std": s.get("real_test_std"),
                    "synthetic_val": s.get("synthetic_val_mean")})
    return out


def seed_frame(summary: list[dict], data: str = "mixed"):
    """:func:`seed_table` as the chapter prints it, in %: the seed's acc and recall beside
    our precision and recall at 0.85 on the real test (the product of the characters'
    confidences, and the least sure character's: ``min``) and our plates read (mean ± the
    standard deviation over the seeds); ``-`` where a figure does not exist (the seed did not
    give it, or no plate cleared 0.85)."""
    import pandas as pd

    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}"

    lines = []
    for s in seed_table(summary, data):
        if not s["seeds"]:
            continue
        read = "-" if s["plate_accuracy"] is None else (
            f"{100 * s['plate_accuracy']:.1f} ± {100 * (s['plate_accuracy_std'] or 0):.1f}")
        lines.append({"row": LABELS.get(s["row"], s["row"]), "the seed: acc": pct(s["seed_acc"]),
                      "the seed: recall": pct(s["seed_recall"]),
                      "ours: P@0.85": pct(s["precision_85"]),
                      "ours: R@0.85": pct(s["recall_85"]),
                      "ours, min: P@0.85": pct(s["precision_85_min"]),
                      "ours, min: R@0.85": pct(s["recall_85_min"]),
                      "ours: plates read": read, "seeds": s["seeds"]})
    return pd.DataFrame(lines).set_index("row")


# ------------------------------------------------------------------ figures

def _legend(ax, **kw) -> None:
    """A legend, when something on ``ax`` has a label (none: no rows measured yet)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _plt():
    import matplotlib.pyplot as plt

    return plt


def plot_bars(summary: list[dict], metric: str = "real_test", rows=ROWS, title: str = ""):
    """The metric of each row, both data settings side by side, with the seeds' standard
    deviation as error bars and each seed's value as a dot."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(11, 4))
    x = np.arange(len(rows))
    for k, (data, colour) in enumerate((("synthetic", "tab:blue"), ("mixed", "tab:orange"))):
        lines = {s["row"]: s for s in summary if s["data"] == data}
        means = [lines.get(r, {}).get(f"{metric}_mean") for r in rows]
        stds = [lines.get(r, {}).get(f"{metric}_std") or 0 for r in rows]
        m = np.array([np.nan if v is None else 100 * v for v in means])
        ax.bar(x + (k - 0.5) * 0.4, m, 0.4, yerr=100 * np.array(stds), capsize=3,
               color=colour, alpha=0.8, label=f"{data} data")
    ax.set_xticks(x, [LABELS.get(r, r) for r in rows], rotation=40, ha="right")
    ax.set_ylabel(f"{metric.replace('_', ' ')} (%)")
    ax.set_title(title)
    _legend(ax)
    return fig


def plot_curves(results: list[dict], rows, data: str, key: str = "val_chars_plate_acc",
                ax=None):
    """The validation plate accuracy epoch by epoch (one line a seed) of ``rows``."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    groups = by_row(results, data)
    for i, row in enumerate(rows):
        for j, r in enumerate(groups.get(row, [])):
            ys = [100 * (h.get(key) or 0) for h in r["history"]]
            ax.plot(range(1, len(ys) + 1), ys, "o-", color=f"C{i}", alpha=0.8,
                    label=LABELS.get(row, row) if j == 0 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation plates read (%)")
    _legend(ax, fontsize=8)
    return ax.figure


def plot_loss_trace(results: list[dict], rows, data: str, ax=None, smooth: int = 5):
    """The training loss every 10 steps (a running mean over ``smooth`` points)."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    groups = by_row(results, data)
    for i, row in enumerate(rows):
        for j, r in enumerate(groups.get(row, [])):
            steps = np.array((r.get("trace") or {}).get("steps") or [[0, np.nan]], float)
            y = np.convolve(steps[:, 1], np.ones(smooth) / smooth, mode="valid") \
                if len(steps) >= smooth else steps[:, 1]
            ax.plot(steps[smooth - 1:, 0] if len(steps) >= smooth else steps[:, 0], y,
                    color=f"C{i}", alpha=0.8, label=LABELS.get(row, row) if j == 0 else None)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss")
    _legend(ax, fontsize=8)
    return ax.figure


def plot_kernel_norms(results: list[dict], rows, data: str):
    """The kernels' total sum of squares, and the norm of each kernel at the end, by row."""
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    groups = by_row(results, data)
    for i, row in enumerate(rows):
        for j, r in enumerate(groups.get(row, [])):
            epochs = (r.get("trace") or {}).get("epochs") or []
            a.plot([e["epoch"] + 1 for e in epochs], [e["kernel_sq_sum"] for e in epochs],
                   "o-", color=f"C{i}", label=LABELS.get(row, row) if j == 0 else None)
            if j == 0 and epochs:
                norms = epochs[-1]["kernel_norms"]
                b.plot(range(len(norms)), list(norms.values()), "o-", color=f"C{i}",
                       label=LABELS.get(row, row))
    a.set_xlabel("epoch (0 = initialisation)")
    a.set_ylabel("sum of squared kernel weights")
    a.set_yscale("log")
    _legend(a, fontsize=8)
    b.set_xlabel("layer (input to heads)")
    b.set_ylabel("kernel L2 norm after training")
    _legend(b, fontsize=8)
    return fig


def plot_gamma_histograms(results: list[dict], rows, data: str):
    """BatchNorm's |gamma| histogram after every epoch, a panel a row (first seed)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(rows), figsize=(4 * len(rows), 3.6), sharey=True,
                             squeeze=False)
    groups = by_row(results, data)
    for ax, row in zip(axes[0], rows):
        r = (groups.get(row) or [None])[0]
        trace = (r or {}).get("trace") or {}
        edges = np.array(trace.get("gamma_bins") or np.linspace(0, 2, 41))
        centres = (edges[1:] + edges[:-1]) / 2
        epochs = trace.get("epochs") or []
        for k, e in enumerate(epochs):
            if "gamma" not in e:
                continue
            ax.plot(centres, e["gamma"]["hist"], color=plt.cm.viridis(k / max(len(epochs) - 1, 1)),
                    label=f"epoch {e['epoch'] + 1}")
        if epochs and "gamma" in epochs[-1]:
            ax.set_title(f"{LABELS.get(row, row)}: {100 * epochs[-1]['gamma']['below_0.05']:.0f}%"
                         " below 0.05", fontsize=9)
        ax.set_xlabel("|gamma|")
    axes[0][0].set_ylabel("channels")
    _legend(axes[0][-1], fontsize=7)
    return fig


def plot_lighting(results: list[dict], rows, data: str):
    """Plate accuracy under each lighting change, one group of bars a row (mean of seeds)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.8))
    groups = by_row(results, data)
    names = None
    for i, row in enumerate(rows):
        mine = [r["lighting"]["accuracy"] for r in groups.get(row, []) if "lighting" in r]
        if not mine:
            continue
        names = list(mine[0])
        means = [100 * np.mean([m[n] for m in mine]) for n in names]
        ax.bar(np.arange(len(names)) + (i - (len(rows) - 1) / 2) * 0.8 / len(rows), means,
               0.8 / len(rows), label=LABELS.get(row, row))
    if names:
        ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_ylabel("synthetic validation plates read (%)")
    _legend(ax, fontsize=8)
    return fig


def plot_reliability(results: list[dict], rows, data: str, test: str = "real_test"):
    """Reliability diagrams of the per-character confidence (left) and the plate confidence
    of the plates read right and wrong (right), for ``rows`` on ``test`` (first seed)."""
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    a.plot([0, 1], [0, 1], "k:", lw=1)
    groups = by_row(results, data)
    for i, row in enumerate(rows):
        r = (groups.get(row) or [None])[0]
        if r is None or "reliability" not in r.get(test, {}):
            continue
        rel = r[test]["reliability"]
        conf = [c for c, n in zip(rel["confidence"], rel["count"]) if n]
        acc = [c for c, n in zip(rel["accuracy"], rel["count"]) if n]
        a.plot(conf, acc, "o-", color=f"C{i}",
               label=f"{LABELS.get(row, row)} (ECE {100 * rel['ece']:.1f}%)")
        h = r[test]["confidence"]
        edges = np.array(h["edges"])
        centres = (edges[1:] + edges[:-1]) / 2
        b.step(centres, h["right"], where="mid", color=f"C{i}", label=f"{LABELS.get(row)} right")
        b.step(centres, h["wrong"], where="mid", color=f"C{i}", ls="--",
               label=f"{LABELS.get(row)} wrong")
    a.set_xlabel("character confidence")
    a.set_ylabel("share of characters right")
    _legend(a, fontsize=8)
    b.set_yscale("log")
    b.set_xlabel("plate confidence")
    b.set_ylabel("plates")
    _legend(b, fontsize=7)
    return fig


def ghm_contributions(counts, edges, gamma: float = 2.0) -> dict:
    """From a histogram of GHM's gradient norm ``g``: each bin's share of the total gradient
    norm under cross-entropy (``n_b g_b``), under the focal loss (each example's gradient
    scaled by about ``g^gamma``) and under GHM-C (each example weighted by ``N / (M n_b)``:
    every occupied bin then contributes ``g_b N / M``)."""
    counts = np.asarray(counts, float)
    edges = np.asarray(edges, float)
    g = (edges[1:] + edges[:-1]) / 2
    occupied = counts > 0
    ce = counts * g
    focal = counts * g * g ** gamma
    ghm = np.where(occupied, g * counts.sum() / max(occupied.sum(), 1), 0.0)
    return {name: (v / v.sum()).tolist() if v.sum() else v.tolist()
            for name, v in (("ce", ce), ("focal", focal), ("ghm", ghm))}


def ghm_batch_weights(counts, batch_positions: int = 512, draws: int = 500,
                      seed: int = 0) -> dict:
    """What global GHM-C does to a batch drawn from a model's gradient-norm histogram
    ``counts`` (its bins are GHM's): ``draws`` batches of ``batch_positions`` characters
    (64 plates of 8 positions) are drawn from it, each character weighted by
    ``N / (count[bin] * occupied)`` (GHM-C's weight without the running average, i.e.
    momentum 0). Returned, as means over the draws:

    * ``last_bin_characters``: the share of the batch in the last bin (``g`` near 1: the
      characters the model reads as something else, confidently);
    * ``last_bin_weight``: the share of the total weight those characters get (``1 /
      occupied`` whatever their number: every occupied bin gets the same share);
    * ``occupied``: occupied bins a batch;
    * ``effective_fraction``: Kish's effective sample size over ``N``,
      ``(sum w)^2 / (N sum w^2) = occupied^2 / (N sum_b 1 / count_b)`` (1 for equal
      weights; the smaller, the fewer characters a step effectively learns from).
    """
    counts = np.asarray(counts, float)
    if counts.ndim != 1 or counts.sum() <= 0 or (counts < 0).any():
        raise ValueError("counts must be a non-empty histogram of non-negative counts")
    rng = np.random.default_rng(seed)
    batch = rng.multinomial(batch_positions, counts / counts.sum(), size=draws).astype(float)
    occupied = (batch > 0).sum(axis=1)
    inverse = np.where(batch > 0, 1.0 / np.maximum(batch, 1.0), 0.0).sum(axis=1)
    last = batch[:, -1]
    return {"last_bin_characters": float((last / batch_positions).mean()),
            "last_bin_weight": float(np.where(last > 0, 1.0 / occupied, 0.0).mean()),
            "occupied": float(occupied.mean()),
            "effective_fraction": float((occupied ** 2 / (batch_positions * inverse)).mean())}


def ghm_frame(results: list[dict], rows, data: str = "synthetic", test: str = "synthetic_val"):
    """:func:`ghm_batch_weights` for the first seed's model of each of ``rows``: what
    global GHM-C would make of a batch of its characters."""
    import pandas as pd

    groups, lines = by_row(results, data), []
    for row in rows:
        r = (groups.get(row) or [None])[0]
        if r is None or "g_density" not in r.get(test, {}):
            continue
        w = ghm_batch_weights(r[test]["g_density"]["count"])
        lines.append({"row": LABELS.get(row, row),
                      "characters at g > 29/30 (%)": 100 * w["last_bin_characters"],
                      "their share of GHM's weight (%)": 100 * w["last_bin_weight"],
                      "occupied bins": w["occupied"],
                      "effective batch (%)": 100 * w["effective_fraction"]})
    cols = ["row", "characters at g > 29/30 (%)", "their share of GHM's weight (%)",
            "occupied bins", "effective batch (%)"]
    return pd.DataFrame(lines, columns=cols).set_index("row").round(1)


def plot_g_density(results: list[dict], rows, data: str, test: str = "synthetic_val"):
    """Left: the density of GHM's gradient norm ``g = 1 - p_true`` over the characters of
    ``test`` for each row's trained model; right: each bin's share of the gradient under
    cross-entropy, focal and GHM-C, for the first row (the GHM paper's figure, on plates)."""
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    groups = by_row(results, data)
    first = None
    for i, row in enumerate(rows):
        r = (groups.get(row) or [None])[0]
        if r is None or "g_density" not in r.get(test, {}):
            continue
        d = r[test]["g_density"]
        edges = np.array(d["edges"])
        centres = (edges[1:] + edges[:-1]) / 2
        counts = np.array(d["count"], float)
        a.plot(centres, counts / counts.sum(), "o-", ms=3, color=f"C{i}",
               label=LABELS.get(row, row))
        first = first or (row, d)
    a.set_yscale("log")
    a.set_xlabel("gradient norm g = 1 - p(true character)")
    a.set_ylabel("share of characters")
    _legend(a, fontsize=8)
    if first:
        row, d = first
        parts = ghm_contributions(d["count"], d["edges"])
        edges = np.array(d["edges"])
        centres = (edges[1:] + edges[:-1]) / 2
        for name, style in (("ce", "-"), ("focal", "--"), ("ghm", ":")):
            b.plot(centres, parts[name], style, label={"ce": "cross-entropy", "focal": "focal",
                                                        "ghm": "GHM-C"}[name])
        b.set_title(f"the trained {LABELS.get(row, row)} model", fontsize=9)
    b.set_yscale("log")
    b.set_xlabel("gradient norm g")
    b.set_ylabel("share of the total gradient")
    _legend(b, fontsize=8)
    return fig


def bench_latency(results: list[dict], rows, bench=None, fmt: str = "tflite",
                  setting: str = "b1_t1") -> dict:
    """``{row: ms}``: the latency ``make bench`` measured (``results/bench/latency.json``)
    for the model each backbone row trains, in ``fmt`` at ``setting`` (batch 1, one thread
    by default). A row gets a figure only when the benchmarked model has its backbone and
    its number of parameters and MACs: the same network, not a relative of it."""
    import json
    from pathlib import Path

    from lpr_lib.repro import RESULTS_DIR

    if bench is None:
        path = Path(RESULTS_DIR) / "bench" / "latency.json"
        if not path.is_file():
            return {}
        bench = json.loads(path.read_text(encoding="utf-8"))
    models = bench.get("result", bench).get("models", {})
    out = {}
    for row in rows:
        mine = next((r for r in results if r["row"] == row), None)
        if mine is None:
            continue
        backbone = load_row(row).config.get("model", {}).get("backbone")
        for m in models.values():
            if (m.get("backbone") == backbone and int(m.get("params", -1)) == mine["params"]
                    and int(m.get("macs", -1)) == mine["macs"]):
                ms = m.get("formats", {}).get(fmt, {}).get(setting, {}).get("median_ms")
                if ms is not None:
                    out[row] = float(ms)
                break
    return out


def plot_backbones(results: list[dict], rows, data: str, latency: dict | None = None):
    """Parameters, MACs and, when given (``{row: ms}``), CPU latency, against the real test
    plate accuracy (mean and spread of the seeds) of each backbone row."""
    plt = _plt()
    panels = [("params", "parameters (millions)", 1e-6), ("macs", "MACs (millions)", 1e-6)]
    if latency:
        panels.append(("latency", "ms a plate (TFLite, batch 1, one thread)", 1.0))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    groups = by_row(results, data)
    metric = "real_test" if any("real_test" in r for r in results) else "synthetic_val"
    for ax, (key, label, scale) in zip(axes[0], panels):
        for i, row in enumerate(rows):
            rs = groups.get(row, [])
            if not rs:
                continue
            acc = [100 * r[metric]["plate_accuracy"] for r in rs if metric in r]
            x = latency.get(row) if key == "latency" else rs[0][key] * scale
            if x is None or not acc:
                continue
            ax.errorbar(x, np.mean(acc), yerr=np.std(acc, ddof=1) if len(acc) > 1 else 0,
                        fmt="o", color=f"C{i}", capsize=3, label=LABELS.get(row, row))
        ax.set_xlabel(label)
        ax.set_ylabel(f"{metric.replace('_', ' ')} plates read (%)")
    _legend(axes[0][0], fontsize=8)
    return fig


#: the columns of :func:`table_frame`: summary column -> heading
COLUMNS = {"synthetic_val": "synthetic val.", "real_test": "real test",
           "kinds_test": "kinds real plates lack", "real_test_p85": "real P@0.85",
           "real_test_r85": "real R@0.85", "real_test_p999": "real P@99.9%-thr.",
           "real_test_r999": "real R@99.9%-thr.", "real_test_p85_min": "real P@0.85, min",
           "real_test_r85_min": "real R@0.85, min", "real_test_p999_min":
           "real P@99.9%-thr., min", "real_test_r999_min": "real R@99.9%-thr., min",
           "train_minutes": "train (min)",
           "last_epoch_gain": "last epoch's gain"}


def cell(line: dict | None, metric: str, percent: bool = True) -> str:
    """``mean ± std`` of ``metric`` in a summary line (in % unless ``percent`` is False),
    ``mean`` alone for one seed, ``-`` when not measured."""
    if not line or line.get(f"{metric}_mean") is None:
        return "-"
    k = 100 if percent else 1
    text = f"{k * line[f'{metric}_mean']:.1f}"
    if line.get(f"{metric}_std") is not None:
        text += f" ± {k * line[f'{metric}_std']:.1f}"
    return text


def table_frame(summary: list[dict], rows, data: str, columns=("synthetic_val", "real_test",
                                                                 "kinds_test")):
    """A pandas table of ``rows`` for one data setting: seeds, then ``mean ± std`` (%) of
    each column (:data:`COLUMNS`; training time in minutes)."""
    import pandas as pd

    lines = {s["row"]: s for s in summary if s["data"] == data}
    table = [{"row": LABELS.get(r, r), "seeds": lines.get(r, {}).get("seeds", 0),
              **{COLUMNS.get(c, c): cell(lines.get(r), c, c != "train_minutes")
                 for c in columns}} for r in rows]
    return pd.DataFrame(table).set_index("row")


def paired_frame(runs: list[dict], data: str, metric: str = "real_test", rows=None):
    """Each row against the row it builds on, paired by seed (:func:`lpr_lib.ablation.paired`):
    the seeds both have, the mean difference and its 95% interval in percentage points, and
    the verdict (``higher``, ``lower`` or ``not resolved at N seeds``). ``runs``: the per-job
    lines of :func:`summary_lines`."""
    import pandas as pd

    have = {r["row"] for r in runs if r["data"] == data}
    lines = []
    for name in rows or [r for r in ROWS + EXTRA_ROWS if r in have]:
        row = load_row(name)
        if not row.bases or name not in have:
            continue
        p = paired(runs, name, row.bases[0], data, metric)
        lines.append({"row": LABELS.get(name, name), "against": LABELS.get(p["base"], p["base"]),
                      "seeds": p["n"], "diff": _pts(p["mean"]), "low": _pts(p["low"]),
                      "high": _pts(p["high"]), "verdict": p["verdict"]})
    cols = ["row", "against", "seeds", "diff", "low", "high", "verdict"]
    return pd.DataFrame(lines, columns=cols).set_index("row")


def _pts(x):
    return None if x is None else round(100 * x, 1)


#: how the chapters name each figure of :data:`lpr_lib.ablation.FIGURES` in a sentence
METRIC_WORDS = {"synthetic_val": "the synthetic validation plates",
                "real_test": "the real test plates", "kinds_test": "the synthetic plates of "
                "every kind", "validation": "its validation plates",
                "real_test_r85": "the real test plates accepted at 0.85 and right (recall)",
                "real_test_r999": "the real test plates accepted at the 99.9%-precision "
                "threshold chosen on validation (recall)"}


def verdict_text(runs: list[dict], row: str, base: str, data: str,
                 metric: str | None = None) -> str:
    """One sentence for the text: ``row`` against ``base`` in the data setting ``data`` on
    ``metric`` (default: the setting's :data:`PRIMARY` figure), paired by seed
    (:func:`lpr_lib.ablation.paired`): each row's mean over the shared seeds, the mean
    difference in points with its 95% t interval, and the verdict, ``higher`` or ``lower``
    when the interval excludes zero, else ``not resolved at N seeds``."""
    metric = metric or PRIMARY[data]
    where = f"with {data} data, {LABELS.get(row, row)}"
    p = paired(runs, row, base, data, metric)
    if not p["n"]:
        return f"{where} against {LABELS.get(base, base)}: not trained yet at this scale"

    def mean(name):
        return 100 * float(np.mean([r[metric] for r in runs if r["data"] == data
                                    and r["row"] == name and r["seed"] in p["seeds"]]))

    seeds = "one seed" if p["n"] == 1 else f"means over {p['n']} seeds"
    text = (f"{where} reads {mean(row):.1f}% of {METRIC_WORDS.get(metric, metric)} against "
            f"{mean(base):.1f}% for {LABELS.get(base, base)} ({seeds}): "
            f"{100 * p['mean']:+.1f} points")
    if p["n"] == 1:
        return text + ", not resolved at 1 seed"
    return (text + f", 95% interval [{100 * p['low']:+.1f}, {100 * p['high']:+.1f}] paired by "
            f"seed: {p['verdict']}")


def budget_text(scale: str = TABLE) -> str:
    """The training budget of a scale in words, from its ``scale_<name>.yaml``: "4 epochs of
    330 steps of 64 plates (1,320 steps) at 48x144"."""
    config = row_config("v4.0", "synthetic", SEEDS[0], scale)
    steps = config.epochs * config.steps_per_epoch
    height, width = config.data.image_size
    return (f"{config.epochs} epochs of {config.steps_per_epoch} steps of {config.batch_size} "
            f"plates ({steps:,} steps) at {height}x{width}")


#: the seed's figure and ours that measure the same thing: its "acc" is the precision among
#: the plates above its threshold, its recall the share of all plates above it and right
LIKE_FOR_LIKE = {"acc": "real_test_p85", "recall": "real_test_r85"}


def seed_verdicts(runs: list[dict], data: str = "mixed", rows=ROWS):
    """For every row the seed measured against the row it builds on, like with like: the
    seed's change of "acc" beside ours of precision at 0.85, its change of recall beside ours
    of recall at 0.85 (a plate's confidence the product of its characters'), each of ours
    paired by seed with its 95% interval (percentage points), and whether the seed's
    conclusion holds here: ``holds`` (our interval excludes zero on the seed's side),
    ``reversed`` (on the other side) or ``not resolved at N seeds``."""
    import pandas as pd

    lines = []
    for name in rows:
        row = load_row(name)
        if not row.seed_result or not row.bases or not load_row(row.bases[0]).seed_result:
            continue
        theirs = load_row(row.bases[0]).seed_result
        line = {"row": LABELS.get(name, name), "against": LABELS.get(row.bases[0])}
        for seed_key, ours_key in LIKE_FOR_LIKE.items():
            seed_diff = row.seed_result[seed_key] - theirs[seed_key]
            p = paired(runs, name, row.bases[0], data, ours_key)
            if p["verdict"] in ("higher", "lower"):
                judged = ("holds" if (p["verdict"] == "higher") == (seed_diff > 0)
                          else "reversed")
            elif p["verdict"] is None and any(r["row"] == name and r["data"] == data
                                              for r in runs):
                judged = "no plate accepted"  # its precision is undefined in some seed
            else:
                judged = p["verdict"] or "not measured"
            line.update({f"seed: {seed_key}": round(100 * seed_diff, 2),
                         f"ours: {seed_key}": _pts(p["mean"]),
                         f"ours: {seed_key} 95%": None if p["low"] is None
                         else f"[{_pts(p['low'])}, {_pts(p['high'])}]",
                         f"{seed_key}: the seed's conclusion": judged})
        lines.append(line)
    return pd.DataFrame(lines).set_index("row") if lines else pd.DataFrame()


def close_frame(summary: list[dict], factor: float = CLOSE_FACTOR):
    """:func:`close_pairs` as a pandas table in percentage points, with each pair's seeds."""
    import pandas as pd

    cols = ["data", "figure", "row", "against", "seeds", "diff", "spread"]
    lines = {(s["data"], s["row"]): s["seeds"] for s in summary}
    t = pd.DataFrame([{"data": c["data"], "figure": COLUMNS.get(c["metric"], c["metric"]),
                       "row": LABELS.get(c["row"], c["row"]),
                       "against": LABELS.get(c["base"], c["base"]),
                       "seeds": f"{c['seeds']} / {lines[(c['data'], c['base'])]}",
                       "diff": round(100 * c["diff"], 1), "spread": round(100 * c["spread"], 1)}
                      for c in close_pairs(summary, factor)], columns=cols)
    return t.set_index(["data", "row"])


def ece_frame(results: list[dict], rows, tests=("synthetic_val", "real_test")):
    """The expected calibration error (%) of ``rows``' models: mean, spread and number of
    seeds by data setting, test and row."""
    import pandas as pd

    lines = [{"data": r["data"], "test": test, "row": LABELS.get(r["row"], r["row"]),
              "ECE (%)": 100 * r[test]["reliability"]["ece"]}
             for r in results if r["row"] in rows
             for test in tests if "reliability" in r.get(test, {})]
    t = pd.DataFrame(lines, columns=["data", "test", "row", "ECE (%)"])
    return t.groupby(["data", "test", "row"])["ECE (%)"].agg(["mean", "std", "count"]).round(2)


def head_params(rows, data: str = "synthetic", seed: int = 2026,
                scale: str = TABLE) -> dict[str, dict]:
    """``{row: {"heads": n, "total": n, "features": n}}``: the parameters of the character
    heads (the dense layer from the pooled features to every position's logits), of the
    whole model, and the width of the features the heads read, for each row's model at
    ``scale`` (default: the chapters' table; built, not trained)."""
    from lpr_lib.ablation import row_config
    from lpr_lib.model import build_model, count_params

    out = {}
    for row in rows:
        model = build_model(row_config(row, data, seed, scale))
        heads = model.get_layer("char_logits")
        out[row] = {"heads": heads.count_params(), "total": count_params(model),
                    "features": int(heads.kernel.shape[0])}
    return out


def size_frame(results: list[dict], rows, data: str = "mixed", latency: dict | None = None,
               heads: dict | None = None):
    """Parameters (millions), MACs a plate (millions), training minutes (mean of the
    seeds) and, when given, the parameters of the character heads (``heads``:
    :func:`head_params`) and the CPU latency (``latency``: ``{row: ms}``,
    :func:`bench_latency`) of ``rows``' models."""
    import pandas as pd

    cols = ["row", "parameters (M)", "MMACs", "train (min)"]
    cols += ["of them, character heads (M)"] if heads else []
    cols += ["ms a plate (TFLite, 1 thread)"] if latency else []
    lines = []
    for row in rows:
        mine = [r for r in results if r["row"] == row and r["data"] == data]
        if mine:
            line = {"row": LABELS.get(row, row), "parameters (M)": mine[0]["params"] / 1e6,
                    "MMACs": mine[0]["macs"] / 1e6,
                    "train (min)": np.mean([r["train_seconds"] for r in mine]) / 60}
            if heads and row in heads:
                line["of them, character heads (M)"] = heads[row]["heads"] / 1e6
            if latency:
                line["ms a plate (TFLite, 1 thread)"] = latency.get(row)
            lines.append(line)
    return pd.DataFrame(lines, columns=cols).set_index("row").round(2)


def scale_frame(book: list[dict], long: list[dict], rows, data: str = "synthetic",
                metrics=("synthetic_val", "real_test")):
    """The same rows at the book's budget and at 4 times it (``lpr ablate --scale long``):
    the mean over the seeds of each of ``metrics`` (%), and the last epoch's gain in
    validation plates read (points), for each budget; ``-`` where a budget has no run."""
    import pandas as pd

    def line(results, row):
        return {s["row"]: s for s in summary_lines(results)[1] if s["data"] == data}.get(row)

    table = []
    for row in rows:
        entry = {"row": LABELS.get(row, row)}
        for name, results in (("book", book), ("4x steps", long)):
            summ = line(results, row)
            for m in metrics:
                entry[f"{COLUMNS.get(m, m)}, {name}"] = cell(summ, m)
            entry[f"last epoch's gain, {name}"] = cell(summ, "last_epoch_gain")
        table.append(entry)
    return pd.DataFrame(table).set_index("row")


def t_interval(values, confidence: float = CONFIDENCE):
    """``(mean, low, high)`` of ``values`` (Nones left out): the mean and its ``confidence``
    t interval over them; ``low`` and ``high`` are None with fewer than two values, and all
    three with none."""
    from scipy import stats

    values = [float(v) for v in values if v is not None]
    if not values:
        return None, None, None
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, None, None
    half = (stats.t.ppf(0.5 + confidence / 2, len(values) - 1)
            * float(np.std(values, ddof=1)) / np.sqrt(len(values)))
    return mean, mean - half, mean + half


def _epoch_cap(row: str, data: str, scale: str):
    """The epochs ``row``'s training may run at ``scale`` (its sparsity phase for a row that
    prunes a share of its budget); None when the row or the scale is unknown."""
    from lpr_lib.config import ConfigError

    try:
        return int(_cap_cached(row, data, scale))
    except (ConfigError, FileNotFoundError, ValueError):
        return None


@cache
def _cap_cached(row: str, data: str, scale: str) -> int:
    return row_config(row, data, SEEDS[0], scale).epochs


def _row_order(rows) -> list[str]:
    """``rows`` in the table's order (rows it does not know last, by name)."""
    order = {r: i for i, r in enumerate(ROWS + EXTRA_ROWS)}
    return sorted(set(rows), key=lambda r: (order.get(r, len(order)), r))


def convergence_frame(results: list[dict], data: str | None = None, scale: str = TABLE):
    """Whether the table's jobs converged, by data setting and row: the seeds, how many of
    them converged (:data:`lpr_lib.ablation.CONVERGED_GAIN`: the best validation plate
    accuracy rose by less than 0.5 points over the last quarter of the run's epochs), the
    largest such last-quarter gain (points), the epochs trained (mean and min-max; a plateau
    run stops before the scale's cap, and for a pruning row these are its training before
    the cut), the mean training and whole-job minutes (``train_seconds``, and
    ``run_seconds``: training, measuring and writing; a job resumed after a stop counts only
    its last start's), and how many jobs ran to the epoch cap without converging (the ones a
    larger budget would change). The cap is that of ``scale``, the scale the results are of
    (a result file names the scale it was trained under, which a renamed scale keeps)."""
    import pandas as pd

    runs = summary_lines(results)[0]  # in the order of ``results``: one line a job
    cols = ["data", "row", "seeds", "converged", "largest last-quarter gain (pts)",
            "epochs (mean)", "epochs (min-max)", "train (min)", "job (min)",
            "at the cap, not converged"]
    lines = []
    for d in DATA_SETTINGS:
        if data is not None and d != data:
            continue
        mine = [(r, run) for r, run in zip(results, runs) if r["data"] == d]
        for row in _row_order(r["row"] for r, _ in mine):
            jobs = [(r, run) for r, run in mine if r["row"] == row]
            epochs = [len(r.get("history") or []) for r, _ in jobs]
            gains = [run["last_quarter_gain"] for _, run in jobs
                     if run["last_quarter_gain"] is not None]
            cap = _epoch_cap(row, d, scale)
            capped = sum(cap is not None and n >= cap and not run["converged"]
                         for (_, run), n in zip(jobs, epochs))
            train = [r["train_seconds"] / 60 for r, _ in jobs
                     if r.get("train_seconds") is not None]
            job = [r["run_seconds"] / 60 for r, _ in jobs if r.get("run_seconds") is not None]
            lines.append({
                "data": d, "row": LABELS.get(row, row), "seeds": len(jobs),
                "converged": sum(bool(run["converged"]) for _, run in jobs),
                "largest last-quarter gain (pts)": _pts(max(gains)) if gains else None,
                "epochs (mean)": round(float(np.mean(epochs)), 1),
                "epochs (min-max)": f"{min(epochs)}-{max(epochs)}",
                "train (min)": round(float(np.mean(train)), 1) if train else None,
                "job (min)": round(float(np.mean(job)), 1) if job else None,
                "at the cap, not converged": capped})
    return pd.DataFrame(lines, columns=cols).set_index(["data", "row"])


@cache
def _family(row: str) -> str:
    """The backbone family of ``row``'s model: ResNet (resnet18, its v2 and ResNeXt-18) or
    MobileNet (v1, v2, v3), else the backbone's name."""
    from lpr_lib.config import ConfigError

    try:
        backbone = load_row(row).config.get("model", {}).get("backbone", "resnet18")
    except (ConfigError, FileNotFoundError):
        return "unknown"
    if backbone.startswith(("resnet", "resnext")):
        return "ResNet"
    if backbone.startswith("mobilenet"):
        return "MobileNet"
    return backbone


def cost_summary(results: list[dict], rows=ROWS, data=DATA_SETTINGS, seeds=SEEDS) -> dict:
    """What the table costs, measured, for the chapter to glue. Returned:

    * ``job_minutes``: ``{family: {"jobs", "median", "min", "max"}}``, one job's wall time
      (``run_seconds``: training, measuring and writing its result) in minutes, by
      backbone family (:func:`_family`), over every result given;
    * ``jobs``, ``hours``: the results given and the sum of their wall times, in hours;
    * ``plan_jobs``, ``plan_done``, ``plan_hours``: the plan's jobs (``rows`` x ``data`` x
      ``seeds``: 17 x 2 x 3), those with a result and their hours;
    * ``missing``, ``missing_hours``: the plan's jobs without a result and what they will
      cost, each projected from its row's median wall time in its data setting, else in the
      other, else from its backbone family's median (``projected_from_family`` counts
      those; ``not_projected`` those with nothing to go on);
    * ``projected_hours``: the whole plan, measured plus projected;
    * ``resumed``: results whose wall time is shorter than their training: jobs resumed
      after a stop, whose ``run_seconds`` counts only their last start (their cost is
      under-stated by what the earlier starts took).
    """
    timed = [r for r in results if r.get("run_seconds") is not None]
    families: dict[str, list[float]] = {}
    for r in timed:
        families.setdefault(_family(r["row"]), []).append(r["run_seconds"] / 60)
    job_minutes = {f: {"jobs": len(v), "median": float(np.median(v)), "min": float(min(v)),
                       "max": float(max(v))} for f, v in sorted(families.items())}

    def median(row=None, data=None, family=None):
        v = [r["run_seconds"] for r in timed
             if (row is None or r["row"] == row) and (data is None or r["data"] == data)
             and (family is None or _family(r["row"]) == family)]
        return float(np.median(v)) if v else None

    have = {(r["row"], r["data"], r["seed"]): r for r in results}
    plan = [(r, d, int(s)) for s in seeds for d in data for r in rows]
    done = [have[k] for k in plan if k in have]
    missing = [k for k in plan if k not in have]
    projected, from_family, none = 0.0, 0, 0
    for row, d, _ in missing:
        guess = median(row, d)
        if guess is None:
            guess = median(row)
        if guess is None:
            guess = median(family=_family(row))
            from_family += guess is not None
        if guess is None:
            none += 1
            continue
        projected += guess
    plan_hours = sum(r.get("run_seconds") or 0 for r in done) / 3600
    return {"job_minutes": job_minutes, "jobs": len(results),
            "hours": sum(r["run_seconds"] for r in timed) / 3600,
            "plan_jobs": len(plan), "plan_done": len(done), "plan_hours": plan_hours,
            "missing": len(missing), "missing_hours": projected / 3600,
            "projected_from_family": from_family, "not_projected": none,
            "projected_hours": plan_hours + projected / 3600,
            "resumed": sum(r["run_seconds"] < (r.get("train_seconds") or 0) for r in timed)}


#: what each dissection row (:data:`lpr_lib.ablation.DISSECTION`) changes in the seed's final
#: recipe: (part, the seed's choice, what replaces it), as its config file says
DISSECTED = {"final-ce": ("loss", "label-wise GHM", "cross-entropy"),
             "final-adam": ("optimizer", "RAdam", "Adam"),
             "final-cosine": ("schedule", "the seed's steps", "warm-up cosine"),
             "final-flathead": ("head", "global average pooling", "flatten"),
             "final-nol1": ("BatchNorm gamma penalty", "L1", "none"),
             "final-l2gamma": ("BatchNorm gamma penalty", "L1", "L2"),
             "final-steps8": ("peak learning rate", "1e-3", "8e-3")}


def dissection_frame(runs: list[dict], data: str = "mixed", metric: str = "real_test"):
    """The seed's final recipe dissected: a line for ``final`` and one for each row that
    replaces one of its parts by the book's choice (:data:`DISSECTED`), with the part, the
    seed's choice and its replacement, the seeds, the row's own mean on ``metric`` (%), and
    the row minus ``final`` paired by seed (:func:`lpr_lib.ablation.paired`): the mean
    difference and its 95% t interval in percentage points and the verdict (``higher``,
    ``lower``, ``not resolved at N seeds``, ``one seed``, or ``not measured``). ``runs``: the
    per-job lines of :func:`summary_lines`."""
    import pandas as pd

    cols = ["row", "part", "the seed's", "replaced by", "seeds", "mean", "diff", "low",
            "high", "verdict"]
    lines = []
    for name in DISSECTION:
        values = [r[metric] for r in runs if r["data"] == data and r["row"] == name
                  and r.get(metric) is not None]
        part, seeds_choice, by = DISSECTED.get(name, ("none: the seed's recipe", "", ""))
        line = {"row": LABELS.get(name, name), "part": part, "the seed's": seeds_choice,
                "replaced by": by, "seeds": len(values),
                "mean": _pts(float(np.mean(values))) if values else None}
        if name != DISSECTION[0]:
            p = paired(runs, name, DISSECTION[0], data, metric)
            line.update(diff=_pts(p["mean"]), low=_pts(p["low"]), high=_pts(p["high"]),
                        verdict=p["verdict"] or "not measured")
        lines.append(line)
    return pd.DataFrame(lines, columns=cols).set_index("row")


#: the losses of the label-noise test: (row at 0% noise, name)
NOISE_LOSSES = (("v4.0", "cross-entropy"), ("v6", "GHM global"), ("v6-multi", "GHM label-wise"))
#: the label-noise rates (%) the noise rows train with; 0 is the table's own row
NOISE_RATES = (0, 5, 15)


def _noise_row(base: str, rate: int) -> str:
    return base if rate == 0 else f"{base}-noise{rate}"


def noise_frame(runs: list[dict], metric: str = "synthetic_val", data: str = "synthetic"):
    """GHM's claim tested: for each loss (:data:`NOISE_LOSSES`) at each share of wrong
    training labels (:data:`NOISE_RATES`), the seeds, the mean of ``metric`` (%) with its 95%
    t interval over seeds, the change from the same loss at 0% (paired by seed: how much of
    its accuracy the loss keeps as the noise rises), and for the GHM losses the difference
    from cross-entropy at the same rate, paired by seed, with its interval and verdict; all
    in percentage points. ``runs``: the per-job lines of :func:`summary_lines`."""
    import pandas as pd

    cols = ["loss", "wrong labels (%)", "seeds", "mean", "low", "high", "change from 0%",
            "change low", "change high", "minus cross-entropy", "minus CE low",
            "minus CE high", "verdict against cross-entropy"]
    ce = NOISE_LOSSES[0][0]
    lines = []
    for base, loss in NOISE_LOSSES:
        for rate in NOISE_RATES:
            row = _noise_row(base, rate)
            values = [r[metric] for r in runs if r["data"] == data and r["row"] == row
                      and r.get(metric) is not None]
            mean, low, high = t_interval(values)
            line = {"loss": loss, "wrong labels (%)": rate, "seeds": len(values),
                    "mean": _pts(mean), "low": _pts(low), "high": _pts(high)}
            if rate:
                p = paired(runs, row, base, data, metric)
                line.update({"change from 0%": _pts(p["mean"]), "change low": _pts(p["low"]),
                             "change high": _pts(p["high"])})
            if base != ce:
                p = paired(runs, row, _noise_row(ce, rate), data, metric)
                line.update({"minus cross-entropy": _pts(p["mean"]),
                             "minus CE low": _pts(p["low"]), "minus CE high": _pts(p["high"]),
                             "verdict against cross-entropy": p["verdict"] or "not measured"})
            lines.append(line)
    return pd.DataFrame(lines, columns=cols).set_index(["loss", "wrong labels (%)"])


def plot_noise(runs: list[dict], metric: str = "synthetic_val", data: str = "synthetic"):
    """Accuracy on ``metric`` against the share of wrong training labels, one line a loss
    (:data:`NOISE_LOSSES`): the mean over seeds, with its 95% t interval as error bars (none
    for a single seed); the losses are set a little apart along x so the bars do not hide
    one another; the accuracy axis stays within 0-100%."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    table = noise_frame(runs, metric, data)
    for i, (_, loss) in enumerate(NOISE_LOSSES):
        x, y, err = [], [], [[], []]
        for rate in NOISE_RATES:
            line = table.loc[(loss, rate)]
            if line["seeds"] == 0:
                continue
            x.append(rate + (i - 1) * 0.25)
            y.append(line["mean"])
            has = not (line["low"] is None or np.isnan(line["low"]))
            err[0].append(line["mean"] - line["low"] if has else 0.0)
            err[1].append(line["high"] - line["mean"] if has else 0.0)
        if x:
            ax.errorbar(x, y, yerr=err, fmt="o-", capsize=4, color=f"C{i}", label=loss)
    ax.set_xticks(NOISE_RATES)
    ax.set_xlim(min(NOISE_RATES) - 1, max(NOISE_RATES) + 1)
    low, high = ax.get_ylim()  # an interval of few seeds may reach past 0% or 100%
    ax.set_ylim(max(low, 0.0), min(high, 100.0))
    ax.set_xlabel("training labels wrong (%)", fontsize=12)
    ax.set_ylabel(f"{COLUMNS.get(metric, metric)} plates read (%)", fontsize=12)
    ax.tick_params(labelsize=11)
    _legend(ax, fontsize=11)
    return fig


def _integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def plot_gamma_over_epochs(results: list[dict], rows=(*DISSECTION, "v7"),
                           data: str = "mixed"):
    """BatchNorm's gammas over training, from each job's trace: the median |gamma| (left)
    and the share of gammas below 0.05 (right, %: the channels network slimming would cut)
    after every epoch (0 = initialisation), one line a row, the mean of its seeds at each
    epoch (a plateau run that stopped early leaves the later epochs to the others). For
    the dissection of the seed's final recipe and for v7's sparsity training."""
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    groups = by_row(results, data)
    for i, row in enumerate(rows):
        median: dict[int, list[float]] = {}
        below: dict[int, list[float]] = {}
        for r in groups.get(row, []):
            for e in ((r.get("trace") or {}).get("epochs") or []):
                if "gamma" in e:
                    median.setdefault(e["epoch"] + 1, []).append(e["gamma"]["quantiles"]["0.5"])
                    below.setdefault(e["epoch"] + 1, []).append(e["gamma"]["below_0.05"])
        if not median:
            continue
        xs = sorted(median)
        a.plot(xs, [np.mean(median[x]) for x in xs], "o-", ms=3, color=f"C{i}",
               label=LABELS.get(row, row))
        b.plot(xs, [100 * np.mean(below[x]) for x in xs], "o-", ms=3, color=f"C{i}",
               label=LABELS.get(row, row))
    for ax, label in ((a, "median |gamma|"), (b, "gammas below 0.05 (%)")):
        ax.xaxis.set_major_locator(_integer_ticks())
        ax.set_xlabel("epoch (0 = initialisation)", fontsize=12)
        ax.set_ylabel(label, fontsize=12)
        ax.tick_params(labelsize=11)
    _legend(a, fontsize=10)
    return fig


#: the scales of the input-size study and what they vary
SIZE_SCALES = ("long", "long32", "long24")
#: the tests of the input-size study: result key -> heading
SIZE_TESTS = {"real_test": "real test", "synthetic_val": "synthetic val.",
              "kinds_test": "kinds real plates lack"}


def _size_runs(long, long32, long24, row, data, seed):
    """``[(scale, input size "HxW", result or None)]`` of the input-size study."""
    out = []
    for scale, results in zip(SIZE_SCALES, (long, long32, long24)):
        r = next((r for r in results if r["row"] == row and r["data"] == data
                  and r["seed"] == seed), None)
        h, w = row_config(row, data, seed, scale).data.image_size
        out.append((scale, f"{h}x{w}", r))
    return out


def size_study_frame(long: list[dict], long32: list[dict], long24: list[dict],
                     row: str = "v4.0", data: str = "mixed", seed: int = SEEDS[0]):
    """The input-size study as a table: for each input size (scales ``long``, ``long32``,
    ``long24``: the same steps), the plates read (%) on the real test, the synthetic
    validation plates and the synthetic kinds test, the best validation accuracy (%), the
    epochs and the training minutes of ``row``'s job (``data``, ``seed``)."""
    import pandas as pd

    lines = []
    for scale, size, r in _size_runs(long, long32, long24, row, data, seed):
        line = {"input": size, "scale": scale}
        for key, head in SIZE_TESTS.items():
            line[head] = _pts(((r or {}).get(key) or {}).get("plate_accuracy"))
        val = [h.get("val_chars_plate_acc") for h in (r or {}).get("history") or []
               if h.get("val_chars_plate_acc") is not None]
        line["best validation"] = _pts(max(val)) if val else None
        line["epochs"] = len((r or {}).get("history") or [])
        line["train (min)"] = round(r["train_seconds"] / 60, 1) if r else None
        lines.append(line)
    cols = ["input", "scale", *SIZE_TESTS.values(), "best validation", "epochs",
            "train (min)"]
    return pd.DataFrame(lines, columns=cols).set_index("input")


def plot_size_study(long: list[dict], long32: list[dict], long24: list[dict],
                    row: str = "v4.0", data: str = "mixed", seed: int = SEEDS[0]):
    """The input-size study (:func:`size_study_frame`): left, the plates read on the real
    test, the synthetic validation plates and the synthetic kinds test, a group of bars an
    input size; right, the validation plate accuracy after every epoch, a line an input
    size."""
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    study = _size_runs(long, long32, long24, row, data, seed)
    width = 0.8 / len(SIZE_TESTS)
    for k, (key, head) in enumerate(SIZE_TESTS.items()):
        ys = [100 * (((r or {}).get(key) or {}).get("plate_accuracy") or np.nan)
              for _, _, r in study]
        a.bar(np.arange(len(study)) + (k - (len(SIZE_TESTS) - 1) / 2) * width, ys, width,
              color=f"C{k}", label=head)
    a.set_xticks(range(len(study)), [size for _, size, _ in study], fontsize=11)
    a.set_xlabel("input size (pixels)", fontsize=12)
    a.set_ylabel("plates read (%)", fontsize=12)
    _legend(a, fontsize=10)
    for i, (_, size, r) in enumerate(study):
        ys = [100 * (h.get("val_chars_plate_acc") or 0) for h in (r or {}).get("history") or []]
        if ys:
            b.plot(range(1, len(ys) + 1), ys, "o-", ms=3, color=f"C{i}", label=size)
    b.xaxis.set_major_locator(_integer_ticks())
    b.set_xlabel("epoch", fontsize=12)
    b.set_ylabel("validation plates read (%)", fontsize=12)
    for ax in (a, b):
        ax.tick_params(labelsize=11)
    _legend(b, fontsize=10)
    return fig
