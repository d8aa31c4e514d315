"""The library's layout: no import cycle between its modules, and formats without TensorFlow.

The imports are read from the source (``ast``), every ``import`` statement wherever it stands:
at the top of a module and inside functions alike, since an import hidden in a function still
ties the two modules together (it only moves the failure to the first call). Importing
``a.b.c`` also runs the packages ``a.b`` and ``a`` (their ``__init__``), so those count as
imported too, except for the module's own packages, which run before it.
``importlib.import_module`` with a computed name (``lpr_lib.data``'s lazy names, the ``lpr``
command's table) is not seen; those are top-level entry points that nothing below imports back.
"""
from __future__ import annotations

import ast
from pathlib import Path

import lpr_lib

ROOT = Path(lpr_lib.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _package(name: str) -> str:
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


def _imported(name: str, top_level_only: bool = False) -> set[str]:
    """The names of the modules (of ``lpr_lib`` or not) that module ``name`` imports."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package(name).split(".")
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in MODULES else base)
    return found


def _edges(name: str, top_level_only: bool = False) -> set[str]:
    """The ``lpr_lib`` modules that importing ``name`` runs directly: those it imports and
    their packages (less its own packages)."""
    own = set()
    parts = name.split(".")
    for i in range(1, len(parts)):
        own.add(".".join(parts[:i]))
    edges = set()
    for target in _imported(name, top_level_only):
        parts = target.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in MODULES and prefix not in own:
                edges.add(prefix)
    edges.discard(name)
    return edges


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles (strongly connected components of more than one module, or a module
    that imports itself), each as a list of module names."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _path(graph: dict[str, set[str]], component: list[str]) -> str:
    """One cycle through ``component``, as ``a -> b -> a``, for the failure message."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return " -> ".join(paths[v] + [start])
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return ", ".join(component)


def test_the_library_has_no_import_cycle():
    graph = {name: _edges(name) for name in MODULES}
    cycles = _cycles(graph)
    assert not cycles, "import cycles (function-level imports included):\n" + "\n".join(
        _path(graph, c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _path(graph, ["a", "b", "c"]) == "a -> b -> c -> a"
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_formats_never_imports_tensorflow():
    """``lpr_lib.data.formats`` is NumPy, Pillow and OpenCV: no import of TensorFlow, nor of a
    module of ours that imports it at the top, anywhere in it (functions included)."""
    with_tensorflow = set()
    changed = True
    while changed:  # the modules whose top-level imports reach TensorFlow
        changed = False
        for name in MODULES:
            if name in with_tensorflow:
                continue
            top = _imported(name, top_level_only=True)
            if any(t.split(".")[0] == "tensorflow" for t in top) or \
                    _edges(name, top_level_only=True) & with_tensorflow:
                with_tensorflow.add(name)
                changed = True
    assert {"lpr_lib.data.pipeline", "lpr_lib.data.tfrecord"} <= with_tensorflow
    imports = _imported("lpr_lib.data.formats")
    assert not [t for t in imports if t.split(".")[0] == "tensorflow"]
    assert not _edges("lpr_lib.data.formats") & with_tensorflow


def test_one_sample_class():
    """``Sample`` is the data's (a plate image and its label); the generator's record has a
    name of its own."""
    from lpr_lib import data, synth

    assert data.Sample.__module__ == "lpr_lib.data.formats"
    assert not hasattr(synth, "Sample") and synth.SyntheticPlate.__name__ == "SyntheticPlate"
