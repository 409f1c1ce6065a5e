"""Strict YAML: one manifest file's bytes → a `Document` (plain data, positions, problems).

libyaml's C parser produces the events and `compose` builds the data; this module turns
what can go wrong before that (not UTF-8, a syntax error, a forbidden character) into
problems with a line and column. It never raises for bad input.
"""

from __future__ import annotations

from typing import Any

import yaml

from launcher.manifest.compose import Abort, Composer
from launcher.manifest.document import Document, Problem

_Parser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(raw: bytes) -> Document:
    """Read one manifest file's bytes. Never raises for bad input: problems are returned."""
    doc = Document()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _offset_position(raw, exc.start)
        msg = f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8"
        doc.problems.append(Problem(line, col, (), msg))
        return doc
    text = text.removeprefix("\ufeff")
    composer = Composer(doc)
    try:
        composer.run(yaml.parse(text, Loader=_Parser))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        doc.problems.append(Problem(line, col, (), f"YAML syntax error: {what}"))
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        doc.problems.append(_reader_problem(exc, text))
    except Abort:
        pass
    if doc.problems and composer.fatal:
        doc.data = None
    return doc


def _reader_problem(exc: yaml.YAMLError, text: str) -> Problem:
    pos = getattr(exc, "position", 0)
    line, col = _offset_position(text.encode("utf-8", "replace"), pos)
    reason = getattr(exc, "reason", "") or "unreadable"
    char = getattr(exc, "character", None)
    code = ord(char) if isinstance(char, str) and len(char) == 1 else char
    which = f"#x{code:04x}: " if isinstance(code, int) else ""
    return Problem(line, col, (), f"YAML syntax error: character {which}{reason}")


def _offset_position(raw: bytes, offset: int) -> tuple[int, int]:
    before = raw[:offset]
    line_start = before.rfind(b"\n") + 1
    return before.count(b"\n") + 1, len(before[line_start:].decode("utf-8", "replace")) + 1
