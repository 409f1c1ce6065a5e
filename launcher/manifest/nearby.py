"""Files a manifest names (`matrix: {from: …}`, `prompt_file: …`, `attachments: […]`):
found relative to the manifest, kept inside its folder, and read as warily as a manifest
(a regular file, up to a size cap), each one once per check however many sessions name it."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from launcher.manifest.datafile import DATA_SUFFIXES, MAX_DATA_BYTES, Table, read_table
from launcher.manifest.discover import Source, SourceError, read_regular

MAX_PROMPT_BYTES = 256 * 1024  # per prompt file: a prompt, not a code base
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # per attachment: a log, a data file, a document


@dataclass(frozen=True)
class Nearby:
    """A file a manifest names: `shown` as the user can open it (relative to where the
    manifest was given), `real` its resolved path (one key however it is spelt)."""

    shown: str
    real: str


def locate(source: Source, written: str) -> Nearby:
    """The file `written` names, relative to the manifest of `source` (to the current
    folder for a manifest read from stdin). Raises SourceError for an absolute path or one
    that leads out of the manifest's folder, through `..` or a symlink: a manifest from a
    pull request must not make the launcher read, and send, `~/.ssh/id_rsa`."""
    if os.path.isabs(written) or written.startswith("~"):
        raise SourceError(f"`{written}` is absolute; write a path relative to the manifest")
    folder = os.curdir if source.is_stdin else os.path.dirname(source.path) or os.curdir
    shown = os.path.normpath(os.path.join(folder, written))
    root = os.path.realpath(folder)
    real = os.path.realpath(shown)
    if os.path.commonpath([root, real]) != root:
        how = "through a symlink" if ".." not in written.replace("\\", "/").split("/") else ""
        raise SourceError(
            f"`{written}` leads out of the manifest's folder{' ' + how if how else ''}; "
            "keep the files a manifest names in its folder or below it"
        )
    return Nearby(shown, real)


class Unreadable(Exception):
    """A named file that cannot be used; `place` is None when the fault is in how the
    manifest names it (then it is reported at the manifest), else the file's first line."""

    def __init__(self, message: str, place: tuple[str, int, int] | None) -> None:
        super().__init__(message)
        self.place = place


class Referenced:
    """The files the manifests of one check name, each located and read once, and which
    ones were named (a folder PATH then skips those among its manifests)."""

    def __init__(self) -> None:
        self.named: set[str] = set()
        self._tables: dict[str, Table | Unreadable] = {}
        self._texts: dict[str, str | Unreadable] = {}
        self._blobs: dict[str, tuple[str, int] | Unreadable] = {}

    def table(self, source: Source, written: str) -> tuple[Nearby, Table]:
        """The rows of the data file `written` names. Raises Unreadable."""
        suffix = os.path.splitext(written)[1].lower()
        if suffix not in DATA_SUFFIXES:
            listed = ", ".join(f"`{s}`" for s in DATA_SUFFIXES)
            raise Unreadable(f"`{written}`: a data file ends in {listed}", None)
        nearby = self._locate(source, written)
        if nearby.real not in self._tables:
            try:
                raw = read_regular(nearby.shown, MAX_DATA_BYTES, "a data file")
                self._tables[nearby.real] = read_table(suffix, raw)
            except SourceError as exc:
                self._tables[nearby.real] = Unreadable(str(exc), (nearby.shown, 1, 1))
        found = self._tables[nearby.real]
        if isinstance(found, Unreadable):
            raise found
        return nearby, found

    def text(self, source: Source, written: str) -> tuple[Nearby, str]:
        """The text of the prompt file `written` names. Raises Unreadable."""
        nearby = self._locate(source, written)
        if nearby.real not in self._texts:
            try:
                raw = read_regular(nearby.shown, MAX_PROMPT_BYTES, "a prompt file")
                self._texts[nearby.real] = _utf8(raw, nearby.shown)
            except SourceError as exc:
                self._texts[nearby.real] = Unreadable(str(exc), (nearby.shown, 1, 1))
            except Unreadable as exc:
                self._texts[nearby.real] = exc
        found = self._texts[nearby.real]
        if isinstance(found, Unreadable):
            raise found
        return nearby, found

    def blob(self, source: Source, written: str) -> tuple[Nearby, str, int]:
        """The attachment `written` names: where it is, its content's sha256 and its size
        (the content itself is read again when it is uploaded). Raises Unreadable."""
        nearby = self._locate(source, written)
        if nearby.real not in self._blobs:
            try:
                raw = read_regular(nearby.shown, MAX_ATTACHMENT_BYTES, "an attachment")
                self._blobs[nearby.real] = (hashlib.sha256(raw).hexdigest(), len(raw))
            except SourceError as exc:
                self._blobs[nearby.real] = Unreadable(str(exc), (nearby.shown, 1, 1))
        found = self._blobs[nearby.real]
        if isinstance(found, Unreadable):
            raise found
        return nearby, *found

    def _locate(self, source: Source, written: str) -> Nearby:
        try:
            nearby = locate(source, written)
        except SourceError as exc:
            raise Unreadable(str(exc), None) from None
        if not os.path.lexists(nearby.shown):
            raise Unreadable(f"`{written}`: no such file (looked for {nearby.shown})", None)
        self.named.add(nearby.real)
        return nearby


def _utf8(raw: bytes, shown: str) -> str:
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        msg = f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8"
        raise Unreadable(msg, (shown, line, col)) from None
