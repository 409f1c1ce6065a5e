"""Parser events → plain data and a position for every node, one event at a time.

Composing from events (rather than letting PyYAML build its node graph) is what lets
duplicate keys, alias expansion and nesting depth be seen, with their line and column,
before a hostile file can cost unbounded time or memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from launcher.manifest.aliases import AliasProblem, Anchors, apply_merges
from launcher.manifest.document import Document, Node, Path, Problem
from launcher.manifest.scalars import COLLECTION_TAGS, MERGE, key_problem, read_scalar, tag_of

MAX_DEPTH = (
    64  # nesting levels, aliases expanded; jsonschema recurses, so keep far from Python's limit
)
MAX_NODES = 500_000  # values per file, aliases expanded: bounds memory (~350 bytes a node)


class Abort(Exception):
    """Stops composing: a problem after which the rest of the file means nothing."""


@dataclass
class _Frame:
    """A mapping or sequence being composed, and (for a mapping) the key whose value is next."""

    value: dict[str, Any] | list[Any]
    path: Path
    anchor: str | None
    order_start: int  # where its nodes start in the composer's `order`
    dropped: bool  # its key was rejected: compose it (to keep parsing) but keep it nowhere
    chars: int = 0  # scalar text inside, aliases expanded (for the alias size budget)
    height: int = 1  # levels of nesting inside, itself included, aliases expanded
    level: int = 1  # its nesting level, as YAML means it (see `Composer.level`)
    key: str | None = None
    key_node: Node | None = None
    key_bad: bool = False  # the pending key was rejected; drop its value
    expect_key: bool = True
    merges: list[tuple[Any, int]] = field(default_factory=list)  # (`<<` value, order index)
    merge_start: int = 0  # where the nodes of the pending `<<` value start in `order`
    key_lines: dict[str, int] = field(default_factory=dict)

    @property
    def wants_key(self) -> bool:
        return isinstance(self.value, dict) and self.expect_key

    @property
    def merging(self) -> bool:
        """Whether the next value is a `<<` merge value."""
        node = self.key_node
        return isinstance(self.value, dict) and node is not None and node.kind == "merge"

    def take_key(self, event: yaml.ScalarEvent, node: Node, order_len: int) -> Problem | None:
        """Accept the scalar as the next key, or say why not (the value will be dropped)."""
        self.expect_key = False
        self.chars += len(event.value)
        tag = tag_of(event)
        message = key_problem(tag, event.value)
        path = self.path
        if message is None and event.value in self.key_lines:
            first = self.key_lines[event.value]
            message = (
                f"duplicate key `{event.value}` (first at line {first}); a key may appear once"
            )
            path = (*self.path, event.value)
        if message is not None:
            self.key_bad = True
            return Problem(node.line, node.col, path, message)
        self.key_lines[event.value] = node.line
        if tag == MERGE:
            self.key, self.key_node = "<<", node._replace(kind="merge")
            self.merge_start = order_len
        else:
            self.key, self.key_node = event.value, node
        return None

    def slot(self, node: Node) -> tuple[Path | None, Node]:
        """The path of the next value and its node with the key position; None = drop it."""
        if isinstance(self.value, list):
            return (*self.path, len(self.value)), node
        if self.key_bad:
            return None, node
        assert self.key is not None and self.key_node is not None
        return (*self.path, self.key), node._replace(
            key_line=self.key_node.line, key_col=self.key_node.col
        )

    def place(self, value: Any, path: Path | None, chars: int, height: int) -> None:
        self.chars += chars
        if self.merging:
            # Merged keys sit beside the mapping's own: a merged mapping (or a list of
            # them) adds its children's levels, not its own.
            height -= 2 if isinstance(value, list) else 1
        self.height = max(self.height, height + 1)
        if isinstance(self.value, list):
            self.value.append(value)
            return
        if path is not None and self.key is not None and self.key_node is not None:
            if self.key_node.kind == "merge":
                self.merges.append((value, self.merge_start))
            else:
                self.value[self.key] = value
        self.key, self.key_node, self.key_bad, self.expect_key = None, None, False, True


class Composer:
    """Builds plain data from parser events, filling `doc.nodes` and `doc.problems`."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.stack: list[_Frame] = []
        self.order: list[Path] = []  # paths in the order their nodes were made
        self.anchors = Anchors()
        self.dropped = 0  # frames composed under a rejected key, numbered for their paths
        self.fatal = False
        self.documents = 0
        self.count = 0  # nodes recorded, aliases expanded

    def problem(self, node: Node, path: Path, message: str, *, fatal: bool = False) -> None:
        self.doc.problems.append(Problem(node.line, node.col, path, message))
        if fatal:
            self.fatal = True
            raise Abort

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
        return self.stack[-1].slot(node) if self.stack else ((), node)

    def place(self, value: Any, path: Path | None, chars: int, height: int = 0) -> None:
        if self.stack:
            self.stack[-1].place(value, path, chars, height)
        else:
            self.doc.data = value

    def level(self, value_is_list: bool) -> int:
        """The nesting level the next value sits at, counting as YAML means it: a merged
        mapping's keys sit beside the mapping's own, so a merge value sits at the
        mapping's level (a list of them, one level above it)."""
        if not self.stack:
            return 1
        top = self.stack[-1]
        if top.merging:
            return top.level - 1 if value_is_list else top.level
        return top.level + 1

    def record(self, path: Path | None, node: Node) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            msg = f"the file holds more than {MAX_NODES:,} values (aliases expanded); split it up"
            self.problem(node, (), msg, fatal=True)
        if path is not None:
            self.doc.nodes[path] = node
            self.order.append(path)

    def refuse_key(self, node: Node, what: str) -> None:
        """A mapping or an alias where a key belongs: the rest cannot be read as meant."""
        top = self.stack[-1] if self.stack else None
        if top is not None and top.wants_key:
            msg = f"keys must be strings; {what} cannot be a key"
            self.problem(node, top.path, msg, fatal=True)

    # -- events ------------------------------------------------------------------------

    def scalar(self, event: yaml.ScalarEvent, node: Node) -> None:
        if self.stack and self.stack[-1].wants_key:
            problem = self.stack[-1].take_key(event, node, len(self.order))
            if problem is not None:
                self.doc.problems.append(problem)
            return
        path, node = self.slot(node)
        value, node, message = read_scalar(event, node)
        if message is not None:
            self.problem(node, path or (), message)
        if event.anchor:
            self.anchors.define(event.anchor, (value, [((), node)], len(event.value), 0))
        self.record(path, node)
        self.place(value, path, len(event.value))

    def start(self, event: yaml.MappingStartEvent | yaml.SequenceStartEvent, node: Node) -> None:
        self.refuse_key(node, "a mapping or list")
        where = self.stack[-1].path if self.stack else ()
        if len(self.stack) >= MAX_DEPTH:
            self.problem(node, where, f"nested more than {MAX_DEPTH} levels deep", fatal=True)
        if event.tag and event.tag not in COLLECTION_TAGS:
            self.problem(node, where, f"unsupported YAML tag `{event.tag}`")
        path, node = self.slot(node)
        value: dict[str, Any] | list[Any] = {} if isinstance(event, yaml.MappingStartEvent) else []
        dropped = path is None
        if path is None:
            # Kept nowhere, but recorded under a path of its own so that an alias to it
            # copies its nodes (with their positions) like any other.
            self.dropped += 1
            path = ("<<dropped>>", self.dropped)
        self.record(path, node)
        level = self.level(isinstance(value, list))
        frame = _Frame(value, path, event.anchor, len(self.order) - 1, dropped, level=level)
        self.stack.append(frame)

    def end(self) -> None:
        frame = self.stack.pop()
        if isinstance(frame.value, dict) and frame.merges:
            apply_merges(frame.value, frame.path, frame.merges, self.doc, self.order)
        if frame.anchor:
            n = len(frame.path)
            sub = [
                (p[n:], self.doc.nodes[p])
                for p in self.order[frame.order_start :]
                if p[:n] == frame.path and p in self.doc.nodes
            ]
            self.anchors.define(frame.anchor, (frame.value, sub, frame.chars, frame.height))
        path = None if frame.dropped else frame.path
        self.place(frame.value, path, frame.chars, frame.height)

    def alias(self, event: yaml.AliasEvent, node: Node) -> None:
        self.refuse_key(node, "an alias")
        path, node = self.slot(node)
        try:
            value, sub, chars, height = self.anchors.expand(str(event.anchor))
        except AliasProblem as exc:
            self.problem(node, path or (), str(exc), fatal=True)
            raise  # unreachable: a fatal problem aborts
        if self.level(isinstance(value, list)) + height - 1 > MAX_DEPTH:
            msg = (
                f"nested more than {MAX_DEPTH} levels deep once `*{event.anchor}` is expanded "
                "(an alias nests as deep as what it copies)"
            )
            self.problem(node, path or (), msg, fatal=True)
        if path is not None:
            # The alias itself stands where it is written; the nodes inside stay at the
            # anchor's lines, where a fix would be made.
            root = sub[0][1]._replace(
                line=node.line, col=node.col, key_line=node.key_line, key_col=node.key_col
            )
            self.record(path, root)
            for rel, inner in sub[1:]:
                self.record(path + rel, inner)
        self.place(value, path, chars, height)
