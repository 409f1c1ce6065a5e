"""A loaded manifest file: its plain data, the position of every node, and what is wrong.

Also the words used to point at a place (`sessions[2].title`) and to name a value's type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Path = tuple[str | int, ...]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


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


class Finding(NamedTuple):
    """A problem at a manifest path; `at_key` points at the key rather than the value."""

    path: Path
    message: str
    at_key: bool = False


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
