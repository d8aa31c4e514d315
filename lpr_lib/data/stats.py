"""Class statistics: how often each character stands at each position (``lpr stats``).

The imbalance chapter starts here: real plates are dominated by a few provinces, so a head that
always answers 皖 is right most of the time, and the rare classes need the loss's help.
"""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd

from lpr_lib.data.formats import Sample
from lpr_lib.plates import (CHARS, DIGITS, LETTERS, MAX_LEN, NUM_CLASSES, PROVINCES, SPECIALS,
                            infer_kind, is_valid)

GROUPS = {**{c: "province" for c in PROVINCES}, **{c: "digit" for c in DIGITS},
          **{c: "letter" for c in LETTERS}, **{c: "special" for c in SPECIALS}}

__all__ = ["class_statistics", "province_counts", "summary", "plot_class_statistics",
           "usable_samples", "cli_stats"]


def _labels(samples) -> np.ndarray:
    if isinstance(samples, np.ndarray):
        return samples.astype(np.int64).reshape(-1, MAX_LEN)
    return np.stack([np.asarray(s.labels) for s in samples]).astype(np.int64) if len(samples) \
        else np.zeros((0, MAX_LEN), np.int64)


def class_statistics(samples) -> pd.DataFrame:
    """Counts of every class at every position: one row per (position, char).

    ``samples`` is a list of :class:`Sample` or an int array (N, 8) of labels. Columns:
    ``position`` (0-7), ``char``, ``group`` (province/digit/letter/special), ``count`` and
    ``share`` (of the plates that have that position). Every class appears at every position,
    with count 0 where it never occurs, so that absent classes are visible too.
    """
    labels = _labels(samples)
    rows = []
    for pos in range(MAX_LEN):
        col = labels[:, pos]
        present = col[col >= 0]
        counts = np.bincount(present, minlength=NUM_CLASSES)
        for idx, char in enumerate(CHARS):
            rows.append((pos, char, GROUPS[char], int(counts[idx]),
                         counts[idx] / len(present) if len(present) else 0.0))
    return pd.DataFrame(rows, columns=["position", "char", "group", "count", "share"])


def province_counts(samples) -> pd.Series:
    """How many plates each province has (first position), most frequent first; zeros kept."""
    stats = class_statistics(samples)
    first = stats[(stats.position == 0) & (stats.group == "province")]
    return first.set_index("char")["count"].sort_values(ascending=False, kind="stable")


def summary(samples) -> dict:
    """A few numbers that describe a dataset's balance: sizes, kinds, lengths and, per position,
    the number of classes seen and the ratio of the most to the least frequent of them."""
    labels = _labels(samples)
    stats = class_statistics(labels)
    per_pos = {}
    for pos in range(MAX_LEN):
        c = stats[(stats.position == pos) & (stats["count"] > 0)]["count"]
        if len(c):
            per_pos[pos] = {"plates": int(c.sum()), "classes_seen": int(len(c)),
                            "max_over_min": round(float(c.max() / c.min()), 1)}
    provinces = province_counts(labels)
    texts = ["".join(CHARS[i] for i in row if i >= 0) for row in labels]
    # a 7-character text cannot tell a blue plate from a yellow one: infer_kind says "blue"
    kinds = Counter({"blue": "blue/yellow"}.get(k, k) for k in
                    (infer_kind(t) if is_valid(t) else "invalid" for t in texts))
    lengths = Counter(len(t) for t in texts)
    return {
        "plates": int(len(labels)), "distinct_plates": len(set(texts)),
        "lengths": {int(k): v for k, v in sorted(lengths.items())},
        "kinds": dict(kinds.most_common()),
        "provinces_seen": int((provinces > 0).sum()), "provinces_total": len(PROVINCES),
        "top_provinces": {k: int(v) for k, v in provinces.head(5).items()},
        "positions": per_pos,
    }


def plot_class_statistics(samples_or_stats, title: str | None = None, fig=None):
    """Two panels: plates per province (log scale, zeros marked) and a heat map of the share of
    each character at each position. Returns the matplotlib figure."""
    import logging

    import matplotlib.pyplot as plt
    import seaborn as sns

    from lpr_lib.book import _use_cjk_font

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    _use_cjk_font()  # the plate characters need a CJK font
    stats = (samples_or_stats if isinstance(samples_or_stats, pd.DataFrame)
             else class_statistics(samples_or_stats))
    fig = fig or plt.figure(figsize=(12, 6.5))
    ax1, ax2 = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, 1.3]})
    prov = stats[(stats.position == 0) & (stats.group == "province")]
    prov = prov.sort_values("count", ascending=False, kind="stable")
    ax1.bar(prov["char"], prov["count"].clip(lower=0.8), color=np.where(prov["count"] > 0,
                                                                       "tab:blue", "lightgrey"))
    ax1.set_yscale("log")
    ax1.set_ylabel("plates (log)")
    ax1.set_title("first position: plates per province (grey: none)")
    for x, n in enumerate(prov["count"]):
        if n == 0:
            ax1.text(x, 1, "0", ha="center", va="bottom", fontsize=7, color="grey")
    used = stats.groupby("char")["count"].sum()
    chars = [c for c in CHARS if used.get(c, 0) > 0 and GROUPS[c] != "province"]
    wide = (stats[stats["char"].isin(chars)].pivot(index="position", columns="char", values="share")
            [chars])
    wide = wide.loc[wide.sum(axis=1) > 0]  # positions that hold these characters at all
    sns.heatmap(wide, ax=ax2, cmap="viridis", cbar_kws={"label": "share at position"},
                xticklabels=True)
    ax2.set_xlabel("")
    ax2.set_ylabel("position")
    ax2.set_title("letters, digits and specials: share at each position")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def usable_samples(source) -> tuple[list[Sample], list]:
    """The samples of ``source`` that ``lpr check`` accepts, and the errors it found: the one
    rule that ``lpr stats`` and ``lpr check`` share (unreadable images, wrong-length or invalid
    plates, unreadable files and folders are not counted, but reported)."""
    from lpr_lib.data.check import check_dataset

    report = check_dataset(source)
    return report.samples, report.errors


def cli_stats(args) -> int:
    """``lpr stats DATA...``: the summary and the province table; ``--plot`` writes the figure.

    Only what ``lpr check`` accepts is counted; everything else is listed on stderr (exit status
    1 when nothing at all could be counted)."""
    import sys

    samples, errors = usable_samples(args.data)
    if errors:
        print(f"lpr stats: {len(errors)} problem(s); these entries are not counted "
              "(`lpr check` lists everything):", file=sys.stderr)
        for p in errors[:20]:
            print(f"  {p}", file=sys.stderr)
        if len(errors) > 20:
            print(f"  ... and {len(errors) - 20} more", file=sys.stderr)
    info = summary(samples)
    if getattr(args, "json", False):
        info["province_counts"] = {k: int(v) for k, v in province_counts(samples).items()}
        info["not_counted"] = [str(p) for p in errors]
        print(json.dumps(info, ensure_ascii=False, indent=2))
    else:
        print(f"{info['plates']} plates ({info['distinct_plates']} distinct), lengths "
              f"{info['lengths']}, kinds {info['kinds']}")
        print(f"provinces: {info['provinces_seen']} of {info['provinces_total']} occur")
        counts = province_counts(samples)
        print("  " + "  ".join(f"{c} {n}" for c, n in counts.items() if n > 0))
        missing = "".join(c for c, n in counts.items() if n == 0)
        if missing:
            print(f"  none: {missing}")
        for pos, p in info["positions"].items():
            print(f"position {pos}: {p['plates']} plates, {p['classes_seen']} classes, "
                  f"most/least frequent = {p['max_over_min']}")
    if getattr(args, "plot", None):
        import matplotlib

        matplotlib.use("Agg")
        fig = plot_class_statistics(samples, title=", ".join(map(str, args.data)))
        fig.savefig(args.plot, dpi=120)
        print(f"plot written to {args.plot}")
    return 1 if errors and not samples else 0
