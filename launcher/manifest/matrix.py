"""A session's `matrix` → its combinations: the product of its variables (or the
rows of its data file), minus `exclude`, plus `include`, with a finding for every part
that does nothing or too much, one per mistake (an include that differs from the others
is the one reported)."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import Any, NamedTuple

from launcher.manifest.document import Finding, Path, shown_values

MAX_COMBINATIONS = 50_000  # per session: a typo like a 1000×1000 matrix fails at once
MATRIX_KEYWORDS = ("include", "exclude", "from")


class Combination(NamedTuple):
    """The values of one combination, and which include made it (None: the product or a
    data file); for a row of a data file, the file (as shown) and the row's line."""

    values: dict[str, Any]
    include: int | None = None
    data: str = ""
    line: int = 0

    def describe(self) -> str:
        if self.data:
            return f"the row at {self.data}:{self.line}"
        where = f"`include[{self.include}]` " if self.include is not None else "the combination "
        return where + shown_values(self.values)


def declared_variables(matrix: Any) -> set[str] | None:
    """The variable names a matrix declares, even when it is unusable; None when it is
    not a mapping at all (then any name may have been meant)."""
    if not isinstance(matrix, dict) or "from" in matrix:
        return None  # a data file's variables are known once it is read
    names = {str(k) for k in matrix if k not in MATRIX_KEYWORDS}
    include = matrix.get("include")
    if not names and isinstance(include, list):
        names = {str(k) for item in include if isinstance(item, dict) for k in item}
    return names


def combinations(matrix: Any, path: Path, findings: list[Finding]) -> list[Combination] | None:
    """The matrix's combinations, or None when its shape is unusable."""
    if not isinstance(matrix, dict):
        return None
    variables = {k: v for k, v in matrix.items() if k not in MATRIX_KEYWORDS}
    if not all(isinstance(v, list) and v for v in variables.values()):
        return None
    include = matrix.get("include") or []
    exclude = matrix.get("exclude") or []
    if not isinstance(include, list) or not isinstance(exclude, list):
        return None
    if not variables and not include:
        findings.append(Finding(path, "a matrix needs at least one variable (or an include)"))
        return None
    if not all(isinstance(item, dict) for item in (*include, *exclude)):
        return None  # the shape check says so
    names = list(variables) or _majority_keys(include)
    ok = _items_ok(names, bool(variables), exclude, include, path, findings)
    size = math.prod(len(v) for v in variables.values()) if variables else 0
    if size + len(include) > MAX_COMBINATIONS:
        msg = (
            f"the matrix makes {size + len(include):,} combinations; "
            f"at most {MAX_COMBINATIONS:,} are allowed"
        )
        findings.append(Finding(path, msg))
        return None
    if not ok:
        return None
    _report_unmatched(variables, exclude, path, findings)
    return _combine(variables, names, exclude, include, path, findings)


def data_combinations(
    rows: list[Combination], columns: list[str], matrix: Any, path: Path, findings: list[Finding]
) -> list[Combination] | None:
    """A data file's rows minus the matrix's `exclude`, plus its `include` (each giving
    every column), or None when those are unusable."""
    include = matrix.get("include") or []
    exclude = matrix.get("exclude") or []
    if not isinstance(include, list) or not isinstance(exclude, list):
        return None
    if not all(isinstance(item, dict) for item in (*include, *exclude)):
        return None  # the shape check says so
    others = [k for k in matrix if k not in MATRIX_KEYWORDS]
    for key in others:
        msg = (
            "a matrix `from` a data file takes every variable from the file; "
            "add it as a column there, or give extra combinations with `include`"
        )
        findings.append(Finding((*path, key), msg, at_key=True))
    if others or not _items_ok(columns, True, exclude, include, path, findings):
        return None
    combos = [c for c in rows if not any(_matches(c, ex) for ex in exclude)]
    for i, ex in enumerate(exclude):
        if not any(_matches(c, ex) for c in rows):
            msg = f"`exclude[{i}]` matches no row of `{matrix['from']}`"
            findings.append(Finding((*path, "exclude", i), msg))
    return _with_includes(combos, columns, include, path, findings)


def _matches(combo: Combination, exclude: dict[str, Any]) -> bool:
    return all(_same(combo.values.get(k), v) for k, v in exclude.items())


def _majority_keys(include: list[dict[str, Any]]) -> list[str]:
    """The variables of a matrix of includes only: the keys most includes give (the first
    such set on a tie), so that the one include that differs is the one reported."""
    shapes = Counter(frozenset(item) for item in include)
    return sorted(shapes.most_common(1)[0][0]) if shapes else []


def _items_ok(
    names: list[str],
    product: bool,
    exclude: list[dict[str, Any]],
    include: list[dict[str, Any]],
    path: Path,
    findings: list[Finding],
) -> bool:
    """Whether every include and exclude names only matrix variables (and an include all
    of them); a finding for each one that does not."""
    ok = True
    for word, items in (("exclude", exclude), ("include", include)):
        for i, item in enumerate(items):
            found = _item_findings(word, item, names, product, (*path, word, i))
            findings.extend(found)
            ok = ok and not found
    return ok


def _item_findings(
    word: str, item: dict[str, Any], names: list[str], product: bool, where: Path
) -> list[Finding]:
    listed = ", ".join(f"`{n}`" for n in names) or "none"
    out: list[Finding] = []
    for key in item:
        if key in names:
            continue
        if product or word == "exclude":
            msg = f"`{key}` is not a matrix variable (variables: {listed})"
        else:
            msg = (
                f"`{key}` is not given by the other includes (most give {listed}); "
                "every include gives the same variables"
            )
        out.append(Finding((*where, key), msg, at_key=True))
    missing = ", ".join(f"`{n}`" for n in names if n not in item)
    if word == "include" and missing:
        msg = (
            f"an include gives every matrix variable; missing {missing}"
            if product
            else f"every include gives the same variables; this one lacks {missing}, "
            "which most give"
        )
        out.append(Finding(where, msg))
    return out


def _report_unmatched(
    variables: dict[str, list[Any]], exclude: list[Any], path: Path, findings: list[Finding]
) -> None:
    for i, ex in enumerate(exclude if variables else []):
        # The product has every combination, so an exclude matches one iff each value it
        # gives is among its variable's values.
        for key, value in ex.items():
            if not any(_same(v, value) for v in variables.get(key, [])):
                listed = ", ".join(str(v) for v in variables.get(key, []))
                msg = f"`exclude[{i}]` matches no combination; values of `{key}`: {listed}"
                findings.append(Finding((*path, "exclude", i, key), msg))
                break


def _combine(
    variables: dict[str, list[Any]],
    names: list[str],
    exclude: list[Any],
    include: list[Any],
    path: Path,
    findings: list[Finding],
) -> list[Combination]:
    """The product minus the excludes, then each include that makes a new combination."""
    combos: list[Combination] = []
    if variables:
        keys = list(variables)
        for values in itertools.product(*variables.values()):
            combo = Combination(dict(zip(keys, values, strict=True)))
            if not exclude or not any(_matches(combo, ex) for ex in exclude):
                combos.append(combo)
    return _with_includes(combos, names, include, path, findings)


def _with_includes(
    combos: list[Combination],
    names: list[str],
    include: list[Any],
    path: Path,
    findings: list[Finding],
) -> list[Combination]:
    """`combos`, then each include that makes a new combination."""
    if not include:
        return combos
    made: dict[tuple[str, ...], Combination] = {
        tuple(str(c.values[n]) for n in names): c for c in combos
    }
    for i, item in enumerate(include):
        made_by = tuple(str(item[n]) for n in names)
        if made_by in made:
            first = made[made_by]
            which = (
                f"`include[{first.include}]`"
                if first.include is not None
                else first.describe()
                if first.data
                else "a combination the matrix's variables already make"
            )
            msg = f"`include[{i}]` repeats {which} ({shown_values(item)}); remove it"
            findings.append(Finding((*path, "include", i), msg))
            continue
        made[made_by] = Combination(dict(item), i)
        combos.append(made[made_by])
    return combos


def _same(a: Any, b: Any) -> bool:
    # `3` and "3" name the same combination: values are text once substituted.
    return str(a) == str(b)
