"""The one escaping function for text from outside."""

from __future__ import annotations

from launcher.text import printable


def test_printable_escapes_control_characters() -> None:
    assert printable("a\x1b[31mb\nc") == "a\\x1b[31mb\\x0ac"  # the one escaping function
