"""The README's tables of measured figures are drawn from results/ (tools/readme_tables.py)."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "tools/readme_tables.py")
readme_tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_tables)


def test_the_readmes_tables_match_the_results_files():
    assert readme_tables.main(["--check"]) == 0, "run: python tools/readme_tables.py"


def test_a_marked_table_is_drawn_again_from_its_results_file(tmp_path):
    lat = {"median_ms": 1.234, "iqr_ms": [1.0, 1.5]}
    data = {"sets": {"real_test": {"plates": 4}, "ccpd_loose": {"plates": 2}},
            "readers": {"mixed": {"latency": {"onnx_model": lat, "keras_model": lat},
                                  "sets": {"real_test": {"plate_accuracy": 0.75},
                                           "ccpd_loose": {"plate_accuracy": 0.5}}},
                        "hyperlpr": {"latency": {"end_to_end": lat},
                                     "sets": {"real_test": {"plate_accuracy": 1.0},
                                              "ccpd_loose": {"plate_accuracy": 0.0}}}}}
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "readers.json").write_text(json.dumps({"result": data}))
    text = "before\n<!-- table: readers -->\nstale\n<!-- /table -->\nafter\n"
    out = readme_tables.render(text, tmp_path)
    assert out.startswith("before\n<!-- table: readers -->\n| reader | real test (4) | "
                          "CCPD loose (2) | ms, network | ms, crop to text |\n")
    assert "| `mixed` | 75.0% | 50.0% | 1.23 (1.00-1.50) |  |" in out
    assert "| HyperLPR | 100.0% | 0.0% |  | 1.23 (1.00-1.50) |" in out
    assert out.endswith("<!-- /table -->\nafter\n") and "stale" not in out
