"""The one bounded JSON reader: depth and size refused as JsonError (a ValueError), never
RecursionError, whatever the shape of the text."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from launcher import jsonio
from tests.support.budget import examples

# JSON-ish bytes: brackets, quotes, escapes and filler, balanced or not.
PIECES = st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b'\\"', b"a", b",", b":", b" "])


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


@settings(max_examples=examples(2000))
@given(st.lists(PIECES, max_size=200).map(b"".join), st.integers(0, 8))
def test_depth_counted_in_c_is_the_depth_counted_bracket_by_bracket(
    text: bytes, limit: int
) -> None:
    few = text.count(b"[") + text.count(b"{") <= limit  # answered 0 without counting
    assert jsonio.depth_of(text, limit) == (0 if few else jsonio._depth_by_tokens(text, limit))


@settings(max_examples=examples(400))
@given(
    st.recursive(
        st.none() | st.text(max_size=5),
        lambda kids: st.lists(kids) | st.dictionaries(st.text(max_size=3), kids),
        max_leaves=40,
    )
)
def test_the_depth_of_real_json_is_its_nesting(value: object) -> None:
    text = json.dumps(value).encode()
    assert jsonio.depth_of(text, 0) == jsonio._depth_by_tokens(text, 0)
