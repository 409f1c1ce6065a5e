"""The one reader of JSON from outside (API answers, error bodies, ledger lines): bounded in
size and depth, so that no text, however nested or large, raises anything but JsonError."""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64  # levels of arrays and objects: an answer or a ledger line never needs more
# A string (escapes included) or a bracket: what decides the depth, strings skipped whole.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_TOKEN = re.compile(_STRING.pattern + rb"|[\[\]{}]", re.DOTALL)
# Every bracket made round: the depth is the same whichever kind opens or closes a level,
# as `_depth_by_tokens` counts it (mismatched kinds are not JSON, which the decoder refuses).
_ROUND = bytes.maketrans(b"[{]}", b"(())")
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_A_QUOTE_OR_BRACKET = bytes(b for b in range(256) if b not in b'[]{}"')
_OPEN = frozenset(b"[{")


class JsonError(ValueError):
    """Text that is not JSON, or JSON nested deeper or larger than the bounds."""


def depth_of(data: bytes, limit: int = MAX_DEPTH) -> int:
    """The nesting depth of JSON text, counted without recursion; counting stops past
    `limit` (then `limit + 1` is returned). Brackets inside strings do not count."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return 0 if limit >= 0 else 1  # not enough brackets to go deeper: the usual case
    # The brackets alone (strings dropped, every bracket made round), then the innermost
    # pairs dropped one level a pass: all of it in C, where a loop over each bracket took a
    # page of 100 sessions 2.6 ms. Brackets that do not pair up, or go deeper than `limit`,
    # are counted bracket by bracket (exact, and it stops past the limit).
    if b"\\" in data:
        brackets = _STRING.sub(b"", data).translate(_ROUND, _NOT_A_BRACKET)
    else:
        # No escapes: a string runs from a quote to the next one, so what lies between
        # the odd and the even quotes is outside; what follows an unpaired last quote too.
        # Two quotes side by side go first: a string with no bracket, or the end of one and
        # the start of the next with no bracket between (all inside either way).
        quoted = data.translate(_ROUND, _NOT_A_QUOTE_OR_BRACKET).replace(b'""', b"")
        parts = quoted.split(b'"')
        outside = parts[::2] if len(parts) % 2 else [*parts[::2], parts[-1]]
        brackets = b"".join(outside)
    depth = 0
    while brackets:
        inner = brackets.replace(b"()", b"")  # the innermost pairs, every one in one pass
        if depth >= limit or len(inner) == len(brackets):
            return _depth_by_tokens(data, limit)
        brackets, depth = inner, depth + 1
    return depth


def _depth_by_tokens(data: bytes, limit: int) -> int:
    depth = deepest = 0
    for match in _TOKEN.finditer(data):
        token = match.group()
        if token[0] in _OPEN:
            depth += 1
            if depth > limit:
                return depth
            deepest = max(deepest, depth)
        elif token[0] != 0x22:  # a closing bracket ('"' starts a string)
            depth -= 1
    return deepest


def loads(data: bytes | str, *, max_bytes: int | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `data`; JsonError when it is not JSON, has more than `max_bytes`
    bytes or is nested more than `max_depth` levels. Never RecursionError or MemoryError
    from the text's shape: depth is checked before the decoder recurses."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if max_bytes is not None and len(raw) > max_bytes:
        raise JsonError(f"over {max_bytes:,} bytes")
    if depth_of(raw, max_depth) > max_depth:
        raise JsonError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except RecursionError:  # a deep stack at the caller: still only this text's problem
        raise JsonError(f"nested deeper than {max_depth} levels") from None
    except ValueError:  # UnicodeDecodeError included
        raise JsonError("not valid JSON") from None
