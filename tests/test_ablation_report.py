"""lpr_lib.ablation_report: each row against its base with the right verdict, the GHM
contributions of a histogram, and every figure drawn from result files."""
import numpy as np
import pytest

from lpr_lib import ablation_report as rep


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


def test_conclusions_compare_the_seeds_change_with_ours():
    summary = [_line("baseline", "mixed", 0.40, 0.01), _line("v1", "mixed", 0.50, 0.01),
               _line("v2", "mixed", 0.45, 0.01), _line("v3", "mixed", 0.451, 0.02)]
    t = rep.conclusions(summary, "mixed")
    assert t.loc["v1 decay 5e-4", "the seed's conclusion"] == "holds"      # +10 pts, seed +10
    assert t.loc["v2 +whitening", "the seed's conclusion"] == "reversed"   # -5 pts, seed +1
    assert t.loc["v3 +augmentation", "the seed's conclusion"] == "not seen"
    assert t.loc["v4.0 resnet18", "the seed's conclusion"] == "not measured"
    assert t.loc["v1 decay 5e-4", "the seed: change of acc"] == pytest.approx(10.0)
    assert "v4.3 mobilenet v1" not in t.index  # the seed never measured it



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
