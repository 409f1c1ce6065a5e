"""Writing the ledger: an exclusive flock on the ledger file itself, one os.write per line
on an O_APPEND fd, and a group-commit fsync that each `append` waits for before it returns."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.to_thread

from launcher import jsonio
from launcher.errors import LedgerError, LedgerLocked, LedgerWriteFailed
from launcher.ledger.events import Event, Subject, encode, timestamp
from launcher.ledger.read import check_regular, io_error, parse
from launcher.ledger.state import LedgerState

# Who holds the lock, kept on the file itself (like the lock), so that every name of it,
# a symlink or a hard link, finds the holder; no file is ever created beside the ledger.
HOLDER_XATTR = "user.launcher.holder"
_OPEN_TRIES = 3


def _shown(value: object) -> str:
    # Anyone who can write the file can set the attribute: bound it, and keep control
    # characters (terminal escapes, bidi overrides) out of the message.
    return "".join(c if c.isprintable() else "?" for c in str(value)[:200])


def _holder(fd: int) -> str:
    if not hasattr(os, "getxattr"):
        return "another run"
    try:
        info = jsonio.loads(os.getxattr(fd, HOLDER_XATTR))
        run, pid, host, started = (_shown(info[k]) for k in ("run_id", "pid", "host", "started"))
    except (OSError, ValueError, KeyError, TypeError):
        # Not named yet (it has just taken the lock), or no extended attributes here.
        return "another run"
    return f"run {run} (pid {pid} on {host}, since {started})"


def _name_holder(fd: int, run_id: str) -> None:
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "run_id": run_id,
        "started": timestamp(),
        "argv0": sys.argv[0] if sys.argv else "",
    }
    if hasattr(os, "setxattr"):
        with contextlib.suppress(OSError):  # the name is a courtesy; the flock is the lock
            os.setxattr(fd, HOLDER_XATTR, json.dumps(info).encode())


def _release(fd: int) -> None:
    if hasattr(os, "removexattr"):
        with contextlib.suppress(OSError):  # absent: never named, or no attributes here
            os.removexattr(fd, HOLDER_XATTR)
    os.close(fd)  # drops the flock


def _same_file(path: Path, fd: int) -> bool:
    try:
        named = os.stat(path)
    except OSError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _open_locked(path: Path) -> int:
    """The ledger's own descriptor under an exclusive flock. The lock is on the file (its
    inode), not on its name, so a symlink, a hard link or another spelling of the path
    meets the same lock. flock (not fcntl/lockf): owned by this open file description, so
    even a second open in this very process conflicts, and the kernel drops it when the
    holder dies."""
    for _ in range(_OPEN_TRIES):
        try:
            # O_NONBLOCK: a FIFO must not block the open; check_regular refuses it next.
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
            fd = os.open(path, flags, 0o600)  # outputs, PR URLs, messages: the owner's
        except OSError as exc:
            raise io_error(path, exc, "open ledger") from None
        try:
            check_regular(path, fd)
            os.set_blocking(fd, True)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise LedgerLocked(
                        f"ledger {path} is held by {_holder(fd)}; wait for it to finish or "
                        "use another --ledger"
                    ) from None
                raise io_error(path, exc, "lock ledger") from None
            # A file renamed over the path between our open and our lock (a rewrite of
            # the ledger) is not the ledger any more: appending to it would be lost.
            if _same_file(path, fd):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise LedgerError(
        f"ledger {path} was replaced {_OPEN_TRIES} times while being opened; "
        "is another program rewriting it?"
    )


class LedgerWriter:
    """Exclusive, durable, append-only writer for one ledger; one per run.

    `append` is called from tasks of one event loop. Each line goes to the file at once in
    one os.write on an O_APPEND fd (order kept, never split); the fsync that makes it
    durable is shared by every line written before it started (group commit).
    """

    def __init__(
        self,
        path: Path,
        run_id: str,
        fd: int,
        state: LedgerState,
        api: Mapping[str, Any] | None = None,
    ):
        self.path = path
        self.run_id = run_id
        # The `api` field every line carries: where this run's sessions live.
        self.api = dict(api) if api is not None else None
        self.state = state  # as read at open time, under the lock
        self._fd: int | None = fd  # also the lock: closing it releases the ledger
        self._written = 0  # lines written (sequence number of the last one)
        self._synced = 0  # lines known durable
        self._sync_lock = anyio.Lock()
        self._broken: LedgerError | None = None  # after a failed write/fsync nothing is trusted

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], run_id: str, api: Mapping[str, Any] | None = None
    ) -> LedgerWriter:
        """Lock the ledger, refuse it if it is not one, read it, and repair a torn tail.
        A path that is a symlink is followed: the lock is on the file it names. `api` (an
        `ApiTarget.as_record()`) is written into every line."""
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise io_error(p, exc, "create the folder of ledger") from None
        fd = _open_locked(p)
        try:
            is_new = os.fstat(fd).st_size == 0
            # Named only once the first line shows a ledger: a refused file is not touched.
            with open(os.dup(fd), "rb") as f:
                parsed = parse(f, p, on_accept=lambda: _name_holder(fd, run_id))
            # Repair the tail under the lock, or the next line would be glued to it.
            if parsed.add_newline:
                os.write(fd, b"\n")
                os.fsync(fd)
            elif parsed.torn:
                os.ftruncate(fd, parsed.keep)
                os.fsync(fd)
            if is_new:  # make the new file's name durable too (where the file really is)
                dir_fd = os.open(os.path.dirname(os.path.realpath(p)), os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except OSError as exc:
            _release(fd)
            raise io_error(p, exc, "open ledger") from None
        except BaseException:
            _release(fd)
            raise
        return cls(p, run_id, fd, parsed.state, api)

    def _fd_or_raise(self) -> int:
        if self._broken is not None:
            raise type(self._broken)(str(self._broken))
        if self._fd is None:
            raise LedgerError(f"ledger {self.path} is closed")
        return self._fd

    def _fail(self, exc: OSError) -> LedgerError:
        error = io_error(self.path, exc, "write ledger")
        if self._synced:
            # A line of this run is durable, so its append returned and its request may
            # be out: exit 2 would claim that nothing was sent.
            error = LedgerWriteFailed(
                f"{error}; requests of this run may have been sent: the next run skips "
                "what is recorded created and looks up what was in flight"
            )
        self._broken = error
        return error

    async def append(self, event: Event, entry: Subject, **fields: Any) -> None:
        """Write one event; return once it is durable (written and fsync'd)."""
        await self._durable(self._write(event, entry, fields))

    async def append_all(self, events: Iterable[tuple[Event, Subject, dict[str, Any]]]) -> None:
        """Write each (event, subject, fields) in order; return once all are durable: one
        fsync for them all, without a task each (a poll that sees 50 sessions settle)."""
        seq = None
        try:
            for event, entry, fields in events:
                seq = self._write(event, entry, dict(fields))
        finally:  # what was written is made durable, even if a later event is refused
            if seq is not None:
                await self._durable(seq)

    def _write(self, event: Event, entry: Subject, fields: dict[str, Any]) -> int:
        """Write one event (not yet durable); its number among this writer's lines."""
        if self.api is not None and "api" not in fields:
            fields["api"] = self.api
        data = encode(event, entry, self.run_id, fields)
        fd = self._fd_or_raise()
        try:
            done = os.write(fd, data)
            while done < len(data):  # a short write (disk nearly full); nothing interleaves
                done += os.write(fd, data[done:])
        except OSError as exc:
            raise self._fail(exc) from None
        self._written += 1
        return self._written

    async def _durable(self, seq: int) -> None:
        """Return once this writer's line number `seq` (and all before it) is fsync'd."""
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
            _release(fd)

    def __enter__(self) -> LedgerWriter:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
