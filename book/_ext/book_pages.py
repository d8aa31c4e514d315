"""A small Sphinx extension for the book's HTML pages.

- Each script once: sphinx-thebe's ``const THEBE_JS_URL = ...`` script reached every page
  twice, and a second ``const`` of one name is a syntax error in the reader's browser.
- The plate font for Chinese characters (``_static/lpr.css``), so that plates in the text
  read on a machine without a CJK font, and look like the figures' plates.
- Each chapter downloadable as the notebook the build executed: the theme's download menu
  offers ``.md`` and ``.pdf`` for a MyST Markdown notebook, and ``.ipynb`` only when a page
  names one (``ipynb_source``). The executed notebook (``_build/jupyter_execute/<page>.ipynb``,
  outputs included) is copied to ``_sources/<page>.ipynb`` beside the page's source, and the
  menu links it.
"""
from __future__ import annotations

import shutil
from pathlib import Path


def _key(filename, attrs: dict) -> tuple:
    return filename or "", tuple(sorted((k, str(v)) for k, v in attrs.items()
                                        if k != "priority"))


def _dedupe_scripts(app, builder):
    """Before the pages are written, forget registered scripts the builder already has.

    An extension that calls ``app.add_js_file`` once the builder exists puts the script both
    in the registry and in the builder's list (file name ``None``); Sphinx then adds the
    registry's copy again (file name ``""``) and, the names differing, keeps both. The
    builder's copy stays where it is, so the scripts keep their order.
    """
    js_files = getattr(builder, "_js_files", None)
    if js_files is None:
        return
    present = {_key(js.filename, js.attributes) for js in js_files}
    app.registry.js_files[:] = [(f, a) for f, a in app.registry.js_files
                                if _key(f, a) not in present]


def _notebook_download(app, pagename, templatename, context, doctree):
    """Name the executed notebook of a Markdown notebook page for the theme's download menu,
    copied where the menu links it (``_sources/<page>.ipynb``)."""
    if getattr(app.builder, "format", None) != "html" or doctree is None:
        return
    if not context.get("sourcename", "").endswith((".md", ".md.txt")):
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():  # a page of prose only: nothing was executed
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    app.connect("write-started", _dedupe_scripts)
    # before the theme's header buttons (priority 501), which read ipynb_source
    app.connect("html-page-context", _notebook_download, priority=499)
    app.add_css_file("lpr.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
