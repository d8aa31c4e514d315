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


def test_a_chapter_rendered_from_the_execution_cache_is_checked_on_its_cached_outputs(tmp_path):
    """On a rebuild Jupyter Book writes a cached chapter without outputs: the check reads the
    outputs the cache holds (and still catches what they show)."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    executed = nbformat.reads(_nb(tmp_path, "text", "1").read_text(encoding="utf-8"), 4)
    cache = get_cache(tmp_path / "_build" / ".jupyter_cache")
    cache.cache_notebook_bundle(CacheBundleIn(executed, uri=str(tmp_path / "book" / "01_x.md")),
                                check_validity=False)
    written = nbformat.reads(nbformat.writes(executed), 4)
    for cell in written.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    path = tmp_path / "_build" / "jupyter_execute" / "book" / "01_x.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(written, path)
    assert check.problems(path) == []
    lone = tmp_path / "elsewhere" / "01_y.ipynb"  # no cache beside it: nothing was executed
    lone.parent.mkdir()
    nbformat.write(written, lone)
    assert check.problems(lone) == ["no code cell has outputs (was it executed?)"]


def test_real_images_are_never_shown(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["real-images"]},
                     "execution_count": 3, "source": ["show()"],
                     "outputs": [{"output_type": "display_data", "metadata": {},
                                  "data": {"image/png": "iVBOR"}}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "01_x.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    assert any("real-images" in p for p in check.problems(path))


def test_every_chapter_is_one_text_file():
    """The chapters are MyST Markdown notebooks, listed in the table of contents (then the
    bibliography); no notebook file and no script that writes one is left beside them."""
    import yaml

    book = ROOT / "book"
    chapters = sorted(book.glob("[0-9][0-9]_*.md"))
    assert len(chapters) == 18
    assert not list(book.glob("*.ipynb"))
    assert not list((ROOT / "tools").glob("make_*notebook*.py"))
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    listed = [c["file"] for c in toc["chapters"]]
    assert listed == [f"book/{p.stem}" for p in chapters] + ["book/bibliography"]
    for path in chapters:
        head = path.read_text(encoding="utf-8").split("---")[1]
        assert "format_name: myst" in head and "kernelspec" in head, path.name
        assert "```{code-cell} ipython3" in path.read_text(encoding="utf-8"), path.name


def test_the_chapters_sources_pass():
    for path in check.chapter_files(ROOT / "book"):
        assert check.problems(path) == [], path.name


def test_control_character_in_a_chapter_source_is_caught(tmp_path):
    path = tmp_path / "01_x.md"
    path.write_text("---\njupytext:\n  text_representation:\n    format_name: myst\n---\n\n"
                    "# T\n\n$r_t \a 1$\n\n```{code-cell} ipython3\nx = 1\n```\n",
                    encoding="utf-8")
    found = check.problems(path)
    assert len(found) == 1 and "control character" in found[0]


def test_the_chapters_code_passes_ruff():
    """`ruff check .` does not read Markdown: tools/lint_chapters.py runs it on every code cell
    (make lint runs both)."""
    spec4 = importlib.util.spec_from_file_location("lint_chapters", ROOT / "tools/lint_chapters.py")
    lint = importlib.util.module_from_spec(spec4)
    spec4.loader.exec_module(lint)
    assert lint.lint(lint.chapters()) == []


def test_a_ruff_finding_in_a_chapter_names_its_line(tmp_path):
    spec4 = importlib.util.spec_from_file_location("lint_chapters", ROOT / "tools/lint_chapters.py")
    lint = importlib.util.module_from_spec(spec4)
    spec4.loader.exec_module(lint)
    path = ROOT / "book" / "01_introduction.md"
    bad = tmp_path / "01_bad.md"
    text = path.read_text(encoding="utf-8").replace("```{code-cell} ipython3\n",
                                                     "```{code-cell} ipython3\nimport sys\n", 1)
    bad.write_text(text, encoding="utf-8")
    found = lint.lint([bad])
    line = text.split("\n").index("import sys") + 1
    assert len(found) == 1 and f":{line}: F401" in found[0]


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


def test_every_glued_name_has_a_source():
    """A number in the prose comes from a results file through myst-nb's glue: every name a
    chapter's text uses ({glue:text}`name`, {glue}`name`, a glue directive) is glued by a code
    cell of the same chapter."""
    import re

    import jupytext

    used = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)(?::[^`]*)?`|```\{glue(?::\w+)?\}\s+(\S+)")
    glued = re.compile(r"""\bglue\(\s*["']([^"']+)["']""")
    found = 0
    for path in sorted((ROOT / "book").glob("[0-9][0-9]_*.md")):
        nb = jupytext.read(path)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        names = {a or b for a, b in used.findall(text)}
        missing = names - set(glued.findall(code))
        assert not missing, f"{path.name}: glued names with no glue() in a code cell: {missing}"
        found += len(names)
    assert found >= 4


def test_every_chapter_cites_from_the_bibliography_and_ends_with_exercises_and_references():
    """Every chapter after the first cites its sources ({cite}`key`, each key in
    book/references.bib) and has a Summary, Exercises and a References section; the
    bibliography page lists them all."""
    import re

    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", bib, flags=re.M))
    cite = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")
    for path in sorted((ROOT / "book").glob("[0-9][0-9]_*.md")):
        text = path.read_text(encoding="utf-8")
        cited = {k.strip() for group in cite.findall(text) for k in group.split(",")}
        assert cited <= keys, f"{path.name}: cites keys not in references.bib: {cited - keys}"
        if path.name.startswith("01_"):
            continue
        assert cited, f"{path.name} cites nothing"
        for heading in ("## Summary", "## Exercises", "## References"):
            assert f"\n{heading}\n" in text, f"{path.name} has no {heading!r} section"
    assert "```{bibliography}" in (ROOT / "book" / "bibliography.md").read_text(encoding="utf-8")
