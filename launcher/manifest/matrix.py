"""A session's `matrix` → its combinations (SPEC §2): the product of its variables, minus
`exclude`, plus `include`, with a finding for every part that does nothing or too much."""

from __future__ import annotations

import itertools
import math
from typing import Any

from launcher.manifest.document import Finding, Path

MAX_COMBINATIONS = 50_000  # per session: a typo like a 1000×1000 matrix fails at once
MATRIX_KEYWORDS = ("include", "exclude")


def combinations(matrix: Any, path: Path, findings: list[Finding]) -> list[dict[str, Any]] | None:
    """The matrix's combinations (SPEC §2), or None when its shape is unusable."""
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
    names = list(variables) or sorted(
        {k for item in include if isinstance(item, dict) for k in item}
    )
    ok = _items_ok(names, exclude, include, path, findings)
    if ok is None:
        return None
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


def _items_ok(
    names: list[str], exclude: list[Any], include: list[Any], path: Path, findings: list[Finding]
) -> bool | None:
    """Whether every include and exclude names only matrix variables (and an include all
    of them); None when one is not a mapping at all (the shape check says so)."""
    listed = ", ".join(f"`{n}`" for n in names) or "none"
    ok = True
    for word, items in (("exclude", exclude), ("include", include)):
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                return None
            for key in item:
                if key not in names:
                    msg = f"`{key}` is not a matrix variable (variables: {listed})"
                    findings.append(Finding((*path, word, i, key), msg, at_key=True))
                    ok = False
            missing = [n for n in names if n not in item]
            if word == "include" and missing:
                msg = "an include gives every matrix variable; missing " + ", ".join(
                    f"`{n}`" for n in missing
                )
                findings.append(Finding((*path, word, i), msg))
                ok = False
    return ok


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
) -> list[dict[str, Any]]:
    """The product minus the excludes, then each include that makes a new combination."""
    combos: list[dict[str, Any]] = []
    if variables:
        keys = list(variables)
        for values in itertools.product(*variables.values()):
            combo = dict(zip(keys, values, strict=True))
            if not any(all(_same(combo[k], v) for k, v in ex.items()) for ex in exclude):
                combos.append(combo)
    made = {tuple(str(c[n]) for n in names) for c in combos}
    for i, item in enumerate(include):
        made_by = tuple(str(item[n]) for n in names)
        if made_by in made:
            msg = f"`include[{i}]` repeats a combination the matrix already makes"
            findings.append(Finding((*path, "include", i), msg))
            continue
        made.add(made_by)
        combos.append(dict(item))
    return combos


def _same(a: Any, b: Any) -> bool:
    # `3` and "3" name the same combination: values are text once substituted.
    return str(a) == str(b)
