"""What YAML shares between places: anchors and the budget their aliases may expand to
(the "billion laughs" guard), and merge keys (`<<: *base`)."""

from __future__ import annotations

from typing import Any

from launcher.manifest.document import Document, Node, Path, Problem

MAX_ALIAS_NODES = 100_000  # nodes copied through aliases, per file ("billion laughs" guard)
MAX_ALIAS_CHARS = 10_000_000  # scalar text copied through aliases, per file (same guard, by size)

# An anchored value, its nodes relative to it, its scalar text in characters, and its
# levels of nesting (0 for a scalar).
Anchored = tuple[Any, list[tuple[Path, Node]], int, int]


class AliasProblem(Exception):
    """An alias that cannot be expanded; the rest of the file would mean nothing."""


class Anchors:
    """The anchors defined so far, and how much their aliases have copied in all."""

    def __init__(self) -> None:
        self.table: dict[str, Anchored] = {}
        self.nodes = 0
        self.chars = 0

    def define(self, name: str, anchored: Anchored) -> None:
        self.table[name] = anchored

    def expand(self, name: str) -> Anchored:
        """The anchored value for `*name`, counted against the budget; AliasProblem if
        there is no such anchor or the file has copied too much."""
        if name not in self.table:
            raise AliasProblem(f"alias `*{name}` names no anchor defined before it (`&{name}`)")
        anchored = self.table[name]
        self.nodes += len(anchored[1])
        self.chars += anchored[2]
        too_much = ""
        if self.nodes > MAX_ALIAS_NODES:
            too_much = f"{MAX_ALIAS_NODES:,} nodes"
        elif self.chars > MAX_ALIAS_CHARS:
            too_much = f"{MAX_ALIAS_CHARS:,} characters of text"
        if too_much:
            raise AliasProblem(
                f"aliases expand to more than {too_much} "
                '(a "billion laughs" file?); use fewer or smaller anchors'
            )
        return anchored


def apply_merges(
    mapping: dict[str, Any],
    path: Path,
    merges: list[tuple[Any, int]],
    doc: Document,
    order: list[Path],
) -> None:
    """YAML merge keys: keys written in the mapping win, then earlier merges. `merges` holds
    each `<<` value with where its nodes start in `order` (paths in the order made)."""
    base = (*path, "<<")
    for value, order_start in merges:
        many = isinstance(value, list)
        # (source index, key) of each key copied into the mapping
        taken: set[tuple[str | int, str | int]] = set()
        for i, source in enumerate(value if many else [value]):
            if not isinstance(source, dict):
                node = doc.node((*base, i) if many else base)
                msg = "`<<` merges a mapping or a list of mappings"
                doc.problems.append(Problem(node.line, node.col, path, msg))
                continue
            for k, v in source.items():
                if k not in mapping:
                    mapping[k] = v
                    taken.add((i, k))
        # One pass over the merged nodes moves the positions of the keys taken.
        n = len(base) + many
        for p in order[order_start:]:
            if len(p) > n and p[: len(base)] == base and p in doc.nodes:
                index = p[len(base)] if many else 0
                if (index, p[n]) in taken:
                    moved = (*path, *p[n:])
                    doc.nodes[moved] = doc.nodes[p]
                    order.append(moved)
