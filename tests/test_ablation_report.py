"""lpr_lib.ablation_report: each row against its base with the right verdict, the GHM
contributions of a histogram, and every figure drawn from result files."""
import numpy as np
import pytest

from lpr_lib import ablation_report as rep
from lpr_lib.ablation import DISSECTION


def _line(row, data, mean, std, seeds=2):
    return {"row": row, "data": data, "seeds": seeds, "real_test_mean": mean,
            "real_test_std": std}


def test_compare_names_the_base_and_judges_against_the_spread():
    summary = [_line("v1", "mixed", 0.50, 0.01), _line("v2", "mixed", 0.60, 0.02),
               _line("v3", "mixed", 0.61, 0.03), _line("v4.0", "mixed", 0.62, None, 1)]
    out = {c["row"]: c for c in rep.compare(summary, "mixed")}
    assert out["v2"]["base"] == "v1" and out["v2"]["diff"] == pytest.approx(0.10)
    assert out["v2"]["spread"] == pytest.approx(np.hypot(0.01, 0.02))
    assert out["v2"]["verdict"] == "larger than the spread"
    assert out["v3"]["verdict"] == "within the spread"
    assert out["v4.0"]["verdict"] == "one seed"
    assert out["v1"]["diff"] is None  # its base (baseline) has no result


def test_seed_table_puts_the_seed_beside_ours():
    lines = rep.seed_table([{**_line("v1", "mixed", 0.5, 0.01), "real_test_r85_min_mean": 0.3},
                            _line("v2", "mixed", 0.6, 0.01)], "mixed")
    v1 = next(x for x in lines if x["row"] == "v1")
    assert v1["recall_85_min"] == 0.3
    assert v1["seed_acc"] == 0.86 and v1["seed_diff"] == pytest.approx(0.10)
    assert v1["plate_accuracy"] == 0.5
    v2 = next(x for x in lines if x["row"] == "v2")
    assert v2["recall_85_min"] is None  # not in the line: not measured, not invented
    assert next(x for x in lines if x["row"] == "v4.3")["seed_acc"] is None


def test_ghm_gives_every_occupied_bin_the_same_count_weighted_share():
    counts = np.array([900, 50, 0, 50])
    edges = np.linspace(0, 1, 5)
    parts = rep.ghm_contributions(counts, edges, gamma=2.0)
    g = np.array([0.125, 0.375, 0.625, 0.875])
    np.testing.assert_allclose(parts["ce"], counts * g / (counts * g).sum())
    ghm = np.array([g[0], g[1], 0, g[3]])
    np.testing.assert_allclose(parts["ghm"], ghm / ghm.sum())
    f = counts * g ** 3
    np.testing.assert_allclose(parts["focal"], f / f.sum())
    # the easy bin dominates cross-entropy's gradient far less under GHM
    assert parts["ghm"][0] < parts["ce"][0]



def test_ghm_batch_weights_agree_with_the_loss_itself():
    """The batch statistics equal those of GHMC.weights (momentum 0) on the same drawn
    batches: the share of weight on the last bin, occupied bins, Kish's effective size."""
    from lpr_lib.losses import GHMC

    counts = np.array([300.0] + [2.0] * 28 + [600.0])  # a crowd at g ~ 1, many easy ones
    out = rep.ghm_batch_weights(counts, batch_positions=96, draws=20, seed=3)
    batches = np.random.default_rng(3).multinomial(96, counts / counts.sum(), size=20)
    centres = (np.arange(30) + 0.5) / 30
    loss = GHMC(bins=30, momentum=0.0, mode="global")
    last, occupied, effective, characters = [], [], [], []
    for batch in batches:
        g = np.repeat(centres, batch).astype("float32").reshape(12, 8)
        w, _ = loss.weights(g, np.ones_like(g), update=False)
        w = np.asarray(w).ravel()
        in_last = np.repeat(np.arange(30), batch) == 29
        last.append(w[in_last].sum() / w.sum())
        occupied.append((batch > 0).sum())
        effective.append(w.sum() ** 2 / (w.size * (w ** 2).sum()))
        characters.append(in_last.mean())
    assert out["last_bin_weight"] == pytest.approx(np.mean(last), rel=1e-5)
    assert out["occupied"] == pytest.approx(np.mean(occupied))
    assert out["effective_fraction"] == pytest.approx(np.mean(effective), rel=1e-5)
    assert out["last_bin_characters"] == pytest.approx(np.mean(characters))
    # two thirds of the characters in the last bin get a small share of the weight
    assert out["last_bin_characters"] > 0.6 and out["last_bin_weight"] < 0.2
    # one occupied bin: equal weights, the whole batch counts
    one = rep.ghm_batch_weights([0.0] * 29 + [5.0], batch_positions=64, draws=3)
    assert one["effective_fraction"] == pytest.approx(1.0) and one["last_bin_weight"] == 1.0
    with pytest.raises(ValueError):
        rep.ghm_batch_weights([0, 0])

def _fake_result(row, data, seed, acc):
    rng = np.random.default_rng(seed)
    rel = {"edges": np.linspace(0, 1, 16).tolist(), "count": [1] * 15,
           "confidence": np.linspace(0.03, 0.97, 15).tolist(),
           "accuracy": np.linspace(0.0, 1.0, 15).tolist(), "ece": 0.02}
    test = {"plate_accuracy": acc, "reliability": rel,
            "g_density": {"edges": np.linspace(0, 1, 31).tolist(),
                          "count": rng.integers(1, 100, 30).tolist()},
            "confidence": {"edges": np.linspace(0, 1, 21).tolist(), "right": [1] * 20,
                           "wrong": [1] * 20}}
    trace = {"gamma_bins": np.linspace(0, 2, 41).tolist(),
             "steps": [[10 * i, 5.0 / i] for i in range(1, 30)],
             "epochs": [{"epoch": e, "kernel_sq_sum": 100.0 - e,
                         "kernel_norms": {"a": 1.0, "b": 2.0},
                         "gamma": {"hist": [1] * 40, "below_0.05": 0.1}} for e in (-1, 0, 1)]}
    return {"row": row, "data": data, "seed": seed, "params": 1e6, "macs": 2e7,
            "history": [{"val_chars_plate_acc": 0.1}, {"val_chars_plate_acc": acc}],
            "trace": trace, "real_test": test, "synthetic_val": test,
            "lighting": {"accuracy": {"as rendered": acc, "dark (x0.5)": acc / 2}}}


def test_every_figure_draws_from_result_files():
    import matplotlib

    matplotlib.use("Agg")
    results = [_fake_result(r, "mixed", s, a) for r, a in (("v1", 0.5), ("v2", 0.6))
               for s in (1, 2)]
    summary = [_line("v1", "mixed", 0.5, 0.0), _line("v2", "mixed", 0.6, 0.0)]
    figs = [rep.plot_bars(summary, rows=("v1", "v2")),
            rep.plot_curves(results, ("v1", "v2"), "mixed"),
            rep.plot_loss_trace(results, ("v1", "v2"), "mixed"),
            rep.plot_kernel_norms(results, ("v1", "v2"), "mixed"),
            rep.plot_gamma_histograms(results, ("v1", "v2"), "mixed"),
            rep.plot_lighting(results, ("v1", "v2"), "mixed"),
            rep.plot_reliability(results, ("v1", "v2"), "mixed"),
            rep.plot_g_density(results, ("v1", "v2"), "mixed"),
            rep.plot_backbones(results, ("v1", "v2"), "mixed", latency={"v1": 0.5})]
    for fig in figs:
        assert fig.axes and any(ax.lines or ax.patches or ax.collections for ax in fig.axes)


def test_scale_frame_puts_the_two_budgets_side_by_side():
    book = [_fake_result("v4.0", "synthetic", s, 0.4) for s in (1, 2)]
    long = [_fake_result("v4.0", "synthetic", 1, 0.8)]
    t = rep.scale_frame(book, long, ("v4.0", "v6"), "synthetic", metrics=("synthetic_val",))
    v40 = t.loc[rep.LABELS["v4.0"]]
    assert v40["synthetic val., 4x steps"] == "80.0"
    assert v40["synthetic val., book"].startswith("40.0")
    assert t.loc[rep.LABELS["v6"]]["synthetic val., book"] == "-"


def test_ghm_frame_has_a_line_for_each_row_with_a_density():
    results = [_fake_result("v4.0", "synthetic", 1, 0.4), _fake_result("v6", "synthetic", 1, 0.0)]
    t = rep.ghm_frame(results, ("v4.0", "v6", "final"), "synthetic")
    assert list(t.index) == [rep.LABELS["v4.0"], rep.LABELS["v6"]]
    assert (t["effective batch (%)"] > 0).all() and (t["effective batch (%)"] <= 100).all()


def test_bench_latency_takes_only_the_same_network():
    results = [{**_fake_result("v4.0", "mixed", 1, 0.5), "params": 10, "macs": 20,
                "train_seconds": 60.0},
               {**_fake_result("v4.2", "mixed", 1, 0.5), "params": 11, "macs": 21,
                "train_seconds": 60.0}]
    fmt = {"formats": {"tflite": {"b1_t1": {"median_ms": 0.6}}}}
    bench = {"result": {"models": {
        "resnet18": {"backbone": "resnet18", "params": 10, "macs": 20, **fmt},
        "resnext18": {"backbone": "resnext18", "params": 99, "macs": 21, **fmt}}}}
    assert rep.bench_latency(results, ("v4.0", "v4.2", "v4.3"), bench) == {"v4.0": 0.6}
    t = rep.size_frame(results, ("v4.0", "v4.2"), "mixed", {"v4.0": 0.6},
                       heads={"v4.0": {"heads": 2_500_000}})
    assert t["ms a plate (TFLite, 1 thread)"].tolist()[0] == 0.6
    assert t["of them, character heads (M)"].tolist()[0] == 2.5


def test_head_params_count_the_dense_layer_over_the_flattened_map():
    from lpr_lib.plates import MAX_LEN, NUM_CLASSES

    out = rep.head_params(["v4.4"])["v4.4"]
    # MobileNet v2 keeps its last 1x1 convolution 1280 wide below width 1 (the paper's
    # choice): the flatten head reads 1280 channels x 3x9 cells of a 48x144 crop
    assert out["features"] == 1280 * 3 * 9
    assert out["heads"] == (1280 * 3 * 9 + 1) * MAX_LEN * NUM_CLASSES
    assert out["heads"] < out["total"]


def test_close_pairs_are_those_within_twice_their_spread():
    summary = [_line("v1", "mixed", 0.50, 0.01), _line("v2", "mixed", 0.52, 0.01),
               _line("v3", "mixed", 0.60, 0.01), _line("v4.0", "mixed", 0.60, None, 1)]
    pairs = rep.close_pairs(summary, metrics={"mixed": "real_test"})
    # v2 - v1 = 0.02 <= 2 * hypot(0.01, 0.01) = 0.028; v3 - v2 = 0.08 is not; v4.0 one seed
    assert [(p["row"], p["base"]) for p in pairs] == [("v2", "v1")]
    assert rep.close_pairs(summary, factor=1.0, metrics={"mixed": "real_test"}) == []
    assert rep.close_rows(summary) == {"mixed": ["v1", "v2"]}
    summary += [{**_line("v2", "synthetic", None, None), "synthetic_val_mean": 0.3,
                 "synthetic_val_std": 0.05},
                {**_line("v3", "synthetic", None, None), "synthetic_val_mean": 0.35,
                 "synthetic_val_std": 0.05}]
    assert rep.close_rows(summary) == {"mixed": ["v1", "v2"], "synthetic": ["v2", "v3"]}
    t = rep.close_frame(summary)
    assert t.loc[("mixed", "v2 +whitening"), "against"] == "v1 decay 5e-4"
    assert t.loc[("mixed", "v2 +whitening"), "diff"] == pytest.approx(2.0)
    assert t.loc[("synthetic", "v3 +augmentation"), "seeds"] == "2 / 2"


def test_paired_frame_and_seed_verdicts_judge_by_interval():
    """Rows against their bases paired by seed, and the seed's changes of acc and recall
    beside ours of precision and recall at 0.85, judged by whether our interval holds 0."""
    from lpr_lib.ablation_report import paired_frame, seed_verdicts

    def run(row, seed, real, p85, r85):
        return {"data": "mixed", "row": row, "seed": seed, "real_test": real,
                "real_test_p85": p85, "real_test_r85": r85}

    runs = [run("baseline", s, 0.30 + d, 0.80 + d, 0.20 + d)
            for s, d in ((1, 0.0), (2, 0.01), (3, -0.01))]
    runs += [run("v1", s, 0.40 + d, 0.70 + d, 0.20 + e)  # plate acc up, precision down
             for s, d, e in ((1, 0.0, 0.02), (2, 0.012, -0.03), (3, -0.008, 0.0))]
    frame = paired_frame(runs, "mixed")
    assert list(frame.index) == ["v1 decay 5e-4"]
    line = frame.iloc[0]
    assert line["seeds"] == 3 and line["diff"] == pytest.approx(10.0, abs=0.1)
    assert line["verdict"] == "higher" and line["low"] > 0
    seed = seed_verdicts(runs, "mixed").iloc[0]
    # the seed's acc rose 0.76 -> 0.86; ours fell 10 points with a tight interval: reversed
    assert seed["seed: acc"] == pytest.approx(10.0) and seed["ours: acc"] == pytest.approx(-9.9)
    assert seed["acc: the seed's conclusion"] == "reversed"
    assert seed["recall: the seed's conclusion"] == "not resolved at 3 seeds"
    runs = [dict(r, real_test_p85=None) if r["row"] == "v1" and r["seed"] == 2 else r
            for r in runs]
    assert seed_verdicts(runs, "mixed").iloc[0]["ours: acc"] == pytest.approx(-9.9)  # 2 seeds


def test_verdict_text_gives_the_paired_difference_and_its_t_interval():
    """The sentence a chapter glues: the means over the shared seeds, the paired difference
    and the 95% t interval computed here independently (mean +- t(0.975, n-1) s / sqrt(n))."""
    from scipy import stats

    from lpr_lib.ablation_report import budget_text, verdict_text

    base = {1: 0.30, 2: 0.32, 3: 0.29, 4: 0.50}  # seed 4: v1 lacks it, left out of both means
    mine = {1: 0.36, 2: 0.35, 3: 0.37}
    runs = [{"data": "mixed", "row": "baseline", "seed": s, "real_test": v}
            for s, v in base.items()]
    runs += [{"data": "mixed", "row": "v1", "seed": s, "real_test": v} for s, v in mine.items()]
    diffs = np.array([mine[s] - base[s] for s in mine])
    half = stats.t.ppf(0.975, 2) * diffs.std(ddof=1) / np.sqrt(3)
    text = verdict_text(runs, "v1", "baseline", "mixed")
    assert text.startswith("with mixed data, v1 decay 5e-4 reads 36.0% of the real test plates "
                           "against 30.3% for baseline (means over 3 seeds): +5.7 points")
    low, high = 100 * (diffs.mean() - half), 100 * (diffs.mean() + half)
    assert f"95% interval [{low:+.1f}, {high:+.1f}]" in text
    assert text.endswith(": higher" if low > 0 else ": not resolved at 3 seeds")
    wide = [dict(r, real_test=r["real_test"] + (0.2 if r["seed"] == 2 else 0))
            for r in runs if r["row"] == "v1"]
    assert verdict_text(runs[:4] + wide, "v1", "baseline", "mixed").endswith(
        "not resolved at 3 seeds")
    one = [r for r in runs if r["seed"] == 1]
    assert verdict_text(one, "v1", "baseline", "mixed").endswith(
        "(one seed): +6.0 points, not resolved at 1 seed")
    assert "not trained yet" in verdict_text(runs, "v2", "v1", "mixed")
    assert budget_text("book") == "16 epochs of 330 steps of 64 plates (5,280 steps) at 48x144"


def test_seed_frame_puts_the_seeds_figures_beside_ours_in_percent():
    from lpr_lib.ablation import load_row
    from lpr_lib.ablation_report import seed_frame

    summary = [{"data": "mixed", "row": "v1", "seeds": 3, "real_test_p85_mean": 0.934,
                "real_test_r85_mean": 0.162, "real_test_p85_min_mean": None,
                "real_test_r85_min_mean": 0.194, "real_test_mean": 0.391,
                "real_test_std": 0.025},
               {"data": "synthetic", "row": "v2", "seeds": 3, "real_test_mean": 0.5}]
    frame = seed_frame(summary, "mixed")
    assert list(frame.index) == ["v1 decay 5e-4"]  # rows without a mixed job are left out
    line = frame.iloc[0]
    assert line["the seed: acc"] == f"{100 * load_row('v1').seed_result['acc']:.1f}"
    assert (line["ours: P@0.85"], line["ours: R@0.85"]) == ("93.4", "16.2")
    assert line["ours, min: P@0.85"] == "-" and line["ours, min: R@0.85"] == "19.4"
    assert line["ours: plates read"] == "39.1 ± 2.5" and line["seeds"] == 3


# ------------------------------------------------------------------ the book's table (issue 28)


def _job(row, seed, acc, data="mixed", train=120.0, run=150.0, trace=None):
    """A fake result: ``acc`` the validation plate accuracy after each epoch."""
    return {"row": row, "data": data, "seed": seed, "scale": "book",
            "history": [{"epoch": e, "val_chars_plate_acc": a} for e, a in enumerate(acc)],
            "train_seconds": train, "run_seconds": run, "trace": trace}


def test_every_new_row_has_a_label():
    from lpr_lib.ablation import DISSECTION, NOISE

    for row in DISSECTION + NOISE:
        assert row in rep.LABELS, row
    assert rep.LABELS["final-ce"] == "final, cross-entropy"
    assert rep.LABELS["v6-multi-noise15"] == "v6 GHM label-wise, 15% wrong labels"


def test_convergence_frame_counts_converged_jobs_and_those_stopped_by_the_cap():
    results = [_job("v4.0", 1, [0.1, 0.5, 0.6, 0.7], train=120, run=150),  # +10 pts at the end
               _job("v4.0", 2, [0.1, 0.5, 0.6, 0.602], train=180, run=210),  # +0.2: converged
               _job("v6", 1, [0.1, 0.3, 0.3]),           # stopped on a plateau, converged
               _job("v6", 2, [0.1, 0.2, 0.5])]           # stopped early, still learning
    t = rep.convergence_frame(results, scale="short")  # the short scale caps 4 epochs
    v40 = t.loc[("mixed", rep.LABELS["v4.0"])]
    assert v40["seeds"] == 2 and v40["converged"] == 1
    assert v40["largest last-quarter gain (pts)"] == pytest.approx(10.0)
    assert v40["epochs (mean)"] == 4.0 and v40["epochs (min-max)"] == "4-4"
    assert v40["train (min)"] == pytest.approx((120 + 180) / 2 / 60, abs=0.05)
    assert v40["job (min)"] == pytest.approx((150 + 210) / 2 / 60, abs=0.05)
    assert v40["at the cap, not converged"] == 1
    v6 = t.loc[("mixed", rep.LABELS["v6"])]
    assert v6["converged"] == 1 and v6["epochs (min-max)"] == "3-3"
    assert v6["largest last-quarter gain (pts)"] == pytest.approx(30.0)
    assert v6["at the cap, not converged"] == 0  # 3 epochs of 4: not the cap
    # the book's scale caps 20 epochs: nothing ran into it
    assert (rep.convergence_frame(results, scale="book")["at the cap, not converged"] == 0).all()
    assert rep.convergence_frame(results, "synthetic", scale="short").empty


def test_cost_summary_measures_jobs_and_projects_the_missing_ones():
    results = [_job("v4.0", 1, [0.5], run=600), _job("v4.0", 2, [0.5], run=900),
               _job("v4.0", 1, [0.5], data="synthetic", run=300),
               _job("v4.3", 1, [0.5], run=1800),
               _job("v4.4", 1, [0.5], data="synthetic", run=2400, train=3000)]  # resumed
    c = rep.cost_summary(results, rows=("v4.0", "v4.3"), data=("mixed",), seeds=(1, 2, 3))
    assert c["job_minutes"]["ResNet"] == {"jobs": 3, "median": 10.0, "min": 5.0, "max": 15.0}
    assert c["job_minutes"]["MobileNet"] == {"jobs": 2, "median": 35.0, "min": 30.0,
                                             "max": 40.0}
    assert c["jobs"] == 5 and c["hours"] == pytest.approx(6000 / 3600)
    assert (c["plan_jobs"], c["plan_done"]) == (6, 3)
    assert c["plan_hours"] == pytest.approx((600 + 900 + 1800) / 3600)
    # v4.0 seed 3: its row's median on mixed (750 s); v4.3 seeds 2 and 3: 1800 s each
    assert c["missing"] == 3 and c["missing_hours"] == pytest.approx((750 + 2 * 1800) / 3600)
    assert c["projected_hours"] == pytest.approx((3300 + 750 + 3600) / 3600)
    assert c["resumed"] == 1 and c["projected_from_family"] == 0
    # a row with no result of its own: its other data setting, then its family's median
    c = rep.cost_summary(results, rows=("v4.4", "v4.5"), data=("mixed",), seeds=(1,))
    assert c["missing_hours"] == pytest.approx((2400 + np.median([1800, 2400])) / 3600)
    assert c["projected_from_family"] == 1
    c = rep.cost_summary(results[:3], rows=("v4.5",), data=("mixed",), seeds=(1,))
    assert c["not_projected"] == 1 and c["missing_hours"] == 0


def test_dissected_parts_are_those_the_rows_configs_describe():
    from lpr_lib.ablation import DISSECTION, load_row

    assert set(rep.DISSECTED) == set(DISSECTION[1:])
    for row, (_, _, by) in rep.DISSECTED.items():
        words = "no penalty" if by == "none" else by
        assert words.lower() in load_row(row).description.lower(), row


def test_dissection_frame_pairs_each_row_with_final_by_seed():
    from scipy import stats

    def run(row, seed, acc):
        return {"data": "mixed", "row": row, "seed": seed, "real_test": acc}

    runs = [run("final", s, a) for s, a in ((1, 0.0), (2, 0.01), (3, 0.0))]
    runs += [run("final-ce", s, a) for s, a in ((1, 0.5), (2, 0.55), (3, 0.6))]
    runs += [run("final-adam", 1, 0.02), run("final-nol1", 1, 0.3)]
    runs += [run("final-nol1", 2, 0.4)]
    t = rep.dissection_frame(runs, "mixed")
    assert list(t.index)[0] == rep.LABELS["final"]
    assert t.loc[rep.LABELS["final"], "mean"] == pytest.approx(100 * 0.01 / 3, abs=0.05)
    ce = t.loc[rep.LABELS["final-ce"]]
    assert (ce["part"], ce["the seed's"], ce["replaced by"]) == ("loss", "label-wise GHM",
                                                                  "cross-entropy")
    diffs = np.array([0.5, 0.54, 0.6])
    half = stats.t.ppf(0.975, 2) * diffs.std(ddof=1) / np.sqrt(3)
    assert ce["seeds"] == 3 and ce["mean"] == pytest.approx(55.0)
    assert ce["diff"] == pytest.approx(100 * diffs.mean(), abs=0.05)
    assert ce["low"] == pytest.approx(100 * (diffs.mean() - half), abs=0.05)
    assert ce["high"] == pytest.approx(100 * (diffs.mean() + half), abs=0.05)
    assert ce["verdict"] == "higher"
    assert t.loc[rep.LABELS["final-adam"], "verdict"] == "one seed"
    assert t.loc[rep.LABELS["final-nol1"], "verdict"] == "not resolved at 2 seeds"
    assert t.loc[rep.LABELS["final-l2gamma"], "verdict"] == "not measured"
    assert t.loc[rep.LABELS["final-l2gamma"], "seeds"] == 0


def test_noise_frame_and_plot_give_each_loss_at_each_noise_rate():
    import matplotlib
    from scipy import stats

    matplotlib.use("Agg")

    def run(row, seed, acc):
        return {"data": "synthetic", "row": row, "seed": seed, "synthetic_val": acc}

    values = {"v4.0": [0.80, 0.82, 0.78], "v4.0-noise15": [0.60, 0.65, 0.58],
              "v6": [0.79, 0.80, 0.81], "v6-noise15": [0.70, 0.71, 0.69]}
    runs = [run(row, s, a) for row, accs in values.items() for s, a in zip((1, 2, 3), accs)]
    runs.append(run("v4.0-noise15", 4, 0.1))  # a seed v6 lacks: not in the paired difference
    t = rep.noise_frame(runs)
    ce15 = t.loc[("cross-entropy", 15)]
    x = np.array(values["v4.0-noise15"] + [0.1])
    half = stats.t.ppf(0.975, 3) * x.std(ddof=1) / 2
    assert ce15["seeds"] == 4 and ce15["mean"] == pytest.approx(100 * x.mean(), abs=0.05)
    assert ce15["low"] == pytest.approx(100 * (x.mean() - half), abs=0.05)
    assert ce15["high"] == pytest.approx(100 * (x.mean() + half), abs=0.05)
    change = np.array(values["v4.0-noise15"]) - np.array(values["v4.0"])
    assert ce15["change from 0%"] == pytest.approx(100 * change.mean(), abs=0.05)
    ghm = np.array(values["v6-noise15"]) - np.array(values["v4.0-noise15"])
    half = stats.t.ppf(0.975, 2) * ghm.std(ddof=1) / np.sqrt(3)
    g15 = t.loc[("GHM global", 15)]
    assert g15["minus cross-entropy"] == pytest.approx(100 * ghm.mean(), abs=0.05)
    assert g15["minus CE low"] == pytest.approx(100 * (ghm.mean() - half), abs=0.05)
    assert g15["verdict against cross-entropy"] == "higher"
    assert t.loc[("GHM label-wise", 5), "seeds"] == 0
    assert t.loc[("GHM label-wise", 5), "verdict against cross-entropy"] == "not measured"
    assert t.loc[("cross-entropy", 5), "seeds"] == 0
    assert rep.t_interval([0.5]) == (0.5, None, None)
    assert rep.t_interval([]) == (None, None, None)
    fig = rep.plot_noise(runs)
    lines = {c.get_label(): c for c in fig.axes[0].containers}
    assert set(lines) == {"cross-entropy", "GHM global"}
    y = lines["cross-entropy"].lines[0].get_ydata()
    assert list(y) == pytest.approx([100 * np.mean(values["v4.0"]), 100 * x.mean()], abs=0.05)


def test_plot_gamma_over_epochs_averages_the_seeds_at_each_epoch():
    import matplotlib

    matplotlib.use("Agg")

    def trace(medians, below):
        return {"epochs": [{"epoch": e - 1, "gamma": {"quantiles": {"0.5": m},
                                                      "below_0.05": b}}
                           for e, (m, b) in enumerate(zip(medians, below))]}

    results = [_job("v7", 1, [0.5], trace=trace([1.0, 0.8, 0.6], [0.0, 0.1, 0.3])),
               _job("v7", 2, [0.5], trace=trace([1.0, 0.6], [0.0, 0.3])),  # stopped early
               _job("final", 1, [0.0], trace=trace([1.0, 1.0], [0.0, 0.0]))]
    fig = rep.plot_gamma_over_epochs(results, ("final", "v7", "final-ce"), "mixed")
    a, b = fig.axes
    line = next(x for x in a.lines if x.get_label() == rep.LABELS["v7"])
    assert list(line.get_xdata()) == [0, 1, 2]
    assert list(line.get_ydata()) == pytest.approx([1.0, 0.7, 0.6])
    line = next(x for x in b.lines if x.get_label() == rep.LABELS["v7"])
    assert list(line.get_ydata()) == pytest.approx([0.0, 20.0, 30.0])
    assert len(a.lines) == 2  # final-ce has no result: no line


def test_size_study_puts_the_input_sizes_side_by_side():
    import matplotlib

    matplotlib.use("Agg")

    def result(acc, history):
        return {**_job("v4.0", 2026, history, train=600), "real_test": {"plate_accuracy": acc},
                "synthetic_val": {"plate_accuracy": acc / 2},
                "kinds_test": {"plate_accuracy": acc / 4}}

    long, long32 = [result(0.8, [0.2, 0.9])], [result(0.6, [0.1, 0.5, 0.7])]
    t = rep.size_study_frame(long, long32, [])
    assert list(t.index) == ["48x144", "32x96", "24x96"]
    assert t.loc["48x144", "real test"] == 80.0 and t.loc["32x96", "synthetic val."] == 30.0
    assert t.loc["32x96", "kinds real plates lack"] == 15.0
    assert t.loc["32x96", "best validation"] == 70.0 and t.loc["32x96", "epochs"] == 3
    assert t.loc["48x144", "train (min)"] == 10.0
    assert t.loc["24x96", "epochs"] == 0 and np.isnan(t.loc["24x96", "real test"])
    fig = rep.plot_size_study(long, long32, [])
    a, b = fig.axes
    heights = [p.get_height() for p in a.patches]
    assert heights[:3] == pytest.approx([80.0, 60.0, np.nan], nan_ok=True)
    assert [x.get_label() for x in b.lines] == ["48x144", "32x96"]
    assert list(b.lines[1].get_ydata()) == pytest.approx([10.0, 50.0, 70.0])


def test_the_new_tables_and_figures_draw_from_the_committed_results():
    """Every function above on the real results of the short table and of the input-size
    study: they run, and give what the results hold."""
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    results = rep.load_results("short")
    if not results:
        pytest.skip("no committed results of the short table")
    runs, _ = rep.summary_lines(results)
    t = rep.convergence_frame(results, scale="short")
    assert t["seeds"].sum() == len(results)
    cost = rep.cost_summary(results)
    assert cost["jobs"] == len(results) and cost["plan_jobs"] == 17 * 2 * 3
    assert cost["projected_hours"] >= cost["plan_hours"] > 0
    for data, metric in (("mixed", "real_test"), ("synthetic", "synthetic_val")):
        assert len(rep.dissection_frame(runs, data, metric)) == len(DISSECTION)
    assert len(rep.noise_frame(runs)) == 9
    sizes = [rep.load_results(s) for s in ("long", "long32", "long24")]
    assert rep.size_study_frame(*sizes)["real test"].notna().all()
    for fig in (rep.plot_noise(runs), rep.plot_gamma_over_epochs(results),
                rep.plot_size_study(*sizes)):
        assert any(ax.lines or ax.patches or ax.collections for ax in fig.axes)
        plt.close(fig)
