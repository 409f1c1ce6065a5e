"""Text from outside made safe for a terminal: the one function every text reporter and the
progress line pass foreign text through (server answers, ledger fields, manifest names)."""

from __future__ import annotations

import re

# C0 controls (but not tab), DEL, C1 controls, the bidi embeddings/overrides/isolates and
# the zero-width and BOM characters: each can clear a screen, set a title, forge a line
# or make a name read differently from what it is.
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """`text` as a string in which every unsafe character is shown as a visible escape
    (`\\x1b`, `\\u202e`): nothing in it can move the cursor or reorder what follows."""
    return _UNSAFE.sub(_escape, str(text))
