"""Reproducibility in one place: seeds, quick mode, and the metadata every result file carries."""
from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
import time
from datetime import datetime, UTC
from importlib import metadata
from pathlib import Path

import numpy as np

#: The project's default seed; every experiment takes its seed from its config.
DEFAULT_SEED = 2026
#: The repository (the folder that holds ``lpr_lib/``): every default path starts here.
REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "results"
#: Where ``lpr train`` puts a run (``runs/<name>``) and its rendered synthetic plates
#: (``runs/synth``), and where ``--model latest`` looks.
RUNS_DIR = REPO_ROOT / "runs"
#: Where the real photographs live, when they are there (never committed).
SHARED_REAL = REPO_ROOT.parent / "shared" / "real_plates"


def quick_mode() -> bool:
    """True when ``LPR_QUICK=1``: notebooks and benchmarks shrink data and epochs (CI)."""
    return os.environ.get("LPR_QUICK", "0") not in ("", "0", "false", "False")


def set_seed(seed: int = DEFAULT_SEED, deterministic: bool = False, keras: bool = True) -> None:
    """Seed Python, NumPy and Keras (its backend's random ops), and TensorFlow on Keras's
    TensorFlow backend; on the other backends TensorFlow is not imported. ``keras=False``
    seeds Python and NumPy only, importing neither Keras nor TensorFlow (seconds).

    ``deterministic=True`` also asks TensorFlow for deterministic kernels, which
    makes CPU training bit-reproducible for a seed at some cost in speed (on TensorFlow's
    backend; XLA on a CPU, which JAX uses, is deterministic already).
    """
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if not keras:
        return
    try:
        import keras
    except ImportError:  # pragma: no cover - the library always has Keras
        return
    if keras.backend.backend() != "tensorflow":
        _seed_keras_only(seed)
        return
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _seed_keras_only(seed: int) -> None:
    """``keras.utils.set_random_seed`` without its ``import tensorflow`` (which it does on
    every backend when TensorFlow is installed, to seed ``tf.data``): Keras's global seed and
    seed generator, and torch's on its backend."""
    import keras

    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils import rng_utils

        names = rng_utils.GLOBAL_RANDOM_SEED, seed_generator.GLOBAL_SEED_GENERATOR
    except (ImportError, AttributeError):  # pragma: no cover - Keras's internals moved
        keras.utils.set_random_seed(seed)
        return
    global_state.set_global_attribute(names[0], seed)
    global_state.set_global_attribute(names[1], None)  # rebuilt from the seed when next used
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)


#: Set to 1 to let :func:`write_result` write ``results/`` from a tree with uncommitted
#: changes (the file then records ``"dirty": true``); the same as ``allow_dirty=True``.
ALLOW_DIRTY_ENV = "LPR_ALLOW_DIRTY"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=10).stdout.rstrip()


def git_dirty() -> list[str]:
    """The tracked files changed since the last commit (``git status``), less those under
    ``results/`` and ``runs/``: a result file records the code that made it, and writing
    results is what a run does. Empty outside a git checkout."""
    try:
        lines = _git("status", "--porcelain", "--untracked-files=no", "--", ".",
                     ":(exclude)results", ":(exclude)runs").splitlines()
    except (OSError, subprocess.SubprocessError):
        return []
    return [line[3:] for line in lines if line.strip()]


def git_commit() -> str:
    """The current commit of the repository (with ``-dirty`` when tracked files outside
    ``results/`` changed), or ``unknown``."""
    try:
        sha = _git("rev-parse", "HEAD").strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha or "unknown") + ("-dirty" if sha and git_dirty() else "")


def command_line() -> list[str]:
    """The command that is running, as typed (``sys.argv``), with no path of this machine in
    it: the script relative to the repository when it lies inside it (else its name), and
    every other absolute path inside the repository or beside it (``../shared``) relative to
    the repository."""
    argv = list(sys.argv)
    if argv:
        try:
            argv[0] = Path(argv[0]).resolve().relative_to(REPO_ROOT).as_posix()
        except (ValueError, OSError):
            argv[0] = Path(argv[0]).name
    return argv[:1] + [_relative(a) for a in argv[1:]]


def _relative(arg: str) -> str:
    """``arg`` with an absolute path under the repository's parent made relative to the
    repository (``--out=/x/repo/runs/a`` -> ``--out=runs/a``, ``/x/shared`` -> ``../shared``)."""
    key, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
    if not value.startswith("/"):
        return arg
    path = Path(value)
    if not path.is_relative_to(REPO_ROOT.parent):
        return arg
    return key + eq + Path(os.path.relpath(path, REPO_ROOT)).as_posix()


class DirtyTreeError(RuntimeError):
    """A result file for ``results/`` asked for from uncommitted code."""


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("lpr_lib", "tensorflow", "keras", "numpy", "pillow", "opencv-python-headless"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def run_metadata(config=None, seed: int | None = None, started: float | None = None) -> dict:
    """What every result file records: config, seed, git commit, versions, machine and time."""
    now = time.time()
    meta = {
        "command": command_line(),
        "git_commit": git_commit(),
        "dirty": bool(git_dirty()),
        "seed": seed,
        "config": config,
        "versions": library_versions(),
        "machine": {"platform": platform.platform(), "processor": platform.machine(),
                    "cpu_count": os.cpu_count()},
        "quick_mode": quick_mode(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if started is not None:
        meta["run_seconds"] = round(now - started, 3)
    return meta


def check_clean(name: str, allow_dirty: bool | None = None) -> list[str]:
    """Refuse, with :class:`DirtyTreeError`, to make ``results/<name>.json`` from a tree
    whose tracked files outside ``results/`` have uncommitted changes, unless
    ``allow_dirty=True`` or ``LPR_ALLOW_DIRTY=1``; return the changed files (empty for a
    clean tree). :func:`write_result` calls it; a study that trains for hours calls it
    first, so that it stops before the hours, not after them."""
    changed = git_dirty()
    if allow_dirty is None:
        allow_dirty = os.environ.get(ALLOW_DIRTY_ENV, "0") not in ("", "0", "false", "False")
    if changed and not allow_dirty:
        raise DirtyTreeError(
            f"refusing to write {name}.json into results/: {len(changed)} tracked file(s) "
            f"have uncommitted changes ({', '.join(changed[:5])}"
            f"{', ...' if len(changed) > 5 else ''}); commit them first, so that the file "
            f"names the code that made it, or set {ALLOW_DIRTY_ENV}=1 to record it as dirty")
    return changed


def write_result(name: str, data: dict, config=None, seed: int | None = None,
                 started: float | None = None, directory: Path | None = None,
                 meta: dict | None = None, allow_dirty: bool | None = None) -> Path:
    """Write ``results/<name>.json`` with ``data`` and the run metadata (or ``meta``, the
    metadata of the run that produced ``data``, when it is given); return its path.

    The metadata names the command that made the file (``sys.argv``) and the commit. A file
    for ``results/`` (the committed results, the default ``directory``) is refused with
    :class:`DirtyTreeError` when tracked files outside ``results/`` have uncommitted changes,
    unless ``allow_dirty=True`` or ``LPR_ALLOW_DIRTY=1``; the file then records
    ``"dirty": true`` and the changed files. Run folders and other directories are written
    whatever the tree.

    The file is written to a temporary name and renamed, so that a killed run never
    leaves half a file where a good one was.
    """
    directory = Path(directory or RESULTS_DIR)
    meta = dict(meta) if meta is not None else run_metadata(config, seed, started)
    meta.setdefault("command", command_line())
    if _inside(directory, RESULTS_DIR):
        changed = check_clean(name, allow_dirty)
        meta["dirty"] = bool(changed)
        if changed:
            meta["dirty_files"] = changed
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    payload = portable({"result": data, "meta": meta})
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n",
                   encoding="utf-8")
    tmp.replace(path)
    return path


def portable(value):
    """``value`` (nested dicts, lists, strings...) with every string that is an absolute path
    in the repository or beside it made relative to the repository: a results file names no
    folder of the machine that wrote it (``/x/repo/runs/a`` -> ``runs/a``)."""
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(v) for v in value]
    if isinstance(value, str) and value.startswith(str(REPO_ROOT.parent) + os.sep):
        return Path(os.path.relpath(value, REPO_ROOT)).as_posix()
    return value


def _inside(path: Path, folder: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except OSError:
        return False
