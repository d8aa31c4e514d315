"""Silence TensorFlow's C++ start-up logs.

``TF_CPP_MIN_LOG_LEVEL`` is not enough with TensorFlow 2.21: messages logged before
Abseil's ``InitializeLog()`` (the CUDA-stub and oneDNN notices printed while the
library loads) ignore every threshold and go straight to file descriptor 2. So we
point descriptor 2 at /dev/null while ``tensorflow`` itself is being imported, and
only then. A failed import still raises its Python exception as usual.

:func:`install` puts a finder on ``sys.meta_path`` that does this for whoever imports
TensorFlow first (our modules, Keras, a notebook cell).
"""
from __future__ import annotations

import importlib.abc
import os
import sys
from contextlib import contextmanager


@contextmanager
def stderr_to_devnull():
    """Redirect file descriptor 2 (C and C++ writes included) to /dev/null."""
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with stderr_to_devnull():
            self._loader.exec_module(module)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # find the real spec, then step aside for good
        from importlib.util import find_spec

        spec = find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Make the first import of TensorFlow quiet (no-op when it is already imported)."""
    if os.environ.get("LPR_TF_LOGS") == "1" or "tensorflow" in sys.modules:
        return
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
