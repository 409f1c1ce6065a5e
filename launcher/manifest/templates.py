"""`${{ … }}` templates in manifest values: which are allowed where, and substitution.

`${{ matrix.X }}` is replaced at expansion; `${{ env.X }}` only in a secret value, and only
at send time (`Entry.body`), so that a secret is never stored.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from launcher.entry import ENV_TEMPLATE, is_secret_value
from launcher.manifest.document import Finding, Path, Place, visible

TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}")
MATRIX_TEMPLATE = re.compile(r"\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")


class TemplateCheck:
    """Checks the templates of one session's values against its matrix variables (None
    when its matrix is unusable: then any variable may have been meant), adding a
    `Finding` for each one that is wrong."""

    def __init__(
        self,
        session_name: Any,
        variables: set[str] | None,
        findings: list[Finding],
        data: Place | None = None,
    ) -> None:
        self.session_name = session_name
        self.variables = variables
        self.findings = findings
        self.data = data  # the header of the data file the variables come from

    def text(
        self, text: str, mpath: Path, rpath: Path, place: Callable[[int], Place] | None = None
    ) -> bool:
        """Check the templates of one string at manifest path `mpath` (request path
        `rpath`); False if any is wrong. `place` maps an offset in `text` to where it is
        in a file of its own (a prompt file), where the findings then point."""

        def add(offset: int, msg: str, at: Place | None = None) -> None:
            at = at or (place(offset) if place is not None else None)
            self.findings.append(Finding(mpath, msg, at=at))

        ok = True
        rest = TEMPLATE.sub(lambda m: " " * len(m.group(0)), text)
        if "${{" in rest:
            add(rest.index("${{"), "unterminated template: close it with `}}`")
            ok = False
        secret = len(rpath) == 3 and is_secret_value(rpath)  # the value itself, not inside it
        for m in TEMPLATE.finditer(text):
            if var := MATRIX_TEMPLATE.fullmatch(m.group(0)):
                if self.variables is not None and var.group(1) not in self.variables:
                    used = place(m.start()) if place is not None else None
                    add(m.start(), self._undefined(var.group(1), used), self.data)
                    ok = False
            elif ENV_TEMPLATE.fullmatch(m.group(0)):
                if not secret:
                    msg = (
                        f"`{m.group(0)}`: env lookups are allowed only in session_secrets[].value "
                        "(they are secrets: resolved at send time, never stored or shown)"
                    )
                    add(m.start(), msg)
                    ok = False
            else:
                shown = "in a secret value" if secret else f"`{visible(m.group(0))}`"
                msg = (
                    f"unknown template {shown}; "
                    "write `${{ matrix.NAME }}` or `${{ env.NAME }}`"
                )
                add(m.start(), msg)
                ok = False
        return ok

    def value(self, value: Any, mpath: Path, rpath: Path) -> tuple[bool, bool]:
        """(has matrix templates, all templates valid) for a value, recursively."""
        if isinstance(value, str):
            if "${{" not in value:
                return False, True
            ok = self.text(value, mpath, rpath)
            found = any(MATRIX_TEMPLATE.fullmatch(m.group(0)) for m in TEMPLATE.finditer(value))
            return found, ok
        found, ok = False, True
        items: Any = (
            value.items()
            if isinstance(value, dict)
            else enumerate(value)
            if isinstance(value, list)
            else ()
        )
        for k, v in items:
            f, o = self.value(v, (*mpath, k), (*rpath, k))
            found, ok = found or f, ok and o
        return found, ok

    def _undefined(self, name: str, used: Place | None) -> str:
        if isinstance(self.session_name, str):
            where = f"session `{visible(self.session_name)}`"
        else:
            where = "this session"
        if self.data is not None:
            by = f"{used[0]}:{used[1]}:{used[2]}" if used is not None else where
            listed = ", ".join(f"`{v}`" for v in sorted(self.variables or ()))
            return (
                f"this file has no variable `{name}`, which `${{{{ matrix.{name} }}}}` in "
                f"{by} uses (its variables: {listed}); add it, or correct the template"
            )
        if not self.variables:
            return f"undefined matrix variable `{name}`: {where} has no matrix"
        listed = ", ".join(f"`{v}`" for v in sorted(self.variables))
        return f"undefined matrix variable `{name}` in {where} (its variables: {listed})"


@functools.lru_cache(maxsize=1024)
def _pieces(text: str) -> tuple[tuple[str, str | None], ...]:
    """The text cut at its templates, once per text (a matrix of 10,000 combinations fills
    the same few in): (what is written, the matrix variable it names or None), in order."""
    pieces: list[tuple[str, str | None]] = []
    for i, part in enumerate(TEMPLATE.split(text)):
        if i % 2 == 0:
            pieces.append((part, None))
            continue
        written = "${{" + part + "}}"
        var = MATRIX_TEMPLATE.fullmatch(written)
        pieces.append((written, var.group(1) if var else None))
    return tuple(pieces)


def substitute(value: Any, combo: dict[str, Any], integer: bool = False) -> Any:
    """`${{ matrix.X }}` replaced in every string. In a field the API types as an integer,
    a string that is exactly one template of an integer variable becomes that integer (so
    `max_acu_limit: ${{ matrix.acu }}` works); elsewhere it stays a string (`title: ${{
    matrix.pr }}` is the text "101"). A variable the combination lacks stays as written."""
    if isinstance(value, str):
        if "${{" not in value:
            return value
        pieces = _pieces(value)
        if integer and len(pieces) == 3 and pieces[0][0] == pieces[2][0] == "":
            var = pieces[1][1]  # the whole value is one template
            if var is not None and isinstance(combo.get(var), int):
                return combo[var]
        return "".join(
            str(combo[var]) if var is not None and var in combo else written
            for written, var in pieces
        )
    if isinstance(value, dict):
        return {k: substitute(v, combo) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, combo) for v in value]
    return value
