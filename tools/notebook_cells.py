"""The cells and the file of a chapter written by a script (tools/make_*_notebook.py): the
chapter's source is then the script, reviewable as text."""
from pathlib import Path

import nbformat as nbf


def md(text):
    return nbf.v4.new_markdown_cell(text)


def code(text, tags=None):
    """A code cell; ``tags`` for its metadata (``real-images``, ``remove-output``)."""
    cell = nbf.v4.new_code_cell(text)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def figure(name, label, caption):
    """A numbered figure of ``book/figures/<name>.png`` with its caption."""
    return md(f"```{{figure}} figures/{name}.png\n:name: {label}\n:width: 100%\n\n{caption}\n```")


def notebook(cells, language_info: bool = True) -> nbf.NotebookNode:
    """The notebook of ``cells``, with the Python 3 kernel."""
    nb = nbf.v4.new_notebook()
    nb.cells = list(cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    if language_info:
        nb.metadata["language_info"] = {"name": "python"}
    return nb


def write(nb, path) -> None:
    nbf.write(nb, Path(path))
    print(f"wrote {path}")
