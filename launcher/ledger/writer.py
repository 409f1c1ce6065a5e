"""Writing the ledger: an exclusive flock per ledger, one os.write per line on an O_APPEND
fd, and a group-commit fsync that each `append` waits for before it returns."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.to_thread

from launcher.entry import Entry
from launcher.errors import LedgerError, LedgerLocked
from launcher.ledger.events import Event, encode, timestamp
from launcher.ledger.read import io_error, parse
from launcher.ledger.state import LedgerState

LOCK_SUFFIX = ".lock"


def _holder(lock_fd: int) -> str:
    try:
        info = json.loads(os.pread(lock_fd, 4096, 0))
        return (
            f"run {info['run_id']} (pid {info['pid']} on {info['host']}, since {info['started']})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "another run"  # it locked the file but has not written its name yet


def _take_lock(path: Path, run_id: str) -> int:
    """flock (not fcntl/lockf): owned by this open file description, so even a second open
    in this very process conflicts, and the kernel drops it when the holder dies."""
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise io_error(lock_path, exc, "create lock file") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _holder(fd)
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise LedgerLocked(
                f"ledger {path} is held by {holder}; wait for it to finish or use another --ledger"
            ) from None
        raise io_error(path, exc, "lock ledger") from None
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "run_id": run_id,
        "started": timestamp(),
        "argv0": sys.argv[0] if sys.argv else "",
    }
    with contextlib.suppress(OSError):  # the name is a courtesy; the flock is the lock
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    return fd


def _release(lock_fd: int) -> None:
    with contextlib.suppress(OSError):
        os.ftruncate(lock_fd, 0)  # an empty lock file reads as "nobody is running"
    os.close(lock_fd)


class LedgerWriter:
    """Exclusive, durable, append-only writer for one ledger; one per run.

    `append` is called from tasks of one event loop. Each line goes to the file at once in
    one os.write on an O_APPEND fd (order kept, never split); the fsync that makes it
    durable is shared by every line written before it started (group commit).
    """

    def __init__(self, path: Path, run_id: str, fd: int, lock_fd: int, state: LedgerState):
        self.path = path
        self.run_id = run_id
        self.state = state  # as read at open time, under the lock
        self._fd: int | None = fd
        self._lock_fd = lock_fd
        self._written = 0  # lines written (sequence number of the last one)
        self._synced = 0  # lines known durable
        self._sync_lock = anyio.Lock()
        self._broken: str | None = None  # after a failed write/fsync nothing is trusted

    @classmethod
    def open(cls, path: str | os.PathLike[str], run_id: str) -> LedgerWriter:
        p = Path(path)
        if p.is_dir():  # checked first so that no lock file is left beside a folder
            raise io_error(p, IsADirectoryError(errno.EISDIR, "Is a directory"), "open ledger")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise io_error(p, exc, "create the folder of ledger") from None
        lock_fd = _take_lock(p, run_id)
        try:
            is_new = not p.exists()
            fd = os.open(p, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                parsed = parse(p)
                # Repair the tail under the lock, or the next line would be glued to it.
                if parsed.add_newline:
                    os.write(fd, b"\n")
                    os.fsync(fd)
                elif os.fstat(fd).st_size > parsed.keep:
                    os.ftruncate(fd, parsed.keep)
                    os.fsync(fd)
                if is_new:  # make the new file's name durable too
                    dir_fd = os.open(p.parent, os.O_RDONLY)
                    try:
                        os.fsync(dir_fd)
                    finally:
                        os.close(dir_fd)
            except BaseException:
                os.close(fd)
                raise
        except OSError as exc:
            _release(lock_fd)
            raise io_error(p, exc, "open ledger") from None
        except BaseException:
            _release(lock_fd)
            raise
        return cls(p, run_id, fd, lock_fd, parsed.state)

    def _fd_or_raise(self) -> int:
        if self._broken is not None:
            raise LedgerError(self._broken)
        if self._fd is None:
            raise LedgerError(f"ledger {self.path} is closed")
        return self._fd

    def _fail(self, exc: OSError) -> LedgerError:
        error = io_error(self.path, exc, "write ledger")
        self._broken = str(error)
        return error

    async def append(self, event: Event, entry: Entry, **fields: Any) -> None:
        """Write one event; return once it is durable (written and fsync'd)."""
        data = encode(event, entry, self.run_id, fields)
        fd = self._fd_or_raise()
        try:
            done = os.write(fd, data)
            while done < len(data):  # a short write (disk nearly full); nothing interleaves
                done += os.write(fd, data[done:])
        except OSError as exc:
            raise self._fail(exc) from None
        self._written += 1
        seq = self._written
        # Shielded: once written, the line is made durable even if the caller is cancelled,
        # so a `created` never sits unsynced; the cancellation lands at the next checkpoint.
        with anyio.CancelScope(shield=True):
            while self._synced < seq:
                async with self._sync_lock:
                    if self._synced >= seq:
                        break
                    fd = self._fd_or_raise()
                    target = self._written  # everything written so far is covered
                    try:
                        await anyio.to_thread.run_sync(os.fsync, fd)
                    except OSError as exc:
                        raise self._fail(exc) from None
                    self._synced = max(self._synced, target)

    def close(self) -> None:
        """Final flush+fsync, then release the lock. Idempotent. Call after appends return."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self._written > self._synced and self._broken is None:
                os.fsync(fd)
                self._synced = self._written
        except OSError as exc:
            raise self._fail(exc) from None
        finally:
            os.close(fd)
            _release(self._lock_fd)

    def __enter__(self) -> LedgerWriter:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
