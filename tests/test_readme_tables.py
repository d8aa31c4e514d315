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


def test_the_shipped_models_table_and_sentence_come_from_their_results_files(tmp_path):
    def write(rel, result):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"result": result}))

    kinds = {"blue": 0.9, "police": 0.8, "yellow_double": 0.1, "trailer": 0.2}
    for i, name in enumerate(readme_tables.SHIPPED):
        write(f"shipped_{name}.json", {
            "description": f"model {name}", "training": {"epochs": 3 + i},
            "threshold": {"product": 0.99},
            "synthetic_kinds_test": {k: {"plate_accuracy": v} for k, v in kinds.items()},
            "real_test": {"plate_accuracy": 0.5 + i / 10, "char_accuracy": 0.9,
                          "thresholds": [0.85, 0.99],
                          "confidence": {"product": {"precision": [0.95, 1.0],
                                                     "recall": [0.7, 0.4]}}}})
    real = {"sets": {"real_test": {"plate_accuracy": 0.875, "char_accuracy": 0.96}}}
    write("bench/readers.json", {"readers": {"lprnet": real, "hyperlpr": real}})
    write("bench/latency.json", {"models": {"mixed": {"macs": 21_700_000},
                                            "resnet18": {"macs": 21_700_000},
                                            "slim": {"macs": 10_100_000}}})
    table = readme_tables.shipped_table(tmp_path)
    assert "| `mixed` | model mixed | 3 | 21.7 | 50.0% | 90.0% |" in table
    assert "| `synthetic` | model synthetic | 4 | 21.7 | 60.0% | 90.0% |" in table
    assert "| `slim` | model slim | 5 | 10.1 | 70.0% | 90.0% |" in table
    assert "| LPRNet | " in table and table.count("| 87.5% | 96.0% |") == 2
    sentence = readme_tables.shipped_confidence(tmp_path)
    assert "right on 100.0% of the test plates it accepts, and 40.0% of all" in sentence
    assert "right on 95.0% of those it accepts, and 70.0% of all" in sentence
    assert "reads 80-90% of the synthetic single-row plates" in sentence
    assert "only 10-20% of the double-row ones" in sentence
