"""Strict YAML → plain data (dict/list/str/int/float/bool/None) plus a position for every node.

libyaml's C parser produces the event stream; the document is composed here, from events,
so that duplicate keys, alias expansion, nesting depth and YAML 1.1 surprises are all
seen with their line and column, and a hostile file costs bounded time and memory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

_Parser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_ALIAS_NODES = 100_000  # nodes copied through aliases, per file ("billion laughs" guard)
MAX_ALIAS_CHARS = 10_000_000  # scalar text copied through aliases, per file (same guard, by size)
MAX_DEPTH = 64  # nesting levels; jsonschema recurses, so keep far from Python's limit

Path = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = (_TAG + t for t in ("str", "null", "bool", "int", "float"))
_TIMESTAMP, _MERGE = _TAG + "timestamp", _TAG + "merge"
_SCALAR_TAGS = {_STR, _NULL, _BOOL, _INT, _FLOAT, _TIMESTAMP, "!"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_NULL_TEXTS = ("", "~", "null", "Null", "NULL")

_resolver = Resolver()
_constructor = SafeConstructor()


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


class _Abort(Exception):
    """Stops composing: a problem after which the rest of the file means nothing."""


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


def load(raw: bytes) -> Document:
    """Read one manifest file's bytes. Never raises for bad input: problems are returned."""
    doc = Document()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _offset_position(raw, exc.start)
        doc.problems.append(
            Problem(
                line,
                col,
                (),
                f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
            )
        )
        return doc
    text = text.removeprefix("\ufeff")
    composer = _Composer(doc)
    try:
        composer.run(yaml.parse(text, Loader=_Parser))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        doc.problems.append(Problem(line, col, (), f"YAML syntax error: {what}"))
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        pos = getattr(exc, "position", 0)
        line, col = _offset_position(text.encode("utf-8", "replace"), pos)
        reason = getattr(exc, "reason", "") or "unreadable"
        char = getattr(exc, "character", None)
        code = ord(char) if isinstance(char, str) and len(char) == 1 else char
        which = f"#x{code:04x}: " if isinstance(code, int) else ""
        doc.problems.append(Problem(line, col, (), f"YAML syntax error: character {which}{reason}"))
    except _Abort:
        pass
    if doc.problems and composer.fatal:
        doc.data = None
    return doc


def _offset_position(raw: bytes, offset: int) -> tuple[int, int]:
    before = raw[:offset]
    line_start = before.rfind(b"\n") + 1
    return before.count(b"\n") + 1, len(before[line_start:].decode("utf-8", "replace")) + 1


@dataclass
class _Frame:
    """A mapping or sequence being composed."""

    value: dict[str, Any] | list[Any]
    path: Path
    node: Node
    anchor: str | None
    order_start: int
    dropped: bool  # its key was rejected: compose it (to keep parsing) but keep it nowhere
    chars: int = 0  # scalar text inside, aliases expanded (for the alias size budget)
    key: str | None = None  # mapping: the key whose value comes next
    key_node: Node | None = None
    key_bad: bool = False  # mapping: the pending key was rejected; drop its value
    expect_key: bool = True
    merges: list[tuple[Any, int]] = field(default_factory=list)  # (value, order index)
    key_lines: dict[str, int] = field(default_factory=dict)


class _Composer:
    """Builds plain data from parser events, filling `doc.nodes` and `doc.problems`."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.stack: list[_Frame] = []
        self.order: list[Path] = []  # paths in the order their nodes were made
        # anchor -> (value, its nodes relative to it, its scalar text in characters)
        self.anchors: dict[str, tuple[Any, list[tuple[Path, Node]], int]] = {}
        self.aliased = 0
        self.aliased_chars = 0
        self.dropped = 0  # frames composed under a rejected key, numbered for their paths
        self.fatal = False
        self.documents = 0
        self.merge_order = 0  # where the nodes of the pending `<<` value start in `order`

    def problem(self, node: Node, path: Path, message: str, *, fatal: bool = False) -> None:
        self.doc.problems.append(Problem(node.line, node.col, path, message))
        if fatal:
            self.fatal = True
            raise _Abort

    def run(self, events: Iterable[yaml.Event]) -> None:
        for event in events:
            mark = event.start_mark
            node = Node(mark.line + 1, mark.column + 1) if mark is not None else Node(1, 1)
            if isinstance(event, yaml.ScalarEvent):
                self.scalar(event, node)
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                self.start(event, node)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                self.end()
            elif isinstance(event, yaml.AliasEvent):
                self.alias(event, node)
            elif isinstance(event, yaml.DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    msg = "a manifest file holds one YAML document; remove the second `---`"
                    self.problem(node, (), msg, fatal=True)
        if self.documents == 0:
            msg = "the file is empty; a manifest needs `version: 1` and `sessions`"
            self.problem(Node(1, 1), (), msg, fatal=True)

    # -- where the next value goes ---------------------------------------------------

    def slot(self, node: Node) -> tuple[Path | None, Node]:
        """The path of the next value and its node with the key position; None = drop it."""
        if not self.stack:
            return (), node
        top = self.stack[-1]
        if isinstance(top.value, list):
            return (*top.path, len(top.value)), node
        if top.key_bad:
            return None, node
        assert top.key is not None and top.key_node is not None
        return (*top.path, top.key), node._replace(
            key_line=top.key_node.line, key_col=top.key_node.col
        )

    def place(self, value: Any, path: Path | None, chars: int) -> None:
        if not self.stack:
            self.doc.data = value
            return
        top = self.stack[-1]
        top.chars += chars
        if isinstance(top.value, list):
            top.value.append(value)
            return
        if path is not None and top.key is not None:
            if top.key == "<<" and top.key_node is not None and top.key_node.kind == "merge":
                top.merges.append((value, self.merge_order))
            else:
                top.value[top.key] = value
        top.key, top.key_node, top.key_bad, top.expect_key = None, None, False, True

    def record(self, path: Path | None, node: Node) -> None:
        if path is not None:
            self.doc.nodes[path] = node
            self.order.append(path)

    # -- events ------------------------------------------------------------------------

    def scalar(self, event: yaml.ScalarEvent, node: Node) -> None:
        top = self.stack[-1] if self.stack else None
        if isinstance(top, _Frame) and isinstance(top.value, dict) and top.expect_key:
            self.key(top, event, node)
            return
        path, node = self.slot(node)
        value, node = self.convert(event, node, path)
        if event.anchor:
            self.anchors[event.anchor] = (value, [((), node)], len(event.value))
        self.record(path, node)
        self.place(value, path, len(event.value))

    def key(self, top: _Frame, event: yaml.ScalarEvent, node: Node) -> None:
        top.expect_key = False
        top.chars += len(event.value)
        tag = self.tag_of(event)
        if tag not in (_STR, "!", _MERGE):
            shown = event.value or "(empty)"
            read_as = tag.removeprefix(_TAG)
            msg = f"keys must be strings; `{shown}` is read by YAML as {read_as}: quote it"
            self.problem(node, top.path, msg)
            top.key_bad = True
            return
        if event.value in top.key_lines:
            first = top.key_lines[event.value]
            msg = f"duplicate key `{event.value}` (first at line {first}); a key may appear once"
            self.problem(node, (*top.path, event.value), msg)
            top.key_bad = True
            return
        top.key_lines[event.value] = node.line
        if tag == _MERGE:
            top.key, top.key_node = "<<", node._replace(kind="merge")
            self.merge_order = len(self.order)
            return
        top.key, top.key_node = event.value, node

    def tag_of(self, event: yaml.ScalarEvent) -> str:
        if event.tag and event.tag != "!":
            return str(event.tag)
        if event.tag == "!" or not event.implicit[0]:
            return _STR
        return str(_resolver.resolve(yaml.ScalarNode, event.value, event.implicit))  # type: ignore[no-untyped-call]

    def convert(self, event: yaml.ScalarEvent, node: Node, path: Path | None) -> tuple[Any, Node]:
        tag = self.tag_of(event)
        text = event.value
        if tag == _STR:
            return text, node
        if tag not in _SCALAR_TAGS:
            self.problem(node, path or (), f"unsupported YAML tag `{tag}`; write plain data")
            return None, node
        plain = text if not event.tag else None
        if tag == _TIMESTAMP:
            return text, node._replace(plain=plain or text, kind="date")
        invalid = f"`{text or '(empty)'}` is not a valid {tag.removeprefix(_TAG)}"
        if tag == _NULL and text not in _NULL_TEXTS:
            self.problem(node, path or (), f"{invalid}; write `null` or nothing")
            return None, node
        try:
            value = _constructor.construct_object(yaml.ScalarNode(tag, text))
        except Exception:  # PyYAML raises ValueError, IndexError, KeyError... for bad text
            self.problem(node, path or (), invalid)
            return None, node
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(node, path or (), f"`{text}` is not a number JSON can carry; quote it")
            return None, node
        kind = tag.removeprefix(_TAG)
        return value, node._replace(plain=plain, kind=kind) if plain is not None else node

    def start(self, event: yaml.MappingStartEvent | yaml.SequenceStartEvent, node: Node) -> None:
        top = self.stack[-1] if self.stack else None
        if top is not None and isinstance(top.value, dict) and top.expect_key:
            msg = "keys must be strings; a mapping or list cannot be a key"
            self.problem(node, top.path, msg, fatal=True)
        if len(self.stack) >= MAX_DEPTH:
            where = top.path if top else ()
            self.problem(node, where, f"nested more than {MAX_DEPTH} levels deep", fatal=True)
        if event.tag and event.tag not in ("!", _TAG + "map", _TAG + "seq"):
            self.problem(node, top.path if top else (), f"unsupported YAML tag `{event.tag}`")
        path, node = self.slot(node)
        value: dict[str, Any] | list[Any] = {} if isinstance(event, yaml.MappingStartEvent) else []
        dropped = path is None
        if path is None:
            # Kept nowhere, but recorded under a path of its own so that an alias to it
            # copies its nodes (with their positions) like any other.
            self.dropped += 1
            path = ("<<dropped>>", self.dropped)
        self.record(path, node)
        frame = _Frame(value, path, node, event.anchor, len(self.order) - 1, dropped)
        self.stack.append(frame)

    def end(self) -> None:
        frame = self.stack.pop()
        if isinstance(frame.value, dict) and frame.merges:
            self.apply_merges(frame)
        if frame.anchor:
            n = len(frame.path)
            sub = [
                (p[n:], self.doc.nodes[p])
                for p in self.order[frame.order_start :]
                if p[:n] == frame.path and p in self.doc.nodes
            ]
            self.anchors[frame.anchor] = (frame.value, sub, frame.chars)
        self.place(frame.value, None if frame.dropped else frame.path, frame.chars)

    def alias(self, event: yaml.AliasEvent, node: Node) -> None:
        top = self.stack[-1] if self.stack else None
        if top is not None and isinstance(top.value, dict) and top.expect_key:
            self.problem(
                node, top.path, "keys must be strings; an alias cannot be a key", fatal=True
            )
        path, node = self.slot(node)
        if event.anchor not in self.anchors:
            msg = f"alias `*{event.anchor}` names no anchor defined before it (`&{event.anchor}`)"
            self.problem(node, path or (), msg, fatal=True)
        value, sub, chars = self.anchors[str(event.anchor)]
        self.aliased += len(sub)
        self.aliased_chars += chars
        too_much = ""
        if self.aliased > MAX_ALIAS_NODES:
            too_much = f"{MAX_ALIAS_NODES:,} nodes"
        elif self.aliased_chars > MAX_ALIAS_CHARS:
            too_much = f"{MAX_ALIAS_CHARS:,} characters of text"
        if too_much:
            msg = (
                f"aliases expand to more than {too_much} "
                '(a "billion laughs" file?); use fewer or smaller anchors'
            )
            self.problem(node, path or (), msg, fatal=True)
        if path is not None:
            root = sub[0][1]
            # The alias itself stands where it is written; the nodes inside stay at the
            # anchor's lines, where a fix would be made.
            self.record(
                path,
                root._replace(
                    line=node.line, col=node.col, key_line=node.key_line, key_col=node.key_col
                ),
            )
            for rel, inner in sub[1:]:
                self.record(path + rel, inner)
        self.place(value, path, chars)

    def apply_merges(self, frame: _Frame) -> None:
        """YAML merge keys (`<<: *base`): keys written in the mapping win, then earlier merges."""
        assert isinstance(frame.value, dict)
        base = (*frame.path, "<<")
        for value, order_start in frame.merges:
            many = isinstance(value, list)
            # (source index, key) of each key copied into the mapping
            taken: set[tuple[str | int, str | int]] = set()
            for i, source in enumerate(value if many else [value]):
                if not isinstance(source, dict):
                    msg = "`<<` merges a mapping or a list of mappings"
                    self.problem(self.doc.node((*base, i) if many else base), frame.path, msg)
                    continue
                for k, v in source.items():
                    if k not in frame.value:
                        frame.value[k] = v
                        taken.add((i, k))
            # One pass over the merged nodes moves the positions of the keys taken.
            n = len(base) + many
            for p in self.order[order_start:]:
                if len(p) > n and p[: len(base)] == base and p in self.doc.nodes:
                    index = p[len(base)] if many else 0
                    if (index, p[n]) in taken:
                        self.record((*frame.path, *p[n:]), self.doc.nodes[p])
