"""A training run's folder, written so that a kill at any instant leaves a run that resumes.

What a run folder holds::

    config.yaml     the config the run was started with
    state.json      the commit record: epochs done, the current and the best checkpoint
    history.csv     one row per committed epoch
    backup/         epoch-NNNN.keras checkpoints (model and optimizer) that state.json names
    last.keras      the last committed epoch's model (a copy of its checkpoint)
    best.keras      the best committed epoch's model on the monitored metric
    result.json     written when the run finishes

Every file is written whole under a temporary name, then renamed over the old one
(:func:`atomic_path`), as git writes its refs: a reader sees the old file or the new one,
never half of one. At the end of an epoch the writes come in this order:

1. the epoch's checkpoint ``backup/epoch-NNNN.keras``;
2. ``history.csv`` rewritten with the committed rows plus this epoch's;
3. ``state.json``: **the commit**. An epoch exists once this rename has happened;
4. ``last.keras`` and (if the epoch is the best so far) ``best.keras``, copied from the
   checkpoint; then the checkpoints that are neither current nor best are deleted.

A kill before step 3 loses only the epoch in flight: on resume the history is cut back to the
committed rows and the epoch trains again. A kill after it loses nothing: step 4 is redone
from ``state.json`` on resume. Temporary files a kill leaves behind are deleted on resume.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import sys
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras

STATE = "state.json"
BACKUP = "backup"
TMP_MARK = ".tmp-"
#: files that make a folder a run folder (one without a readable state.json cannot resume)
RUN_FILES = ("config.yaml", STATE, "history.csv", "last.keras", "best.keras", "result.json")


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (finished, foreign, broken)."""


class RunFolderBusy(RunFolderError):
    """A run folder another process is training into (its lock file names it)."""


def _fault(point: str) -> None:
    """Fault-injection hook for tests: called at every step of an epoch's commit."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, point: str = ""):
    """Yield a temporary path next to ``path``; when the block ends without error, flush it to
    disk and rename it over ``path`` (one atomic step on POSIX and Windows). An error in the
    block deletes the temporary file and leaves ``path`` as it was. The temporary name keeps
    the suffix (Keras chooses its format by it)."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}{TMP_MARK}{os.getpid()}{path.suffix}")
    try:
        yield tmp
        _fsync(tmp)
        _fault(f"{point}:written")  # a kill here leaves the temporary file, not a partial path
        os.replace(tmp, path)
    except Exception:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fault(f"{point}:renamed")


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError), open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def write_text(path, text: str, point: str = "") -> None:
    with atomic_path(path, point) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def copy_file(src, dst, point: str = "") -> None:
    with atomic_path(dst, point) as tmp:
        shutil.copyfile(src, tmp)


def save_model(model, path, point: str = "") -> None:
    """``model.save(path)`` written atomically."""
    with atomic_path(path, point) as tmp:
        model.save(tmp)


@dataclass
class RunState:
    epochs_done: int = 0
    checkpoint: str | None = None  # file name in backup/
    previous: str | None = None  # the epoch before's checkpoint, kept as a fallback
    best_checkpoint: str | None = None
    best_epoch: int | None = None
    best_value: float | None = None
    monitor: str = ""
    finished: bool = False


class RunFolder:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.backup = self.path / BACKUP

    # ------------------------------------------------------------------ the lock
    def lock_path(self) -> Path:
        """``.NAME.lock`` beside the folder (not inside: ``--overwrite`` moves the folder)."""
        return self.path.with_name(f".{self.path.name}.lock")

    def _holder(self) -> dict | None:
        try:
            holder = json.loads(self.lock_path().read_text(encoding="utf-8"))
            return holder if isinstance(holder, dict) else None
        except (OSError, ValueError):
            return None

    def _stale(self, holder: dict | None) -> bool:
        """A lock whose process is gone: on this machine and not running, or unreadable
        (every lock is written whole: one that is not was not written by this code) and
        older than a minute."""
        from lpr_lib.runtime import pid_alive

        if holder is None:
            try:
                return time.time() - self.lock_path().stat().st_mtime > 60
            except OSError:
                return True
        pid = holder.get("pid")
        return holder.get("host") == socket.gethostname() and isinstance(pid, int) \
            and pid != os.getpid() and not pid_alive(pid)

    def acquire(self) -> None:
        """Take the folder's lock file for this process (its pid, host and command), or raise
        :class:`RunFolderBusy` naming the process that holds it. A lock left by a process that
        is no longer running (a crash, a kill) is cleared with a note."""
        lock = self.lock_path()
        lock.parent.mkdir(parents=True, exist_ok=True)
        mine = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
                "command": " ".join(sys.argv)[:300]}
        for _ in range(5):
            tmp = lock.with_name(f"{lock.name}{TMP_MARK}{os.getpid()}")
            try:
                tmp.write_text(json.dumps(mine), encoding="utf-8")
                try:
                    os.link(tmp, lock)  # creates the lock whole, or fails if it exists
                    return
                except FileExistsError:
                    pass
                except OSError:  # a file system without hard links
                    try:
                        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                    except FileExistsError:
                        pass
                    else:
                        with os.fdopen(fd, "w", encoding="utf-8") as fh:
                            fh.write(json.dumps(mine))
                        return
            finally:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            holder = self._holder()
            if not self._stale(holder):
                break
            print(f"note: {lock}: the run that held it (process "
                  f"{(holder or {}).get('pid', '?')}) is no longer running; lock cleared",
                  file=sys.stderr)
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
        holder = self._holder() or {}
        since = holder.get("since")
        when = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(since)) \
            if isinstance(since, (int, float)) else ""
        raise RunFolderBusy(
            f"{self.path}: in use by process {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}{when} ({holder.get('command') or 'lpr train'}); two "
            f"runs cannot train into one folder: wait for it, or stop it. If that process is "
            f"gone, delete {lock}")

    def release(self) -> None:
        """Give the lock back (only this process's: never another's)."""
        holder = self._holder()
        if holder is not None and holder.get("pid") == os.getpid() \
                and holder.get("host") == socket.gethostname():
            with contextlib.suppress(FileNotFoundError):
                self.lock_path().unlink()

    @contextlib.contextmanager
    def locked(self):
        """Hold the folder's lock for the block (:meth:`acquire`, :meth:`release`)."""
        self.acquire()
        try:
            yield self
        finally:
            self.release()

    # ------------------------------------------------------------------ reading
    def state(self) -> RunState | None:
        """The committed state, ``None`` when the folder holds none; an error naming the file
        when it cannot be read (it is only ever written whole)."""
        path = self.path / STATE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return RunState(**data)
        except (OSError, ValueError, TypeError) as err:
            raise RunFolderError(f"{path}: unreadable run state ({err}); train into another "
                                 "folder, or pass --overwrite to replace this run") from None

    def _committed(self) -> int | None:
        """Epochs committed here, ``None`` when there is no readable state."""
        try:
            state = self.state()
        except RunFolderError:
            return None
        return None if state is None else state.epochs_done

    def holds_a_run(self) -> bool:
        return self.path.is_dir() and any((self.path / n).exists() for n in (*RUN_FILES, BACKUP))

    def history(self) -> list[dict]:
        path = self.path / "history.csv"
        if not path.is_file():
            return []
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def check_can_train(self, config_dict: dict, overwrite: bool) -> str:
        """Before anything is written: ``"new"``, ``"resume"`` or ``"overwrite"``; a
        :class:`RunFolderError` when training here would lose or misread a run."""
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"{self.path}: exists and is not a folder")
        if not self.holds_a_run():
            return "new"
        if overwrite:
            return "overwrite"
        state = self.state()
        if state is None and {n for n in (*RUN_FILES, BACKUP) if (self.path / n).exists()} \
                == {"config.yaml"}:
            return "new"  # begin() stopped between its two writes: nothing was trained
        if state is None:
            raise RunFolderError(
                f"{self.path}: holds a run this version cannot resume (no {STATE}); train into "
                "another folder (--out), or pass --overwrite to replace it")
        if state.finished:
            raise RunFolderError(
                f"{self.path}: holds a finished run ({state.epochs_done} epochs, best "
                f"{state.monitor} {state.best_value}); train into another folder (--out), "
                "fine-tune from it (init_from), or pass --overwrite to replace it")
        changed = self._config_changes(config_dict)
        if changed:
            raise RunFolderError(
                f"{self.path}: was started with another config ({'; '.join(changed)}); resume "
                "it with the same config, or train into another folder (--out), or pass "
                "--overwrite to start it again")
        return "resume"

    def _config_changes(self, config_dict: dict) -> list[str]:
        import yaml

        path = self.path / "config.yaml"
        try:
            stored = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise RunFolderError(f"{path}: unreadable ({err}); pass --overwrite to start the "
                                 "run again") from None
        free = {"verbose", "tensorboard"}  # how a run reports, not what it trains
        out: list[str] = []
        _diff(_as_written_now(stored), config_dict, "", free, out)
        return out

    # ------------------------------------------------------------------ writing
    def begin(self, mode: str, config_yaml: str) -> None:
        """Make the folder ready: a new run (the old one, with ``overwrite``, moved aside to
        ``<name>.replaced`` until this run commits its first epoch; if a run is already aside
        and the folder holds a replacement that never saved an epoch, that replacement is
        dropped and the run aside stays), or a resumed one (temporary files of a killed run
        deleted)."""
        if mode == "overwrite":
            aside = self.replaced_path()
            if not aside.exists():
                os.replace(self.path, aside)
            elif self._committed() == 0:  # an earlier replacement that never saved an epoch:
                shutil.rmtree(self.path)  # the run it was replacing stays aside
            else:
                shutil.rmtree(aside)
                os.replace(self.path, aside)
        self.path.mkdir(parents=True, exist_ok=True)
        for tmp in [*self.path.glob(f".*{TMP_MARK}*"), *self.backup.glob(f".*{TMP_MARK}*")]:
            tmp.unlink(missing_ok=True)
        if mode != "resume":
            write_text(self.path / "config.yaml", config_yaml)
            write_text(self.path / STATE, json.dumps(asdict(RunState())))
        else:
            state = self.state()
            rows = self.history()
            if state is not None and len(rows) > state.epochs_done:  # an uncommitted epoch
                self._write_history(rows[:state.epochs_done])
            self.publish(state)

    def replaced_path(self) -> Path:
        return self.path.with_name(self.path.name + ".replaced")

    def resume_checkpoint(self, state: RunState) -> tuple[Path | None, RunState]:
        """The checkpoint to resume from, checked to load. A broken one (a disk fault: they
        are written whole) falls back, with a warning, to the last intact one of the previous
        epoch's and the best epoch's; the state and the history are cut back to it."""
        if not state.checkpoint:
            return None, state
        path = self.backup / state.checkpoint
        problem = _unloadable(path)
        if problem is None:
            return path, state
        for name in sorted({state.previous, state.best_checkpoint} - {None, state.checkpoint},
                           reverse=True):
            if _unloadable(self.backup / name) is None:
                epoch = _epoch_of(name)
                print(f"warning: {path} is broken ({problem}); resuming from the last intact "
                      f"checkpoint {name} (epoch {epoch + 1}): the epochs after it train again",
                      file=sys.stderr)
                rows = self.history()[:epoch + 1]
                best = state.best_epoch is not None and state.best_epoch <= epoch
                value = _plain(rows[-1].get(state.monitor)) if len(rows) == epoch + 1 else None
                state = RunState(epochs_done=epoch + 1, checkpoint=name, monitor=state.monitor,
                                 best_checkpoint=state.best_checkpoint if best else name,
                                 best_epoch=state.best_epoch if best else epoch,
                                 best_value=state.best_value if best else value)
                self._write_history(rows)
                write_text(self.path / STATE, json.dumps(asdict(state)))
                return self.backup / name, state
        raise RunFolderError(f"{path} is broken ({problem}) and no intact checkpoint is left; "
                             "pass --overwrite to start the run again")

    def commit_epoch(self, model, epoch: int, row: dict, monitor: str) -> RunState:
        """Write one finished epoch in the order the module docstring gives."""
        state = self.state() or RunState()
        self.backup.mkdir(exist_ok=True)
        name = f"epoch-{epoch:04d}.keras"
        save_model(model, self.backup / name, "checkpoint")
        rows = self.history()[:epoch] + [{"epoch": epoch, **row}]
        self._write_history(rows)
        value = row.get(monitor)
        better = value is not None and value == value and (
            state.best_value is None or value > state.best_value)
        state = RunState(epochs_done=epoch + 1, checkpoint=name, monitor=monitor,
                         previous=state.checkpoint if state.checkpoint != name else None,
                         best_checkpoint=name if better else state.best_checkpoint,
                         best_epoch=epoch if better else state.best_epoch,
                         best_value=float(value) if better else state.best_value)
        write_text(self.path / STATE, json.dumps(asdict(state)), "state")
        self.publish(state)
        aside = self.replaced_path()
        if aside.exists():  # the run it replaced is dropped once this one has an epoch
            shutil.rmtree(aside, ignore_errors=True)
        return state

    def publish(self, state: RunState | None) -> None:
        """``last.keras`` and ``best.keras`` from the committed checkpoints (idempotent), then
        the checkpoints that are neither current nor best are deleted."""
        if state is None or not state.checkpoint:
            return
        for target, name in (("last.keras", state.checkpoint),
                             ("best.keras", state.best_checkpoint or state.checkpoint)):
            src = self.backup / name
            if src.is_file() and not _same_file(src, self.path / target):
                copy_file(src, self.path / target, "publish")
        keep = {state.checkpoint, state.previous, state.best_checkpoint}
        for old in self.backup.glob("epoch-*.keras"):
            if old.name not in keep:
                old.unlink(missing_ok=True)
        _fault("cleanup:done")

    def finish(self) -> None:
        """Drop the checkpoints (last/best.keras are published) and mark the run finished: a
        kill in between leaves a run whose epochs are all committed, which a rerun finishes
        without training."""
        state = self.state()
        if state is None:
            return
        self.publish(state)
        shutil.rmtree(self.backup, ignore_errors=True)
        state.finished = True
        write_text(self.path / STATE, json.dumps(asdict(state)), "finish")

    def _write_history(self, rows: list[dict]) -> None:
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        keys = ["epoch"] + sorted(k for k in keys if k != "epoch")
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_text(self.path / "history.csv", buf.getvalue(), "history")


class CommitEpochs(keras.callbacks.Callback):
    """Commits each finished epoch to the run folder (after the callbacks that add to the
    logs); replaces Keras' BackupAndRestore, ModelCheckpoint and CSVLogger, whose files are
    written in place and not in one order."""

    def __init__(self, run: RunFolder, monitor: str):
        super().__init__()
        self.run, self.monitor = run, monitor

    def on_epoch_end(self, epoch, logs=None):
        row = {k: _plain(v) for k, v in (logs or {}).items()}
        self.run.commit_epoch(self.model, epoch, row, self.monitor)


def _plain(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def _epoch_of(name: str) -> int:
    return int(name.removeprefix("epoch-").removesuffix(".keras"))


def _unloadable(path: Path) -> str | None:
    """Why ``path`` is not a loadable .keras file, or ``None``."""
    import zipfile

    if not path.is_file():
        return "missing"
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
        return f"damaged member {bad}" if bad else None
    except (OSError, zipfile.BadZipFile) as err:
        return str(err) or type(err).__name__


def _same_file(a: Path, b: Path) -> bool:
    if not b.is_file():
        return False
    sa, sb = a.stat(), b.stat()
    if sa.st_size != sb.st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def _as_written_now(stored):
    """A run's stored config as this version writes it (keys added since filled in with their
    defaults, ``data.augment`` and ``data.synth`` in their written form), so that a run an
    older version started resumes when nothing it trains has changed; as stored when it no
    longer loads (then every difference shows)."""
    from lpr_lib.config import ConfigError, ExperimentConfig

    try:
        return ExperimentConfig.from_dict(stored).to_dict()
    except ConfigError:
        return stored


def _diff(old, new, prefix: str, free: set, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            if not prefix and key in free:
                continue
            _diff(old.get(key), new.get(key), f"{prefix}{key}.", free, out)
    elif old != new and not (isinstance(old, list) and isinstance(new, (list, tuple))
                             and list(old) == list(new)):
        out.append(f"{prefix.rstrip('.')}: {old!r} -> {new!r}")
