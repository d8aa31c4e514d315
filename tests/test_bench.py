"""make bench's code (bench/, lpr_lib.benchmark) in quick mode into a temporary folder: every
part runs and writes its JSON in the shape the deployment chapter reads; the shared helpers
against independent references."""
import json
import subprocess
import sys

import numpy as np
import pytest

from lpr_lib import benchmark
from lpr_lib.repro import REPO_ROOT, SHARED_REAL

FORMATS = ("keras", "savedmodel", "tflite", "tflite_int8", "onnx")


def _committed():
    """The bench files under results/ as they are (name -> bytes)."""
    folder = REPO_ROOT / "results" / "bench"
    return {p.name: p.read_bytes() for p in folder.glob("*.json")} if folder.is_dir() else {}


@pytest.fixture(scope="module")
def quick_bench(tmp_path_factory):
    """``python -m bench --quick`` on the shipped slim model alone and one training row (the
    six backbones, mixed and the other rows are the same code), into a temporary folder;
    nothing under results/ changes."""
    out = tmp_path_factory.mktemp("bench")
    before = _committed()
    res = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out),
                          "--models", "slim", "--train", "resnet18:0.25", "--readers", "slim"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert _committed() == before
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*.json")}, \
        res.stdout, out


def test_bad_choices_are_refused_before_anything_runs(tmp_path):
    for args, message in ((["--models", "lprnet"], "unknown model(s) lprnet"),
                          (["--readers", "tesseract"], "unknown reader(s) tesseract"),
                          (["--train", "resnet18"], "--train takes BACKBONE:WIDTH"),
                          (["--train", "vgg16:0.5"], "unknown backbone(s) vgg16")):
        res = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path),
                              *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
        assert res.returncode == 2 and message in res.stderr, res.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_every_part_writes_its_file_with_provenance(quick_bench):
    files, log, _ = quick_bench
    assert set(files) == {"machine", "readers", "latency", "accuracy", "training", "synth",
                          "run"}
    run = files["run"]["result"]
    assert set(run["seconds"]) == {"machine", "readers", "exports", "latency", "accuracy",
                                   "training", "synth"}
    assert run["total_seconds"] >= sum(run["seconds"].values()) - 1
    for payload in files.values():
        meta = payload["meta"]
        assert meta["git_commit"] and meta["versions"]["tensorflow"] and meta["run_seconds"] > 0
        assert meta["config"]["quick"] is True and meta["config"]["models"] == ["slim"]
    assert "done: machine.json" in log


@pytest.mark.slow
def test_machine_and_peak(quick_bench):
    m = quick_bench[0]["machine"]["result"]
    assert m["cpu_count"] >= 1 and isinstance(m["cpu"]["flags"], list)
    assert set(m["cpu"]["simd_flags"]) <= set(m["cpu"]["flags"])
    assert {"tensorflow", "keras", "numpy", "onnxruntime"} <= set(m["versions"])
    for key in ("1", "all"):
        assert m["peak"][key]["gflops_best"] >= m["peak"][key]["gflops_median"] > 0


@pytest.mark.slow
def test_latency_rows(quick_bench):
    lat = quick_bench[0]["latency"]["result"]
    assert set(lat["settings"]) == {"b1_t1", "b64_all"} and lat["quick"] is True
    # LPRNet's reference is measured (readers.json), never typed in: --readers slim left it out
    assert "LPRNet was not measured" in lat["reference"]["lprnet"]["missing"]
    assert lat["reference"]["goal_ms_b1_t1"] == 5
    row = lat["models"]["slim"]
    assert row["kind"] == "shipped" and row["backbone"] == "resnet18"
    assert row["params"] > 100_000 and row["macs"] > 1_000_000
    peak = lat["peak_gflops"]
    for fmt in FORMATS:
        r = row["formats"][fmt]
        assert r["bytes"] > 100_000, fmt
        if fmt != "keras":
            assert r["export_seconds"] > 0 and r["parity"]["plates"] == 8
            assert r["parity"]["ok"], (fmt, r["parity"])
        for setting, batch, threads in (("b1_t1", 1, 1), ("b64_all", 64, 0)):
            t = r[setting]
            assert t["batch"] == batch and t["threads"] == threads and t["format"] == fmt
            assert t["iqr_ms"][0] <= t["median_ms"] <= t["iqr_ms"][1]
            assert t["fresh_process"] is False  # quick mode times in one process
            # GFLOP/s and share of peak, recomputed from the figures beside them
            gflops = 2 * row["macs"] * batch / (t["median_ms"] / 1e3) / 1e9
            assert t["gflops"] == pytest.approx(gflops, rel=1e-3, abs=0.01)
            top = peak["1" if threads == 1 else "all"]
            assert t["share_of_peak"] == pytest.approx(t["gflops"] / top, rel=1e-3, abs=1e-4)
    # int8 weights take about a quarter of the float file's bytes
    assert row["formats"]["tflite_int8"]["bytes"] < 0.4 * row["formats"]["tflite"]["bytes"]


@pytest.mark.slow
def test_accuracy_rows(quick_bench):
    acc = quick_bench[0]["accuracy"]["result"]
    test = acc["test_set"]
    assert test["real"] == (SHARED_REAL / "test").is_dir() and test["plates"] == 64
    if not test["real"]:
        assert "absent" in test["why"]
    rows = acc["models"]["slim"]
    for fmt in FORMATS:
        assert 0 <= rows[fmt]["plate_accuracy"] <= rows[fmt]["char_accuracy"] <= 1
    assert rows["keras"]["agrees_with_keras"] == 1.0
    for fmt in ("savedmodel", "tflite", "onnx"):  # float exports read as Keras does
        assert rows[fmt]["agrees_with_keras"] >= 63 / 64 and rows[fmt]["max_abs_diff_chars"] < 1e-3
    verdict = rows["int8_vs_float"]
    lost = 100 * (rows["tflite"]["plate_accuracy"] - rows["tflite_int8"]["plate_accuracy"])
    assert verdict["points_lost"] == pytest.approx(lost, abs=0.01)
    assert verdict["holds"] == (lost <= verdict["tolerance_points"] + 1e-9)


@pytest.mark.slow
def test_training_and_generator_rows(quick_bench):
    tr = quick_bench[0]["training"]["result"]
    (row,) = tr["rows"]  # --train: one setting
    assert row["setting"] == {"backbone": "resnet18", "width": 0.25}
    assert row["img_per_s"] > 0 and row["peak_rss_mb"] > 100
    assert row["train_gflops"] == pytest.approx(6 * row["macs"] * row["img_per_s"] / 1e9,
                                                rel=1e-2, abs=0.01)
    pipe = tr["pipeline"]
    assert pipe["iqr_img_per_s"][0] <= pipe["img_per_s"] <= pipe["iqr_img_per_s"][1]
    syn = quick_bench[0]["synth"]["result"]
    assert syn["sample_plates_per_s"] > 0 and len(syn["sample_windows_plates_per_s"]) == 5
    assert set(syn["generate_plates_per_s"]) >= {"1"}


# ------------------------------------------------------------------ the shared helpers


def test_spread_is_numpys_percentiles():
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0]
    s = benchmark.spread(values)
    assert s["median"] == np.median(values) and s["n"] == 6
    assert s["iqr"] == [np.percentile(values, 25), np.percentile(values, 75)]


def test_cpu_info_reads_flags_and_model(tmp_path):
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nmodel name\t: Test CPU @ 2.0GHz\ncpu MHz\t\t: 2000.0\n"
                    "flags\t\t: fpu sse4_2 avx2 fma avx512f amx_tile\n\nprocessor\t: 1\n"
                    "model name\t: Test CPU @ 2.0GHz\nflags\t\t: fpu\n")
    info = benchmark.cpu_info(str(fake))
    assert info["model_name"] == "Test CPU @ 2.0GHz" and info["mhz"] == "2000.0"
    assert info["flags"] == ["amx_tile", "avx2", "avx512f", "fma", "fpu", "sse4_2"]
    assert info["simd_flags"] == ["sse4_2", "avx2", "fma", "avx512f", "amx_tile"]
    assert benchmark.cpu_info(str(tmp_path / "absent"))["flags"] == []


def test_thread_env_limits_tensorflow_and_openmp():
    env = benchmark.thread_env(1, base={"PATH": "/bin"})
    assert env["TF_NUM_INTRAOP_THREADS"] == "1" and env["OMP_NUM_THREADS"] == "1"
    assert env["TF_NUM_INTEROP_THREADS"] == "1" and env["PATH"] == "/bin"
    assert "TF_NUM_INTRAOP_THREADS" not in benchmark.thread_env(0, base={})


def test_measure_in_process_returns_the_last_json_line_and_names_failures():
    out = benchmark.measure_in_process(["-c", "print('{\"a\": 1}'); print('{\"b\": 2}')"],
                                       threads=1)
    assert out == {"b": 2}
    with pytest.raises(RuntimeError, match="(?s)the probe failed.*boom"):
        benchmark.measure_in_process(["-c", "raise SystemExit('boom')"], what="the probe")


def test_peak_memory_is_at_least_what_is_resident():
    assert benchmark.peak_rss_mb() >= benchmark.rss_mb() > 10


@pytest.mark.slow
def test_the_chapters_tables_come_from_the_files(quick_bench):
    """lpr_lib.bench_report (what chapter 10 draws) reads the files back: one latency row per
    format and setting, the fastest format, the accuracy and training rows, the machine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lpr_lib.bench_report import (accuracy_frame, best_format, grouped_bars, latency_frame,
                                      load_bench, machine_lines, training_frame)

    files, _, out = quick_bench
    bench = load_bench(out)
    lat = latency_frame(bench["latency"])
    assert len(lat) == len(FORMATS) * 2 and set(lat.format) == set(FORMATS)
    raw = files["latency"]["result"]["models"]["slim"]["formats"]
    for _, r in lat.iterrows():
        t = raw[r.format][r.setting]
        assert r.ms_per_plate == t["ms_per_plate"] and r.iqr_low == t["iqr_ms"][0] / r.batch
    best = best_format(lat, "slim")
    assert best.ms_per_plate == lat[lat.setting == "b1_t1"].ms_per_plate.min()
    with pytest.raises(ValueError, match="no b1_t1 timing of mixed"):
        best_format(lat, "mixed")
    assert set(accuracy_frame(bench["accuracy"]).format) == set(FORMATS)
    assert training_frame(bench["training"]).img_per_s.iloc[0] > 0
    lines = machine_lines(bench["machine"])
    assert "cores" in lines[0] and lines[-1].startswith("versions: python")
    fig, ax = plt.subplots()
    grouped_bars(ax, lat[lat.setting == "b1_t1"], "ms_per_plate", ["slim", "mixed"],
                 "iqr_low", "iqr_high")
    assert len(ax.patches) == 2 * len(FORMATS)  # a gap (NaN bar) for the untimed model
    plt.close(fig)
    with pytest.raises(FileNotFoundError, match="make bench writes it"):
        load_bench(out / "absent")
