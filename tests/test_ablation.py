"""The ablation table (lpr_lib.ablation): every row is a valid config that differs from the
row it builds on by what its file says; a job trains, measures and records itself once; the
summary's means and spreads are those of the result files."""
import csv
import json
import shutil

import numpy as np
import pytest

from lpr_lib import ablation
from lpr_lib.ablation import (DATA_SETTINGS, EXTRA_ROWS, ROWS, ROWS_DIR, SCALES, Job,
                              load_row, plan, row_config, run_job, summarise)
from lpr_lib.config import ConfigError, ExperimentConfig


def _flat(tree, prefix=""):
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("data", DATA_SETTINGS)
def test_every_row_is_a_valid_config(data, scale):
    names = set()
    for row in ROWS + EXTRA_ROWS:
        cfg = row_config(row, data, 2026, scale)
        assert isinstance(cfg, ExperimentConfig)
        names.add(cfg.name)
        assert cfg.seed == 2026
        assert bool(cfg.data.mix) == (data == "mixed")
    assert len(names) == len(ROWS + EXTRA_ROWS)  # one run folder a row



def test_the_long_scale_is_the_short_table_with_four_times_the_epochs():
    """The convergence check changes the budget only: same size, data and recipe."""
    for row in ("v4.0", "final", "v6"):
        book = _flat(row_config(row, "synthetic", 2026, "short").to_dict())
        long = _flat(row_config(row, "synthetic", 2026, "long").to_dict())
        changed = {k for k in book if book[k] != long.get(k)}
        assert changed == {"name", "epochs"}
        assert long["epochs"] == 4 * book["epochs"]


def test_full_and_another_scale_are_refused():
    import argparse

    from lpr_lib.ablation import cli_ablate
    from lpr_lib.config import ConfigError

    args = argparse.Namespace(rows=["v4.0"], data=["synthetic"], seeds=[2026], full=True,
                              scale="long", list=True, runs=None, results=None)
    with pytest.raises(ConfigError, match="two scales"):
        cli_ablate(args)

def test_each_row_changes_only_what_its_file_says():
    """A row's experiment equals its base's except at the keys of its own ``config:``."""
    for name in ROWS + EXTRA_ROWS:
        row = load_row(name)
        if not row.bases:
            continue
        mine = _flat(row_config(name, "synthetic", 2026).to_dict())
        base = _flat(row_config(row.bases[0], "synthetic", 2026).to_dict())
        own = set(_flat(ablation._read_yaml(ROWS_DIR / f"{name}.yaml").get("config") or {}))
        changed = {k for k in mine if mine[k] != base.get(k)} - {"name"}
        assert changed and changed <= own, (name, changed, own)


def test_the_seed_rows_say_what_the_seed_measured():
    assert load_row("baseline").seed_result == {"acc": 0.76, "recall": 0.40}
    assert load_row("v6-multi").seed_result == {"acc": 0.9986, "recall": 0.823}
    assert load_row("v4.3").seed_result is None  # never measured by the seed
    v7 = load_row("v7")
    assert v7.prune == {"ratio": 0.5, "epochs": 1} and v7.bases[0] == "v4.0"
    final = row_config("final", "synthetic", 2026)
    assert (final.model.pooling, final.optimizer.name, final.schedule.name,
            final.loss.name, final.model.bn_decay_type) == \
        ("avg", "radam", "seed", "ghm_labelwise", "l1")
    base = row_config("baseline", "synthetic", 2026)
    assert (base.model.conv_decay, base.data.whiten, base.data.augment is None or
            base.data.augment is False, base.model.stage_widths[-1]) == (1e-6, False, True, 512)


def test_plan_runs_a_seed_over_the_whole_table_first():
    jobs = plan(seeds=(1, 2))
    assert len(jobs) == 2 * len(DATA_SETTINGS) * len(ROWS)
    first = jobs[:len(ROWS) * len(DATA_SETTINGS)]
    assert {j.seed for j in first} == {1} and {j.row for j in first} == set(ROWS)
    with pytest.raises(ConfigError, match="unknown ablation row"):
        plan(rows=["v9"])


def _rows_copy(tmp_path):
    rows = tmp_path / "rows"
    shutil.copytree(ROWS_DIR, rows)
    return rows


def test_bad_row_files_are_named(tmp_path):
    rows = _rows_copy(tmp_path)
    (rows / "v1.yaml").write_text("row: v1\nbase: v2\nconfig: {}\n")
    with pytest.raises(ConfigError, match="circle"):
        load_row("v3", rows)
    (rows / "v1.yaml").write_text("row: v1\nbase: baseline\nprunes: {}\n")
    with pytest.raises(ConfigError, match=r"v1\.yaml: unknown ablation key.*prunes"):
        load_row("v1", rows)
    (rows / "v1.yaml").write_text("row: v2\n")
    with pytest.raises(ConfigError, match="says it is row 'v2'"):
        load_row("v1", rows)
    (rows / "v1.yaml").write_text("row: v1\nbase: baseline\nconfig: {model: {widht: 1}}\n")
    with pytest.raises(ConfigError, match="model.widht"):
        row_config("v1", "synthetic", 1, rows_dir=rows)
    (rows / "v1.yaml").unlink()
    with pytest.raises(FileNotFoundError, match=r"v1\.yaml"):
        load_row("v2", rows)
    with pytest.raises(ConfigError, match="unknown data setting"):
        row_config("v2", "real", 1, rows_dir=rows)


@pytest.mark.slow
def test_a_job_trains_measures_and_is_not_run_twice(tmp_path, monkeypatch):
    import lpr_lib.train as lt

    rows = _rows_copy(tmp_path)
    (rows / "scale_book.yaml").write_text(
        "epochs: 1\nsteps_per_epoch: 2\nbatch_size: 8\n"
        "data: {image_size: [32, 96], synthetic_train: 64, val_size: 32}\n"
        "model: {width: 0.125}\n")
    monkeypatch.setattr(lt, "RUNS_DIR", tmp_path / "runs")  # the rendered plates' cache
    monkeypatch.setattr(ablation, "KINDS_PER_KIND", 4)
    job = Job("v7", "synthetic", 7)
    path = run_job(job, tmp_path / "runs", tmp_path / "results", real_test=tmp_path / "none",
                   rows_dir=rows)
    result = json.loads(path.read_text())
    r, meta = result["result"], result["meta"]
    assert meta["seed"] == 7 and meta["config"]["model"]["bn_decay"] == 1e-3
    assert "git_commit" in meta and "versions" in meta and "run_seconds" in meta
    assert "real_test" not in r  # no real photographs here: not measured, not invented
    assert r["run"] == "book/synthetic/v7/seed7"  # under the runs root: no machine path
    assert r["validation"]["n"] == 32 and r["synthetic_val"]["n"] == 32
    assert r["kinds_test"]["n"] == 4 * len(r["kinds_test"]["per_kind"])
    assert not set(r["kinds_test"]["per_kind"]) & set(ablation.REAL_KINDS)
    assert r["pruned"]["ratio"] == 0.5 and len(r["history"]) == 1
    assert [e["epoch"] for e in r["trace"]["epochs"]] == [-1, 0]
    assert sum(r["synthetic_val"]["reliability"]["count"]) > 0
    assert set(r["lighting"]["accuracy"]) == {name for name, _, _ in ablation.LIGHTING}
    assert r["params"] < r["pruned"]["report"]["params_before"]
    assert r["measure_version"] == ablation.MEASURE_VERSION
    for name in ("validation", "synthetic_val", "kinds_test"):
        # the least sure character is at least as sure as the product of all of them, so it
        # accepts at least the plates the product accepts
        assert r[name]["min"]["at_0.85"]["recall"] >= r[name]["at_0.85"]["recall"]
    chosen = r["validation"]["min"]["at_99.9"]
    assert chosen["threshold"] is None or chosen["precision"] >= 0.999
    stamp = path.stat().st_mtime_ns
    assert run_job(job, tmp_path / "runs", tmp_path / "results", real_test=tmp_path / "none",
                   rows_dir=rows) == path
    assert path.stat().st_mtime_ns == stamp  # done: skipped

    # an older result (no "min" figures) is measured again from the trained model: the
    # figures it had come back the same, the new ones are added, the training record stays
    old = json.loads(path.read_text())
    for name in ("validation", "synthetic_val", "kinds_test"):
        del old["result"][name]["min"]
    del old["result"]["measure_version"]
    path.write_text(json.dumps(old))
    again = ablation.remeasure_job(job, tmp_path / "runs", tmp_path / "results",
                                   real_test=tmp_path / "none", rows_dir=rows)
    new = json.loads(again.read_text())
    assert new["result"]["measure_version"] == ablation.MEASURE_VERSION
    assert new["result"]["kinds_test"]["min"] == r["kinds_test"]["min"]
    for name in ("validation", "synthetic_val", "kinds_test"):
        assert new["result"][name]["at_0.85"] == r[name]["at_0.85"]
        assert new["result"][name]["plate_accuracy"] == r[name]["plate_accuracy"]
    assert new["result"]["history"] == r["history"]
    assert new["result"]["lighting"] == r["lighting"]
    assert new["meta"]["run_seconds"] == meta["run_seconds"]
    assert new["meta"]["git_commit"] == meta["git_commit"]
    assert "git_commit" in new["meta"]["remeasured"]
    stamp = again.stat().st_mtime_ns
    ablation.remeasure_job(job, tmp_path / "runs", tmp_path / "results",
                           real_test=tmp_path / "none", rows_dir=rows)
    assert again.stat().st_mtime_ns == stamp  # up to date: left as it is

    # measuring again needs the trained model, and says so when its run folder is gone
    path.write_text(json.dumps(old))
    shutil.rmtree(tmp_path / "runs" / "book" / "synthetic" / "v7")
    with pytest.raises(FileNotFoundError, match="seed7-pruned holds no trained model"):
        ablation.remeasure_job(job, tmp_path / "runs", tmp_path / "results",
                               real_test=tmp_path / "none", rows_dir=rows)
    assert json.loads(path.read_text()) == old  # nothing written


def test_the_summary_is_the_mean_and_spread_of_the_results(tmp_path):
    root = tmp_path / "results"
    figures = {("v1", 1): 0.5, ("v1", 2): 0.7, ("v2", 1): 0.9}
    for (row, seed), acc in figures.items():
        (root / "book" / "mixed").mkdir(parents=True, exist_ok=True)
        res = {"row": row, "data": "mixed", "seed": seed, "train_seconds": 120.0,
               "real_test": {"plate_accuracy": acc, "at_0.85": {"precision": acc + 0.1,
                                                               "recall": acc - 0.1},
                             "at_99.9": {"precision": None, "recall": None}}}
        (root / "book" / "mixed" / f"{row}-seed{seed}.json").write_text(
            json.dumps({"result": res, "meta": {}}))
    lines = summarise("book", root)
    v1 = next(x for x in lines if x["row"] == "v1")
    assert v1["seeds"] == 2
    assert v1["real_test_mean"] == pytest.approx(0.6)
    assert v1["real_test_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert v1["real_test_r85_mean"] == pytest.approx(0.5)
    assert v1["real_test_p999_mean"] is None and v1["train_minutes_mean"] == pytest.approx(2.0)
    v2 = next(x for x in lines if x["row"] == "v2")
    assert v2["real_test_std"] is None  # one seed: no spread
    with open(root / "book" / "summary.csv") as f:
        table = list(csv.DictReader(f))
    assert [t["row"] for t in table] == ["v1", "v2"]
    assert float(table[0]["real_test_mean"]) == pytest.approx(0.6)
    with open(root / "book" / "runs.csv") as f:
        assert len(list(csv.DictReader(f))) == 3


def test_close_plans_a_third_seed_for_the_rows_of_close_pairs(tmp_path, capsys):
    root = tmp_path / "results"
    # mixed, real test: v2 - v1 = +0.02 with a spread of about 0.014: close (within twice it);
    # v3 - v2 = +0.30: far. Synthetic, validation: v3 - v2 = +0.30 (far), v1 one seed only.
    figures = {("mixed", "v1"): (0.50, 0.52), ("mixed", "v2"): (0.52, 0.54),
               ("mixed", "v3"): (0.82, 0.84), ("synthetic", "v2"): (0.50, 0.51),
               ("synthetic", "v3"): (0.80, 0.81), ("synthetic", "v1"): (0.50,)}
    for (data, row), accs in figures.items():
        (root / "book" / data).mkdir(parents=True, exist_ok=True)
        for seed, acc in zip((1, 2), accs):
            res = {"row": row, "data": data, "seed": seed,
                   "real_test": {"plate_accuracy": acc}, "synthetic_val": {"plate_accuracy": acc}}
            (root / "book" / data / f"{row}-seed{seed}.json").write_text(
                json.dumps({"result": res, "meta": {}}))
    jobs = ablation.close_jobs("book", root)
    assert [(j.data, j.row, j.seed) for j in jobs] == [("mixed", "v1", 4036),
                                                       ("mixed", "v2", 4036)]
    assert ablation.close_jobs("book", root, rows=["v2"], seeds=[7]) == [
        Job("v2", "mixed", 7, "book")]
    assert ablation.close_jobs("book", root, data=["synthetic"]) == []
    from lpr_lib.cli import main

    assert main(["ablate", "--close", "--list", "--results", str(root)]) == 0
    assert capsys.readouterr().out.split("\n")[:2] == ["todo  book  mixed/v1-seed4036",
                                                      "todo  book  mixed/v2-seed4036"]


def test_remeasure_lists_the_finished_jobs_whose_figures_are_older(tmp_path, capsys):
    from lpr_lib.cli import main

    root = tmp_path / "results"
    (root / "book" / "synthetic").mkdir(parents=True)
    for row, version, config_seed in (("v1", 1, 5), ("v2", ablation.MEASURE_VERSION, 5),
                                      ("v3", 1, 6)):  # v3's file holds another seed's config
        res = {"row": row, "data": "synthetic", "seed": 5, "measure_version": version}
        meta = {"config": row_config(row, "synthetic", config_seed).to_dict()}
        (root / "book" / "synthetic" / f"{row}-seed5.json").write_text(
            json.dumps({"result": res, "meta": meta}))
    assert main(["ablate", "--remeasure", "--list", "--results", str(root)]) == 0
    out = capsys.readouterr()
    assert out.out.split("\n")[:2] == ["todo  book  synthetic/v1-seed5",
                                       "done  book  synthetic/v2-seed5"]
    assert "configs have changed" in out.err and "synthetic/v3-seed5" in out.err
    assert main(["ablate", "--remeasure", "--list", "--rows", "v2", "--results",
                 str(root)]) == 0
    assert capsys.readouterr().out.strip() == "done  book  synthetic/v2-seed5"
    assert main(["ablate", "--remeasure", "--close", "--results", str(root)]) != 0
    assert "give one of them" in capsys.readouterr().err


def test_paired_interval_matches_scipys_paired_t_test():
    """``paired``'s interval is the paired t interval (checked against scipy's ttest_rel),
    over the seeds both rows share, and its verdict follows whether it holds zero."""
    from scipy import stats

    from lpr_lib.ablation import paired

    a = {2026: 0.61, 3031: 0.58, 4036: 0.66, 5041: 0.60}
    b = {2026: 0.55, 3031: 0.56, 4036: 0.57, 9999: 0.10}  # 9999: base only, not paired
    runs = ([{"data": "mixed", "row": "x", "seed": s, "real_test": v} for s, v in a.items()]
            + [{"data": "mixed", "row": "y", "seed": s, "real_test": v} for s, v in b.items()]
            + [{"data": "synthetic", "row": "x", "seed": 2026, "real_test": 0.0}])
    p = paired(runs, "x", "y", "mixed", "real_test")
    assert p["seeds"] == [2026, 3031, 4036] and p["n"] == 3
    ref = stats.ttest_rel([a[s] for s in p["seeds"]], [b[s] for s in p["seeds"]])
    ci = ref.confidence_interval(0.95)
    assert p["mean"] == pytest.approx(0.0567, abs=1e-4)
    assert (p["low"], p["high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert p["verdict"] == ("higher" if ci.low > 0 else "not resolved at 3 seeds")
    lower = paired(runs, "y", "x", "mixed", "real_test")
    assert lower["low"] == pytest.approx(-p["high"]) and lower["mean"] == pytest.approx(-p["mean"])
    runs_far = [dict(r, real_test=r["real_test"] + (0.3 if r["row"] == "x" else 0))
                for r in runs]
    assert paired(runs_far, "x", "y", "mixed", "real_test")["verdict"] == "higher"
    assert paired(runs_far, "y", "x", "mixed", "real_test")["verdict"] == "lower"
    one = paired(runs, "x", "y", "synthetic", "real_test")
    assert one["n"] == 0 and one["verdict"] is None


def test_last_quarter_gain_and_convergence():
    from lpr_lib.ablation import CONVERGED_GAIN, _last_quarter_gain, summary_lines

    def result(accs, seed=2026):
        return {"data": "synthetic", "row": "v4.0", "seed": seed,
                "history": [{"val_chars_plate_acc": a} for a in accs]}

    # 8 epochs: the last quarter is epochs 6-7; best before it 0.80, best in it 0.803
    flat = result([0.1, 0.5, 0.7, 0.75, 0.79, 0.80, 0.80, 0.803])
    climbing = result([0.1, 0.5, 0.7, 0.75, 0.79, 0.80, 0.82, 0.85], seed=3031)
    assert _last_quarter_gain(flat) == pytest.approx(0.003)
    assert _last_quarter_gain(climbing) == pytest.approx(0.05)
    assert _last_quarter_gain(result([0.4, 0.5, 0.45])) == pytest.approx(0.0)  # a dip: best
    assert _last_quarter_gain(result([0.4])) is None
    runs, summary = summary_lines([flat, climbing])
    assert [r["converged"] for r in runs] == [True, False]
    assert CONVERGED_GAIN == 0.005
    assert summary[0]["converged"] == 1 and summary[0]["seeds"] == 2


def test_a_prune_share_takes_the_fine_tuning_out_of_the_budget(tmp_path):
    """``prune: {share: S}``: training, cut and fine-tuning together take the scale's epochs."""
    from lpr_lib.ablation import load_row, prune_epochs

    for path in ROWS_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "slim.yaml").write_text(
        "row: slim\nbase: v4.0\nprune: {ratio: 0.5, share: 0.25}\n"
        "config:\n  model: {bn_decay: 1.0e-2, bn_decay_type: l1}\n", encoding="utf-8")
    row = load_row("slim", tmp_path)
    budget = row_config("v4.0", "synthetic", 2026, "long", tmp_path).epochs
    assert budget == 16
    assert prune_epochs(row, budget) == 4
    assert row_config(row, "synthetic", 2026, "long", tmp_path).epochs == 12
    assert prune_epochs(row, 2) == 1 and prune_epochs(row, 1) == 0  # never the whole budget
    (tmp_path / "both.yaml").write_text("row: both\nbase: v4.0\n"
                                        "prune: {ratio: 0.5, share: 0.25, epochs: 2}\n")
    (tmp_path / "whole.yaml").write_text("row: whole\nbase: v4.0\n"
                                         "prune: {ratio: 0.5, share: 1.0}\n")
    for bad in ("both", "whole"):
        with pytest.raises(ConfigError, match="prune must be"):
            load_row(bad, tmp_path)
    assert prune_epochs(load_row("v7"), 16) == load_row("v7").prune.get("epochs", 1)


def test_a_result_from_before_a_key_was_added_is_the_same_config(tmp_path):
    """A key a later version added (at its default) does not make a finished job look like
    another config, so ``lpr ablate`` does not train it again; a changed value does."""
    from lpr_lib.ablation import _same_config

    config = row_config("v4.0", "mixed", 2026, "short")  # a warm-up cosine row
    stored = config.to_dict()
    for key in ("factor", "drops", "patience", "min_delta"):
        del stored["schedule"][key]
    path = tmp_path / "v4.0-seed2026.json"
    path.write_text(json.dumps({"result": {}, "meta": {"config": stored}}), encoding="utf-8")
    assert _same_config(path, config)
    stored["schedule"]["name"] = "plateau"
    path.write_text(json.dumps({"result": {}, "meta": {"config": stored}}), encoding="utf-8")
    assert not _same_config(path, config)
    stored["schedule"]["name"] = "cosine"
    stored["name"] = "ablation-another-scale-mixed-v4.0-seed2026"  # a scale renamed
    path.write_text(json.dumps({"result": {}, "meta": {"config": stored}}), encoding="utf-8")
    assert _same_config(path, config)
    stored.update(jit_compile=not config.jit_compile, intra_op_threads=1)  # how it ran
    path.write_text(json.dumps({"result": {}, "meta": {"config": stored}}), encoding="utf-8")
    assert _same_config(path, config)
    stored["optimizer"]["learning_rate"] *= 2  # what it trained
    path.write_text(json.dumps({"result": {}, "meta": {"config": stored}}), encoding="utf-8")
    assert not _same_config(path, config)
    path.write_text("{not json", encoding="utf-8")
    assert not _same_config(path, config)


def test_the_book_scale_runs_xla_only_where_it_measured_faster():
    """Every row's jit_compile at the book scale is the faster setting for its backbone in
    results/jit_by_backbone.json (off for the ResNets, on for the MobileNets)."""
    from lpr_lib.repro import RESULTS_DIR

    measured = json.loads((RESULTS_DIR / "jit_by_backbone.json").read_text())["result"]["rows"]
    faster = {r["jit"]["backbone"]: r["faster"] == "jit" for r in measured.values()}
    for row in ROWS:
        config = row_config(row, "synthetic", 2026)
        assert config.jit_compile == faster[config.model.backbone], row


def test_unresolved_plans_the_next_seed_for_pairs_whose_interval_holds_zero(tmp_path, capsys):
    """Mixed: v2 - v1 differs by +0.01, +0.03, -0.01 over three seeds (the interval holds 0:
    both get seed 5041); v3 - v2 by +0.30 every seed (resolved). Synthetic: v2 lacks the
    third seed v1 has (v2 gets it first)."""
    root = tmp_path / "results"
    figures = {("mixed", "v1"): (0.50, 0.52, 0.51), ("mixed", "v2"): (0.51, 0.55, 0.50),
               ("mixed", "v3"): (0.81, 0.85, 0.80), ("synthetic", "v1"): (0.50, 0.52, 0.49),
               ("synthetic", "v2"): (0.51, 0.50)}
    for (data, row), accs in figures.items():
        (root / "book" / data).mkdir(parents=True, exist_ok=True)
        for seed, acc in zip(ablation.SEEDS, accs):
            res = {"row": row, "data": data, "seed": seed,
                   "real_test": {"plate_accuracy": acc}, "synthetic_val": {"plate_accuracy": acc}}
            (root / "book" / data / f"{row}-seed{seed}.json").write_text(
                json.dumps({"result": res, "meta": {}}))
    jobs = ablation.unresolved_jobs("book", root)
    assert [(j.data, j.row, j.seed) for j in jobs] == [
        ("synthetic", "v2", 4036), ("mixed", "v1", 5041), ("mixed", "v2", 5041)]
    assert ablation.unresolved_jobs("book", root, rows=["v2"], data=["mixed"]) == [
        Job("v2", "mixed", 5041, "book")]
    assert ablation.unresolved_jobs("book", root, max_seeds=3, data=["mixed"]) == []
    from lpr_lib.cli import main

    assert main(["ablate", "--unresolved", "--list", "--results", str(root)]) == 0
    assert capsys.readouterr().out.split("\n")[0] == "todo  book  synthetic/v2-seed4036"
    assert main(["ablate", "--unresolved", "--close", "--list", "--results", str(root)]) == 2
    assert "give one of them" in capsys.readouterr().err
