"""What an entry's name may be: one line of visible text without `#` (which separates
FILE and NAME in `FILE#NAME`), a different name for each combination of a session's
matrix, and unique across the run; each rule's finding names the fix."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from launcher.manifest.document import (
    Document,
    Finding,
    Path,
    format_path,
    is_invisible,
    shown_values,
    visible,
)
from launcher.manifest.matrix import Combination

VISIBLE_TEXT = "a name is one line of visible text"


def name_problem(name: str) -> str | None:
    """What is wrong with an expanded name (said after "the name …"), or None."""
    if not name:
        return f"is empty; {VISIBLE_TEXT}"
    if not name.strip():
        return f"is blank; {VISIBLE_TEXT}"
    if name.isprintable() and "#" not in name:
        return None  # no invisible character either (`visible`): 10,000 names, in C
    for char in name:
        if char == "#":
            return (
                "contains `#`, which separates FILE from NAME in entry ids (`FILE#NAME`); "
                "use another character, e.g. `-`"
            )
        if is_invisible(char):
            kind = "control" if unicodedata.category(char) == "Cc" else "invisible"
            label = unicodedata.name(char, "")
            code = f"U+{ord(char):04X}" + (f" ({label})" if label else "")
            return f"contains the {kind} character {code}; {VISIBLE_TEXT}: remove it"
    return None


def bad_name_findings(path: Path, bad: list[tuple[str, str, Combination]]) -> Iterable[Finding]:
    """One finding per rule the names of a session break: its first name, and how many
    more. `bad` holds (name, what is wrong, combination)."""
    by_problem: dict[str, list[tuple[str, Combination]]] = {}
    for name, what, combo in bad:
        by_problem.setdefault(what, []).append((name, combo))
    for what, names in by_problem.items():
        name, combo = names[0]
        shown = f" `{visible(name)}`" if name.strip() else ""
        made = f" for {combo.describe()}" if combo.values else ""
        n = len(names) - 1
        kind = "row" if combo.data else "combination"
        more = f" (and {n} more {kind}{'s' if n > 1 else ''})" if n else ""
        at = (combo.data, combo.line, 1) if combo.data else None
        yield Finding(path, f"the name{shown}{made}{more} {what}", at=at)


def repeated_name_findings(
    session: Path, repeats: list[tuple[str, Combination, Combination]]
) -> Iterable[Finding]:
    """Combinations that make a name an earlier one made: `repeats` holds (name, first
    combination, this one). An include is reported at the include, naming the other;
    the product's repeats once, at the name."""
    product: list[tuple[str, Combination, Combination]] = []
    for name, first, this in repeats:
        if this.data and this.values == first.values:
            msg = f"this row repeats the row at line {first.line}; remove one of them"
            yield Finding((*session, "name"), msg, at=(this.data, this.line, 1))
            continue
        if this.data:
            msg = (
                f"this row makes the name `{visible(name)}`, as the row at line {first.line} "
                "does: one session per name, so remove one of them, or, if both are meant, "
                f"put {_differing(first, this)} in the name"
            )
            yield Finding((*session, "name"), msg, at=(this.data, this.line, 1))
            continue
        if this.include is None:
            product.append((name, first, this))
            continue
        differ = _differing(first, this)
        msg = (
            f"`include[{this.include}]` ({_values(this)}) makes the name `{visible(name)}`, "
            f"as {first.describe()} does: one session per name, so remove one of them, "
            f"or, if both are meant, put {differ} in the name"
        )
        yield Finding((*session, "matrix", "include", this.include), msg)
    if product:
        name, first, this = product[0]
        more = f" ({len(product)} combinations repeat a name)" if len(product) > 1 else ""
        msg = (
            f"the name `{visible(name)}` is the same for {_values(first)} and {_values(this)}"
            f"{more}; put {_differing(first, this)} in the name"
        )
        yield Finding((*session, "name"), msg)


def _values(combo: Combination) -> str:
    return shown_values(combo.values)


def _differing(a: Combination, b: Combination) -> str:
    keys = [k for k in {**a.values, **b.values} if str(a.values.get(k)) != str(b.values.get(k))]
    return " and ".join(f"`${{{{ matrix.{k} }}}}`" for k in keys) or "a matrix variable"


class RunNames:
    """The names taken so far in the run, and where: a name used twice is reported at the
    second session, naming the first."""

    def __init__(self) -> None:
        self.taken: dict[str, tuple[str, int, Path]] = {}

    def findings(
        self, names: Iterable[str], session: Path, file: str, doc: Document
    ) -> Iterable[Finding]:
        name_path: Path = (*session, "name")
        here = (file, doc.node(name_path).line, session)
        clashes: dict[tuple[str, int, Path], list[str]] = {}
        for name in names:
            other = self.taken.setdefault(name, here)
            if other != here:
                clashes.setdefault(other, []).append(name)
        for (other_file, line, path), clash in clashes.items():
            more = f", and {len(clash) - 1} more names of this matrix" if len(clash) > 1 else ""
            msg = (
                f"name `{clash[0]}` is already used at {other_file}:{line} "
                f"({format_path(path)}){more}; names must be unique across the run"
            )
            yield Finding(name_path, msg)
