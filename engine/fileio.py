"""Reading and writing user files safely: regular files only, a size limit, atomic writes that
honour the umask, and errors that name the file.

``read_text`` refuses what would hang or exhaust memory (a FIFO, ``/dev/zero``, a directory, a
100 GB file); ``atomic_write_bytes`` leaves readers the old or the new content, never half.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from pathlib import Path

MAX_TEXT_BYTES = 4 * 1024 * 1024  # config and preset files are a few KB; 4 MB is generous


class UnreadableFile(ValueError):
    """A file that cannot be used as input; the message names it and says why."""

    def __init__(self, path, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


def read_bytes(path: str | os.PathLike, limit: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (no FIFOs, devices or directories)."""
    path = os.fspath(path)
    if path == "":
        raise UnreadableFile("''", "an empty file name")
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of blocking forever
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnreadableFile(path, "a symbolic link loop") from None
        raise UnreadableFile(path, exc.strerror or str(exc)) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise UnreadableFile(path, "a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device or socket"
            raise UnreadableFile(path, f"{kind}, not a regular file")
        if st.st_size > limit:
            raise UnreadableFile(path, f"{st.st_size:,} bytes, more than the {limit:,} allowed")
        chunks, total = [], 0
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError as exc:
                raise UnreadableFile(path, exc.strerror or str(exc)) from None
            if not chunk:
                break
            total += len(chunk)
            if total > limit:  # the file grew while we read it
                raise UnreadableFile(path, f"more than the {limit:,} bytes allowed")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str | os.PathLike, limit: int = MAX_TEXT_BYTES) -> str:
    """``read_bytes`` decoded as UTF-8 (a clear error otherwise)."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(path, f"not UTF-8 text (byte {exc.start})") from None


def file_mode() -> int:
    """The mode a new file gets under the current umask (0o644 under 022)."""
    try:  # Linux: read the umask without changing it (os.umask is process-wide and racy)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _named(exc: OSError, path) -> OSError:
    """The same error with ``filename`` set, so messages say which file a full disk refused."""
    if getattr(exc, "filename", None):
        return exc
    return type(exc)(exc.errno, exc.strerror or str(exc), str(path))


def atomic_write_bytes(path: str | os.PathLike, data: bytes, fsync: bool = True) -> None:
    """Write a file so that readers see the old or the new content, never half of it.

    The file gets the umask's mode (mkstemp's 0600 would hide a lecturer's runs from students);
    an OSError names ``path``.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _named(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), file_mode())
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _named(exc, path) from None
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename inside ``path`` durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_digests: dict = {}


def file_digest(path) -> str:
    """SHA-256 of a file ("" when it cannot be read), cached while size and mtime stay the same."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _digests:
        h = hashlib.sha256()
        try:
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        except OSError:
            return ""
        _digests[key] = h.hexdigest()
    return _digests[key]
