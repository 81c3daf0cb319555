"""Run folders that are all-new or all-old, never a mix of two runs.

A run is written into a hidden sibling ``.NAME.partial/`` (metrics stream there row by row,
checkpoints are replaced atomically) and swapped in for ``NAME/`` with one atomic exchange of the
two directories (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames with a recoverable
``.NAME.old``). Whatever stops the process — a full disk, SIGKILL, a second Ctrl-C — leaves
``NAME/`` holding the previous complete run or the new complete one; a killed run's partial
folder keeps its last checkpoint for ``run --resume NAME``, and stale temporaries are removed.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import io
import json
import os
import shutil
import stat
import zipfile
from pathlib import Path

import numpy as np

from .fileio import atomic_write_bytes, file_mode, fsync_dir
from .state import StateError, get_state, set_state

RUN_FILES = ("config.toml", "metrics.csv", "summary.json", "weights.npz", "checkpoint.npz")
CHECKPOINT = "checkpoint.npz"
CHECKPOINT_VERSION = 1


class RunDirError(Exception):
    """A run folder cannot be used as asked (the message says why and what to do)."""


# ---------------------------------------------------------------------------------- swapping
def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories; False where the system cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EXDEV, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_in(partial: Path, out: Path) -> None:
    """Make ``partial`` the folder at ``out``; the previous ``out`` (if any) is removed."""
    old = out.parent / f".{out.name}.old"
    if not os.path.lexists(out):
        os.rename(partial, out)
    elif _exchange(partial, out):
        shutil.rmtree(partial, ignore_errors=True)  # now holds the previous run
    else:  # pragma: no cover - file systems without RENAME_EXCHANGE
        if os.path.lexists(old):
            shutil.rmtree(old, ignore_errors=True)
        os.rename(out, old)
        os.rename(partial, out)
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(out.parent)


# ---------------------------------------------------------------------------------- checks
def check_out_dir(out: str | os.PathLike) -> Path:
    """The folder ``--out`` names, checked before any training: a directory (or absent), not a
    symbolic-link loop, holding only a previous run's files, in a writable parent."""
    raw = os.fspath(out)
    if raw.strip() == "":
        raise RunDirError("--out is empty: give a folder for the run")
    path = Path(raw)
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RunDirError(f"--out {raw} is a symbolic link loop") from None
        if exc.errno == errno.ENOTDIR:
            raise RunDirError(f"--out {raw}: a part of the path is a file, not a folder") from None
        if exc.errno != errno.ENOENT:
            raise RunDirError(f"--out {raw}: {exc.strerror}") from None
    path = Path(os.path.realpath(path))  # a symlink to a folder: write where it points
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--out {raw} exists and is not a directory")
    if path.is_dir():
        foreign = sorted(p.name for p in path.iterdir()
                         if p.name not in RUN_FILES and not p.name.startswith("."))
        if foreign:
            raise RunDirError(f"--out {raw} holds files that are not a run's ({', '.join(foreign[:3])}"
                              f"{', ...' if len(foreign) > 3 else ''}): the run replaces the whole folder, "
                              "so give a new or empty folder, or a previous run's")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"--out {raw}: cannot create {parent}: {exc.strerror}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunDirError(f"--out {raw}: the folder {parent} is not writable")
    return path


# ---------------------------------------------------------------------------------- folder
class RunFolder:
    """One run being written: its target, its partial sibling, a lock, the metrics stream."""

    def __init__(self, out: Path):
        self.out = out
        self.partial = out.parent / f".{out.name}.partial"
        self.lock_path = out.parent / f".{out.name}.lock"
        self._lock_fd = None
        self.metrics = None

    # ---- lifecycle
    def _lock(self) -> None:
        import fcntl
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, file_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RunDirError(f"another run is writing {self.out} right now") from None
        self._lock_fd = fd

    def _recover(self) -> None:
        old = self.out.parent / f".{self.out.name}.old"
        if os.path.lexists(old):  # a swap without RENAME_EXCHANGE was interrupted
            if not os.path.lexists(self.out):
                os.rename(old, self.out)
            else:
                shutil.rmtree(old, ignore_errors=True)
        if self.out.is_dir():  # hidden temporaries of interrupted atomic writes
            for p in self.out.iterdir():
                if p.name.startswith(".") and p.name.endswith(".tmp"):
                    p.unlink(missing_ok=True)

    @classmethod
    def create(cls, out: Path, discard_unfinished: bool = False) -> "RunFolder":
        """A fresh partial folder for a new run into ``out``."""
        self = cls(out)
        self._lock()
        try:
            self._recover()
            if self.partial.exists():
                step = _checkpoint_step(self.partial)
                if step is not None and not discard_unfinished:
                    raise RunDirError(
                        f"{out} has an unfinished run (killed after its checkpoint at step {step}): "
                        f"continue it with `run --resume {out}`, or pass --discard-unfinished to start over")
                shutil.rmtree(self.partial)
            self.partial.mkdir(mode=0o777)
        except BaseException:
            self.release()
            raise
        return self

    @classmethod
    def resume(cls, out: Path) -> tuple["RunFolder", dict, dict]:
        """Reopen the run at ``out`` from its newest checkpoint: a killed run's partial folder, or
        the checkpoint an interrupted or checkpointed run left in ``out``."""
        self = cls(out)
        self._lock()
        try:
            self._recover()
            if self.partial.exists() and _checkpoint_step(self.partial) is not None:
                meta, arrays = read_checkpoint(self.partial / CHECKPOINT)
            elif (out / CHECKPOINT).is_file():
                meta, arrays = read_checkpoint(out / CHECKPOINT)
                if self.partial.exists():
                    shutil.rmtree(self.partial)
                self.partial.mkdir(mode=0o777)
                for name in ("config.toml", "metrics.csv"):
                    if (out / name).is_file():
                        shutil.copyfile(out / name, self.partial / name)
            else:
                raise RunDirError(f"{out} has no checkpoint to resume from (record one with "
                                  "--checkpoint-every N; an interrupted run leaves one by itself)")
            for p in self.partial.iterdir():
                if p.name.startswith(".") and p.name.endswith(".tmp"):
                    p.unlink(missing_ok=True)
        except BaseException:
            self.release()
            raise
        return self, meta, arrays

    def release(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        if self._lock_fd is not None:
            try:
                os.unlink(self.lock_path)
            except OSError:
                pass
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---- writing
    def write(self, name: str, data: bytes) -> None:
        try:
            atomic_write_bytes(self.partial / name, data)
        except OSError as exc:  # name the file the user asked for, not the hidden partial folder
            raise OSError(exc.errno, exc.strerror, str(self.out / name)) from None

    def open_metrics(self, columns: list[str], offset: int | None = None) -> "MetricsStream":
        self.metrics = MetricsStream(self.partial / "metrics.csv", columns, offset, self.out / "metrics.csv")
        return self.metrics

    def checkpoint(self, sim, extra: dict) -> None:
        """Weights, optimiser state and the metrics position, replaced atomically."""
        offset = self.metrics.sync() if self.metrics is not None else 0
        self.write(CHECKPOINT, checkpoint_bytes(sim, {**extra, "metrics_offset": offset}))

    def finish(self, files: dict[str, bytes], keep_checkpoint: bool) -> None:
        """Write the final files and swap the folder in (the one moment ``out`` changes)."""
        if self.metrics is not None:
            self.metrics.sync()
            self.metrics.close()
            self.metrics = None
        for name, data in files.items():
            self.write(name, data)
        if not keep_checkpoint:
            (self.partial / CHECKPOINT).unlink(missing_ok=True)
        fsync_dir(self.partial)
        swap_in(self.partial, self.out)


class MetricsStream:
    """metrics.csv appended row by row (flushed per row, fsynced at checkpoints), so what was
    recorded survives a kill and memory does not grow with the number of rows."""

    def __init__(self, path: Path, columns: list[str], offset: int | None = None, shown: Path | None = None):
        self.path = shown or path
        if offset is None:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, file_mode())
            self.fh = os.fdopen(fd, "w", encoding="utf-8", newline="")
            self.fh.write(",".join(columns) + "\n")
        else:  # resuming: drop rows recorded after the checkpoint
            self.fh = open(path, "r+", encoding="utf-8", newline="")
            self.fh.truncate(offset)
            self.fh.seek(offset)
        self.fh.flush()

    def write(self, row: list) -> None:
        try:
            self.fh.write(",".join(f"{v:.9g}" if isinstance(v, float) else str(v) for v in row) + "\n")
            self.fh.flush()
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None

    def sync(self) -> int:
        """Flush to disk; the byte offset of the end of the last row."""
        self.fh.flush()
        os.fsync(self.fh.fileno())
        return self.fh.tell()

    def close(self) -> None:
        try:
            self.fh.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------- checkpoints
def checkpoint_bytes(sim, extra: dict) -> bytes:
    meta, arrays = get_state(sim)
    meta = {"format": "gradflow-checkpoint", "checkpoint_version": CHECKPOINT_VERSION, **meta, "run": extra}
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8), **arrays)
    return buf.getvalue()


def read_checkpoint(path: Path) -> tuple[dict, dict]:
    """(meta, arrays) of a checkpoint; a RunDirError for a damaged or foreign file."""
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise RunDirError(f"{path} is not a readable checkpoint ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != "gradflow-checkpoint":
        raise RunDirError(f"{path} is not a Gradient Flow Lab checkpoint")
    if meta.get("checkpoint_version") != CHECKPOINT_VERSION:
        raise RunDirError(f"{path} is checkpoint version {meta.get('checkpoint_version')!r}; "
                          f"this program reads version {CHECKPOINT_VERSION}")
    return meta, arrays


def restore(sim, meta: dict, arrays: dict) -> None:
    try:
        set_state(sim, meta, arrays)
    except (StateError, KeyError, ValueError) as exc:
        raise RunDirError(f"the checkpoint does not fit: {exc}") from None


def _checkpoint_step(folder: Path) -> int | None:
    path = folder / CHECKPOINT
    if not path.is_file():
        return None
    try:
        return int(read_checkpoint(path)[0]["step_count"])
    except (RunDirError, KeyError, ValueError, TypeError):
        return None


def is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False
