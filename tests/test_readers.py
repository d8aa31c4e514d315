"""The plate readers side by side (bench.readers): scoring, LPRNet's decoding, HyperLPR's
margin, the LPRNet reference of the latency file, and the readers part in quick mode."""
import json
import subprocess
import sys

import numpy as np
import pytest

from bench import readers
from bench.hyperlpr_worker import pad
from lpr_lib.metrics import score_readings
from bench.reader_worker import LPRNET_DIR, LPRNet
from lpr_lib.repro import REPO_ROOT


def test_score_counts_plates_characters_positions_provinces_and_framings():
    items = [(None, "皖A12345", "margin 1"), (None, "皖A12345", "tight"),
             (None, "苏B67890", "tight"), (None, "苏B67890", "tight")]
    texts = ["皖A12345", "A12345", "苏B67890", ""]
    s = score_readings(items, texts)
    assert s["plate_accuracy"] == 0.5 and s["no_reading"] == 0.25
    assert s["char_accuracy"] == round(14 / 28, 4)  # "A12345" is wrong from its first place
    assert s["per_position"] == [0.5] * 7
    assert s["provinces"]["皖"] == {"plates": 2, "plate_accuracy": 0.5, "province_accuracy": 0.5}
    assert s["provinces"]["苏"]["plate_accuracy"] == 0.5
    assert s["framings"]["tight"]["plates"] == 3
    assert list(s["provinces"]) == ["皖", "苏"]


def test_lprnet_greedy_decoding_collapses_repeats_and_drops_blanks():
    net = LPRNet.__new__(LPRNet)  # decoding needs only the alphabet
    net.chars = [str(i) for i in range(67)] + ["-"]
    net.blank = 67
    cols = [1, 1, 67, 1, 2, 2, 67, 67, 3]
    logits = np.full((1, 68, len(cols)), -10.0, np.float32)
    logits[0, cols, np.arange(len(cols))] = 10.0
    text, conf = net.decode(logits)
    assert text == "1123" and 0.99 < conf <= 1.0


@pytest.mark.skipif(not (LPRNET_DIR / "lprnet.onnx").is_file(),
                    reason="../shared/anchors/lprnet is absent: the public reader is not shipped")
def test_lprnet_reads_a_real_test_crop(real_plates):
    import cv2

    net = LPRNet()
    path = sorted((real_plates / "test").glob("*.jpg"))[0]
    assert net.preprocess(cv2.imread(str(path))).shape == (1, 3, 24, 94)
    text, conf = net.read(cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR))
    assert len(text) >= 6 and 0 < conf <= 1


def test_hyperlpr_sees_the_crop_in_a_grey_margin_of_half_its_width():
    crop = np.zeros((24, 94, 3), np.uint8)
    out = pad(crop)
    assert out.shape == (24 + 94, 94 + 94, 3)
    assert (out[0, 0] == 127).all() and (out[47 + 5, 47 + 5] == 0).all()


def test_lprnet_reference_comes_from_the_results_file(tmp_path):
    assert "does not exist" in readers.lprnet_reference(tmp_path)["missing"]
    payload = {"meta": {"git_commit": "abc"}, "result": {"readers": {"lprnet": {
        "latency": {"model": {"median_ms": 3.1}, "end_to_end": {"median_ms": 4.2}},
        "params": 444920, "sets": {"real_test": {"plate_accuracy": 0.894}}}}}}
    (tmp_path / "readers.json").write_text(json.dumps(payload), encoding="utf-8")
    ref = readers.lprnet_reference(tmp_path)
    assert ref["ms_b1_t1"] == 3.1 and ref["real_test_plate_accuracy"] == 0.894
    assert ref["params"] == 444920 and ref["git_commit"] == "abc"


@pytest.mark.slow
def test_the_readers_part_in_quick_mode(tmp_path):
    """python -m bench --parts readers --quick with ours (slim, mixed-located) and LPRNet:
    every set scored, every reader timed in its own one-thread process; nothing under results/
    changes."""
    before = {p.name: p.read_bytes() for p in (REPO_ROOT / "results" / "bench").glob("*.json")}
    res = subprocess.run([sys.executable, "-m", "bench", "--quick", "--parts", "readers",
                          "--readers", "slim", "mixed-located", "lprnet", "--out",
                          str(tmp_path)],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    after = {p.name: p.read_bytes() for p in (REPO_ROOT / "results" / "bench").glob("*.json")}
    assert after == before
    out = json.loads((tmp_path / "readers.json").read_text(encoding="utf-8"))
    r = out["result"]
    assert out["meta"]["git_commit"] and r["quick"] is True
    assert len(r["cores"]["loadavg_before"]) == len(r["cores"]["loadavg_after"]) == 3
    assert {"synth_tight", "synth_loose", "synth_edge", "synth_provinces"} <= set(r["sets"])
    slim = r["readers"]["slim"]
    assert set(slim["sets"]) == {k for k, v in r["sets"].items() if "plates" in v}
    located = r["readers"]["mixed-located"]  # mixed, each crop cut to its plate first
    assert set(located["sets"]) == set(slim["sets"]) and located["latency"]["keras_model"]
    for s in slim["sets"].values():
        assert 0 <= s["plate_accuracy"] <= s["char_accuracy"] <= 1 and s["no_reading"] == 0
        assert 0 <= s["argmax"]["plate_accuracy"] <= s["argmax"]["char_accuracy"] <= 1
        assert len(s["per_position"]) >= 7 and sum(p["plates"] for p in
                                                   s["provinces"].values()) == s["plates"]
    for how in ("keras_end_to_end", "keras_model", "onnx_end_to_end", "onnx_model"):
        t = slim["latency"][how]
        assert t["iqr_ms"][0] <= t["median_ms"] <= t["iqr_ms"][1] and t["repeats"] >= 5
    lprnet = r["readers"]["lprnet"]
    if (LPRNET_DIR / "lprnet.onnx").is_file():
        assert lprnet["params"] > 100_000 and lprnet["latency"]["model"]["median_ms"] > 0
    else:
        assert "absent" in lprnet["skipped"]
