"""tools/chapter_notebooks.py: nbval's expected outputs are matched to their cells by the
cells' whole code, so two tables that start alike (one per data setting) keep their own."""
import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parent.parent / "tools" / "chapter_notebooks.py"


def _tool():
    spec = importlib.util.spec_from_file_location("chapter_notebooks_under_test", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cells_that_start_alike_have_different_keys():
    key = _tool()._key
    synthetic = "rep.table_frame(\n    summary,\n    ('v2', 'v3'),\n    'synthetic',\n)\n"
    mixed = "rep.table_frame(\n    summary,\n    ('v2', 'v3'),\n    'mixed',\n)\n"
    assert key(synthetic) != key(mixed)
    assert key(synthetic) == key("\n" + synthetic.replace("summary,", "summary,   ") + "\n\n")


def test_every_chapters_checked_cells_are_told_apart_and_recorded():
    tool = _tool()
    import json

    import jupytext

    for path in tool.chapters():
        nb = jupytext.read(path)
        keys = [tool._key(nb.cells[i].source) for i in tool.checked_cells(nb)]
        assert len(keys) == len(set(keys)), path.name
        recorded = tool.OUTPUTS / f"{path.stem}.json"
        if keys:
            assert set(keys) <= set(json.loads(recorded.read_text(encoding="utf-8"))), path.name
