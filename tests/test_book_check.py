"""tools/check_notebooks.py: the committed notebooks' own check catches what renders badly."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_notebooks", ROOT / "tools/check_notebooks.py")
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


def _nb(tmp_path, markdown, output_text):
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": [markdown]},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": ["x"],
         "outputs": [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                      "data": {"text/plain": [output_text]}}]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_clean_notebook_passes(tmp_path):
    assert check.problems(_nb(tmp_path, "$r_t \\approx 0.03$", "'05_fig.png'")) == []


def test_control_character_in_maths_is_caught(tmp_path):
    found = check.problems(_nb(tmp_path, "$r_t \approx 0.03$", "1"))  # "\a" is BEL
    assert len(found) == 1 and "control character '\\x07'" in found[0]


def test_machine_paths_in_outputs_are_caught(tmp_path):
    for text in ("PosixPath('book/figures/a.png')", "written to /tmp/tmpab12/x.png",
                 "Sample(where='/work/main/data/labels.txt:1')"):
        found = check.problems(_nb(tmp_path, "text", text))
        assert len(found) == 1 and "machine path" in found[0], text


def test_the_committed_book_passes():
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        assert check.problems(path) == [], path.name


run_chapter = importlib.util.module_from_spec(
    spec2 := importlib.util.spec_from_file_location("run_chapter", ROOT / "tools/run_chapter.py"))
spec2.loader.exec_module(run_chapter)


def test_every_chapter_has_one_command_that_reruns_it():
    chapters = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    assert len(chapters) >= 8
    for path in chapters:
        assert run_chapter.chapter_path(path.name[:2]) == path
        assert run_chapter.chapter_path(str(int(path.name[:2]))) == path
        cmds = run_chapter.commands(path)
        assert cmds[-1][-1] == str(path) and "--execute" in cmds[-1]
        generator = run_chapter.GENERATORS.get(path.name[:2])
        if generator:  # its script is the source and runs first
            script = next(a for a in cmds[0] if a.endswith(".py"))
            assert (ROOT / "tools" / generator).is_file() and script.endswith(generator)
            if generator in run_chapter.SEVERAL:  # it writes several: it is told which
                assert cmds[0][-1] == path.stem
        else:
            assert len(cmds) == 1


def test_run_chapter_names_the_chapters_it_knows():
    import pytest

    with pytest.raises(SystemExit, match="no single chapter matches '42'.*01_introduction"):
        run_chapter.chapter_path("42")


def test_real_image_outputs_are_cleared(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["real-images"]},
                     "execution_count": 3, "source": ["show()"],
                     "outputs": [{"output_type": "display_data", "metadata": {},
                                  "data": {"image/png": "iVBOR"}}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    assert run_chapter.strip_real_images(path) == 1
    assert json.loads(path.read_text())["cells"][0]["outputs"] == []


def test_mathjax_is_served_from_the_books_own_files(tmp_path):
    """The maths typesets offline: make book copies MathJax next to the pages and the config
    points Sphinx at that copy, not at a CDN."""
    import yaml

    spec3 = importlib.util.spec_from_file_location("local_mathjax", ROOT / "tools/local_mathjax.py")
    local_mathjax = importlib.util.module_from_spec(spec3)
    spec3.loader.exec_module(local_mathjax)
    assert local_mathjax.main(str(tmp_path)) == 0
    assert (tmp_path / "mathjax" / "tex-chtml.js").is_file()
    assert (tmp_path / "mathjax" / "output" / "chtml" / "fonts").is_dir()
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["sphinx"]["config"]
    assert config["mathjax_path"] == "mathjax/tex-chtml.js"
    assert "_mathjax" in config["html_static_path"]
