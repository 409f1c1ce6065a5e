"""Text from outside made safe for a terminal: the one escaping function. Follow-through
applies it where a server's words come in (so the ledger and every file written from it
hold no control character), and the console and every reporter apply it to whatever
they show (manifest names, ledger fields, errors)."""

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


def printable(text: object, limit: int | None = None) -> str:
    """`text` as a string in which every unsafe character is shown as a visible escape
    (`\\x1b`, `\\u202e`): nothing in it can move the cursor or reorder what follows.
    With `limit`, the result has at most that many characters (the last one `…`)."""
    text = str(text)
    if limit is not None:
        text = text[: limit * 6]  # the longest escape is 6 characters: no more is kept
    shown = _UNSAFE.sub(_escape, text)
    if limit is not None and len(shown) > limit:
        return shown[: limit - 1] + "…"
    return shown
