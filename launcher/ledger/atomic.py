"""Replacing a whole ledger file so that a crash at any moment leaves the old file or the
new one, never a mix: write beside it (O_EXCL), fsync, rename or link, fsync the folder."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from launcher.errors import LedgerError
from launcher.ledger.read import io_error


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_beside(
    target: Path,
    tag: str,
    lines: Iterable[bytes],
    mode: int = 0o600,
    owner: tuple[int, int] | None = None,
) -> Path:
    """A new, durable file `.NAME.TAG.tmp` beside `target` holding `lines`, with exactly
    `mode` (the umask does not narrow it) and, if given, `owner` (uid, gid); removed again
    if anything fails. O_EXCL: never writes into a file someone else is writing."""
    tmp = target.with_name(f".{target.name}.{tag}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise io_error(tmp, exc, "create") from None
    try:
        _own(fd, target, mode, owner)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise io_error(tmp, exc, "write") from None
        raise
    return tmp


def _own(fd: int, target: Path, mode: int, owner: tuple[int, int] | None) -> None:
    """Owner first, mode after (chown clears the set-id bits); until both are set only we
    can read the file (0600)."""
    st = os.fstat(fd)
    if owner is not None and owner != (st.st_uid, st.st_gid):
        try:
            os.fchown(fd, *owner)
        except PermissionError:
            raise LedgerError(
                f"cannot give the rewritten {target} its owner (uid {owner[0]}, gid "
                f"{owner[1]}): run as that user or as root; the ledger was left as it is"
            ) from None
    os.fchmod(fd, mode)


def replace_with(tmp: Path, target: Path) -> None:
    """Rename `tmp` over `target` (atomic), then make the rename durable."""
    try:
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as exc:
        raise io_error(target, exc, "replace") from None


def publish_new(tmp: Path, target: Path) -> None:
    """Give `tmp` the name `target` only if no such file exists (a hard link cannot
    clobber, unlike a rename), then drop the temporary name; durable on return."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        tmp.unlink()
        raise
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise io_error(target, exc, "create") from None
    tmp.unlink()
    _fsync_dir(target.parent)
