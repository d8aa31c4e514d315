"""lpr_lib.latency: times a Keras model and its exports (TFLite, ONNX, SavedModel), in this
process and in a fresh one limited to one thread, and refuses what makes no sense."""
import json

import pytest

from lpr_lib.latency import measure_latency, time_model
from lpr_lib.model import ModelConfig, build_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from lpr_lib.export import write_exports

    folder = tmp_path_factory.mktemp("latency")
    model = build_model(ModelConfig(width=0.25), image_size=(32, 96))
    path = folder / "model.keras"
    model.save(path)
    write_exports(model, folder / "x", ["savedmodel", "tflite", "onnx"])
    return path, folder / "x"


def _check(result, batch, repeats, fmt):
    assert result["format"] == fmt
    assert result["batch"] == batch and result["repeats"] == repeats
    low, high = result["iqr_ms"]
    assert 0 < low <= result["median_ms"] <= high
    # both rounded (to 3 and 4 decimals) from the same unrounded median
    assert result["ms_per_plate"] == pytest.approx(result["median_ms"] / batch, abs=1e-3)
    assert result["peak_rss_mb"] >= result["rss_before_model_mb"] > 0


def test_times_keras_and_every_export_in_process(saved):
    keras_path, x = saved
    _check(time_model(keras_path, batch=4, repeats=5, warmup=1), 4, 5, "keras")
    _check(time_model(x / "model.tflite", batch=1, repeats=5, warmup=1, threads=1), 1, 5,
           "tflite")
    _check(time_model(x / "model.tflite", batch=8, repeats=3, warmup=1), 8, 3, "tflite")
    _check(time_model(x / "model.onnx", batch=8, repeats=3, warmup=1, threads=1), 8, 3, "onnx")
    _check(time_model(x / "savedmodel", batch=2, repeats=3, warmup=1), 2, 3, "savedmodel")
    with pytest.raises(ValueError, match="batch must be at least 1"):
        time_model(x / "model.tflite", batch=0, repeats=2)


def test_a_time_budget_stops_repeating_after_five_calls(saved):
    keras_path, _ = saved
    result = time_model(keras_path, batch=1, repeats=1000, warmup=1, max_seconds=0.0)
    assert result["repeats"] == 5


def test_fresh_process_with_one_thread(saved):
    keras_path, x = saved
    result = measure_latency(x / "model.tflite", batch=1, threads=1, repeats=5)
    _check(result, 1, 5, "tflite")
    assert result["threads"] == 1
    _check(measure_latency(keras_path, batch=2, threads=1, repeats=3), 2, 3, "keras")
    _check(measure_latency(x / "model.onnx", batch=4, threads=0, repeats=3), 4, 3, "onnx")


def test_a_failed_measurement_names_the_model(tmp_path):
    with pytest.raises(RuntimeError, match="nothere.onnx"):
        measure_latency(tmp_path / "nothere.onnx", batch=1, threads=1, repeats=2)


def test_the_command_line_prints_one_json_line(saved, capsys):
    from lpr_lib.latency import main

    _, x = saved
    assert main([str(x / "model.onnx"), "--batch", "2", "--repeats", "3", "--warmup", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "onnx"
