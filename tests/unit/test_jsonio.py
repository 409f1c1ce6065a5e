"""The one bounded JSON reader: depth and size refused as JsonError (a ValueError), never
RecursionError, whatever the shape of the text."""

from __future__ import annotations

import pytest

from launcher import jsonio


@pytest.mark.parametrize("depth", [65, 600, 100_000])
def test_deep_nesting_is_a_json_error_not_a_recursion_error(depth: int) -> None:
    for text in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"0" + b"}" * depth):
        with pytest.raises(jsonio.JsonError, match="nested deeper than 64 levels"):
            jsonio.loads(text)


def test_sixty_four_levels_and_brackets_inside_strings_are_fine() -> None:
    deep = jsonio.loads(b"[" * 64 + b"]" * 64)
    for _ in range(63):
        deep = deep[0]
    assert deep == []
    text = '{"a": "' + "[{" * 10_000 + '\\"' + '"}'
    assert jsonio.loads(text) == {"a": "[{" * 10_000 + '"'}


def test_size_and_garbage_are_json_errors() -> None:
    with pytest.raises(jsonio.JsonError, match="over 10 bytes"):
        jsonio.loads(b'"' + b"x" * 20 + b'"', max_bytes=10)
    for bad in (b"{", b"\xff", b"nope", b'"unterminated [[[['):
        with pytest.raises(ValueError):
            jsonio.loads(bad)
