"""A loaded manifest file: its plain data, the position of every node, and what is wrong.

Also the words used to point at a place (`sessions[2].title`) and to name a value's type.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Path = tuple[str | int, ...]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
# Characters that do not show as themselves: controls, invisible formatting (bidi
# overrides, zero-width), line and paragraph separators, lone surrogates.
INVISIBLE_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")


class Node(NamedTuple):
    """Where a value sits in the file (1-based), where its key sits (0 when it has none),
    and, for a plain scalar that YAML read as something other than a string, its text."""

    line: int
    col: int
    key_line: int = 0
    key_col: int = 0
    plain: str | None = None
    kind: str = ""  # "bool", "int", "float", "null" or "date" when `plain` is set


@dataclass
class Problem:
    """A YAML-level error: position, the WHERE path, and the message."""

    line: int
    col: int
    path: Path
    message: str


Place = tuple[str, int, int]  # a file as shown, a line and a column (1-based)


class Finding(NamedTuple):
    """A problem at a manifest path; `at_key` points at the key rather than the value, and
    `at` at a place in a file the manifest names (a data file, a prompt file) instead."""

    path: Path
    message: str
    at_key: bool = False
    at: Place | None = None


@dataclass
class Document:
    """The loaded file: `data` is None when the file could not be read as a document."""

    data: Any = None
    nodes: dict[Path, Node] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def node(self, path: Path) -> Node:
        """The node at `path`, or its nearest ancestor that has one."""
        while path not in self.nodes and path:
            path = path[:-1]
        return self.nodes.get(path, Node(1, 1))

    def value(self, path: Path) -> Any:
        """The value at `path` in `data`, or None when there is none."""
        data = self.data
        for part in path:
            if isinstance(data, list) and isinstance(part, int) and part < len(data):
                data = data[part]
            elif isinstance(data, dict):
                data = data.get(part)
            else:
                return None
        return data


def format_path(path: Iterable[str | int]) -> str:
    """`sessions[2].max_acu_limit`; keys that are not identifiers as `["a b"]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += '["' + part.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return out


def describe(value: Any) -> str:
    """A value's JSON type in words, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "the boolean " + ("true" if value else "false")
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def quote_hint(node: Node) -> str:
    """`; quote it: "yes"` when the value was an unquoted scalar YAML read as a non-string."""
    if node.plain is None or node.kind == "null":
        return ""
    return f' from unquoted `{node.plain}`; quote it: "{node.plain}"'


def is_invisible(char: str) -> bool:
    return unicodedata.category(char) in INVISIBLE_CATEGORIES


def visible(text: str) -> str:
    """The text with every character that does not show as itself written `\\u202e`, so
    a message shows what is there and cannot reorder or hide the line it is on."""
    # isprintable() is False for every invisible category (and a few more): the C check
    # first, the per-character one only when it fails.
    if text.isprintable() or not any(is_invisible(c) for c in text):
        return text
    return "".join(
        (f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}") if is_invisible(c) else c
        for c in text
    )


def shown_values(values: Mapping[str, Any]) -> str:
    """A matrix combination for a message: `{"repo": "api", "n": 1}`, invisibles escaped."""
    return visible(json.dumps(dict(values), ensure_ascii=False))
