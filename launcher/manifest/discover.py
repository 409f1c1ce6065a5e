"""PATH arguments → the manifest files they name, and their bytes read safely: a file as
given, a folder walked for `*.yaml`/`*.yml` in sorted path order, `-` for stdin, each file
read once however often it is named, and only regular files, up to a size cap."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

MANIFEST_SUFFIXES = (".yaml", ".yml")
STDIN_ARG = "-"
STDIN_NAME = "<stdin>"
MAX_FILE_BYTES = 4 * 1024 * 1024  # per manifest; bounds the memory and time of one file


@dataclass(frozen=True)
class Source:
    """One manifest file: `file` relative to its PATH argument (`-` for stdin, so ledger ids
    read `-#NAME`), `path` openable as given (`<stdin>` in diagnostics)."""

    arg: str
    file: str
    path: str

    @property
    def is_stdin(self) -> bool:
        return self.arg == STDIN_ARG


class SourceError(Exception):
    """A manifest that cannot be read as one: not a regular file, too large, unreadable."""


def find_manifests(paths: Sequence[str]) -> tuple[list[Source], list[tuple[str, str]]]:
    """Sources for the PATH arguments, and (PATH, message) for arguments that give none.

    A file met twice (a folder and a file inside it) is read once, under its first spelling.
    """
    sources: list[Source] = []
    missing: list[tuple[str, str]] = []
    seen: set[str] = set()
    for arg in paths:
        found: list[Source] = []
        if arg == STDIN_ARG:
            found.append(Source(arg, STDIN_ARG, STDIN_NAME))
        elif os.path.isdir(arg):
            for rel in _walk(arg):
                found.append(Source(arg, rel, os.path.join(arg, *rel.split("/"))))
            if not found:
                missing.append((arg, "no *.yaml or *.yml manifest in this folder"))
        elif os.path.exists(arg):
            found.append(Source(arg, os.path.basename(arg), arg))
        else:
            missing.append((arg, "no such file or folder"))
        for source in found:
            real = STDIN_NAME if source.is_stdin else os.path.realpath(source.path)
            if real not in seen:
                seen.add(real)
                sources.append(source)
    return sources, missing


def read_source(source: Source, stdin: BinaryIO | None = None) -> bytes:
    """The bytes of one manifest, at most MAX_FILE_BYTES of them. Raises SourceError for
    anything but a regular file (or stdin), never blocking on a FIFO or a device."""
    if source.is_stdin:
        return _read_stdin(stdin or getattr(sys.stdin, "buffer", None))
    return read_regular(source.path, MAX_FILE_BYTES, "a manifest")


def read_regular(path: str, limit: int, what: str) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them; `what` names the
    kind of file in messages ("a manifest", "a data file"). Raises SourceError for anything
    else, never blocking on a FIFO or a device, nor reading a device without end."""
    try:
        _regular(os.stat(path).st_mode, what)
        # O_NONBLOCK: a FIFO swapped in after the stat must not block the open either;
        # fstat then checks the file actually opened.
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            _regular(st.st_mode, what)
            if st.st_size > limit:
                raise SourceError(_too_large(st.st_size, limit, what))
            raw = f.read(limit + 1)
            if len(raw) > limit:
                raise SourceError(_too_large(None, limit, what))
            return raw
    except OSError as exc:
        raise SourceError(f"cannot read the file: {exc.strerror or exc}") from None


def _read_stdin(stream: BinaryIO | None) -> bytes:
    if stream is None:
        raise SourceError("cannot read stdin: it is closed")
    try:
        raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SourceError(f"cannot read stdin: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SourceError(_too_large(None, MAX_FILE_BYTES, "a manifest"))
    return raw


def _regular(mode: int, what: str) -> None:
    if stat.S_ISREG(mode):
        return
    kinds = (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    )
    kind = next((f" but {word}" for test, word in kinds if test(mode)), "")
    raise SourceError(f"not a regular file{kind}; {what} must be a regular file")


def _too_large(size: int | None, limit: int, what: str) -> str:
    got = f"is {size:,} bytes" if size is not None else "is larger than that"
    return (
        f"{what} may be at most {_size(limit)} ({limit:,} bytes); "
        f"this one {got}: split it into several files"
    )


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"


def _walk(root: str) -> Iterator[str]:
    """Manifest files under `root`, as `/`-separated relative paths, in sorted path order."""
    found: list[tuple[str, ...]] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = os.path.relpath(folder, root)
        parts = () if rel == "." else tuple(rel.split(os.sep))
        for name in files:
            if not name.startswith(".") and name.endswith(MANIFEST_SUFFIXES):
                found.append((*parts, name))
    for parts in sorted(found):
        yield "/".join(parts)
