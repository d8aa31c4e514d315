"""lpr_lib.latency: times a Keras model and its TFLite export, in this process and in a fresh
one limited to one thread, and refuses what the TFLite export cannot do."""
import pytest

from lpr_lib.latency import measure_latency, time_model
from lpr_lib.model import ModelConfig, build_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from lpr_lib.export import export_tflite

    folder = tmp_path_factory.mktemp("latency")
    model = build_model(ModelConfig(width=0.25), image_size=(32, 96))
    path = folder / "model.keras"
    model.save(path)
    return path, export_tflite(model, folder / "model.tflite")


def _check(result, batch, repeats):
    assert result["batch"] == batch and result["repeats"] == repeats
    low, high = result["iqr_ms"]
    assert 0 < low <= result["median_ms"] <= high
    # both rounded (to 3 and 4 decimals) from the same unrounded median
    assert result["ms_per_plate"] == pytest.approx(result["median_ms"] / batch, abs=1e-3)


def test_times_keras_and_tflite_in_process(saved):
    keras_path, tflite_path = saved
    _check(time_model(keras_path, batch=4, repeats=5, warmup=1), 4, 5)
    _check(time_model(tflite_path, batch=1, repeats=5, warmup=1, threads=1), 1, 5)
    with pytest.raises(ValueError, match="batch 1"):
        time_model(tflite_path, batch=8, repeats=2)


def test_fresh_process_with_one_thread(saved):
    keras_path, tflite_path = saved
    result = measure_latency(tflite_path, batch=1, threads=1, repeats=5)
    _check(result, 1, 5)
    assert result["threads"] == 1
    _check(measure_latency(keras_path, batch=2, threads=1, repeats=3), 2, 3)
