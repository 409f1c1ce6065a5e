"""Manifest files → expanded entries: finding the files, defaults, matrix and templates.

Expansion never raises for bad input; what it cannot make sense of becomes a `Finding`
(a manifest path and a message) that `validate` turns into a diagnostic.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from launcher.api.openapi import create_session_fields, integer_fields
from launcher.entry import ENV_TEMPLATE, Entry, is_secret_value
from launcher.yamlload import Document, Path

MAX_COMBINATIONS = 50_000  # per session: a typo like a 1000×1000 matrix fails at once
MAX_FILE_ENTRIES = 100_000  # per file: many large matrices must not exhaust memory
MANIFEST_SUFFIXES = (".yaml", ".yml")
NOT_DEFAULTS = ("name", "matrix")
MATRIX_KEYWORDS = ("include", "exclude")

TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}")
_MATRIX_REF = re.compile(r"\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\Z")
_WHOLE_MATRIX_REF = re.compile(r"\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}\Z")


class Finding(NamedTuple):
    """A problem at a manifest path; `at_key` points at the key rather than the value."""

    path: Path
    message: str
    at_key: bool = False


@dataclass(frozen=True)
class Source:
    """One manifest file: `file` relative to its PATH argument, `path` openable as given."""

    arg: str
    file: str
    path: str


@dataclass
class SessionExpansion:
    """The entries of one session, and where each request field came from."""

    index: int
    origins: dict[str, Path]  # request field -> manifest path of its value
    templated: frozenset[str]  # request fields whose value differs between combinations
    entries: list[Entry] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return ("sessions", self.index)


@dataclass
class FileExpansion:
    sessions: list[SessionExpansion] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def find_manifests(paths: Sequence[str]) -> tuple[list[Source], list[tuple[str, str]]]:
    """Sources for the PATH arguments, and (PATH, message) for arguments that give none.

    A file met twice (a folder and a file inside it) is read once, under its first spelling.
    """
    sources: list[Source] = []
    missing: list[tuple[str, str]] = []
    seen: set[str] = set()
    for arg in paths:
        found: list[Source] = []
        if os.path.isdir(arg):
            for rel in _walk(arg):
                found.append(Source(arg, rel, os.path.join(arg, *rel.split("/"))))
            if not found:
                missing.append((arg, "no *.yaml or *.yml manifest in this folder"))
        elif os.path.exists(arg):
            found.append(Source(arg, os.path.basename(arg), arg))
        else:
            missing.append((arg, "no such file or folder"))
        for source in found:
            real = os.path.realpath(source.path)
            if real not in seen:
                seen.add(real)
                sources.append(source)
    return sources, missing


def _walk(root: str) -> Iterator[str]:
    """Manifest files under `root`, as `/`-separated relative paths, in sorted path order."""
    found: list[tuple[str, ...]] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = os.path.relpath(folder, root)
        parts = () if rel == "." else tuple(rel.split(os.sep))
        for name in files:
            if not name.startswith(".") and name.endswith(MANIFEST_SUFFIXES):
                found.append((*parts, name))
    for parts in sorted(found):
        yield "/".join(parts)


def expand_file(doc: Document, source: Source, run_key: str) -> FileExpansion:
    """Expand every session whose shape allows it; `bad` shapes were reported already."""
    out = FileExpansion()
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("sessions"), list):
        return out
    defaults = data.get("defaults")
    defaults = (
        {k: v for k, v in defaults.items() if k not in NOT_DEFAULTS}
        if isinstance(defaults, dict)
        else {}
    )
    total = 0
    for index, session in enumerate(data["sessions"]):
        if isinstance(session, dict) and isinstance(session.get("name"), str):
            expansion = _expand_session(index, session, defaults, doc, source, run_key, out)
            if expansion is not None:
                out.sessions.append(expansion)
                total += len(expansion.entries)
            if total > MAX_FILE_ENTRIES:
                msg = f"this file expands to more than {MAX_FILE_ENTRIES:,} entries; split it up"
                out.findings.append(Finding(("sessions", index), msg))
                break
    return out


def _expand_session(
    index: int,
    session: dict[str, Any],
    defaults: dict[str, Any],
    doc: Document,
    source: Source,
    run_key: str,
    out: FileExpansion,
) -> SessionExpansion | None:
    spath: Path = ("sessions", index)
    matrix = session.get("matrix")
    combos = (
        _combinations(matrix, (*spath, "matrix"), out.findings) if "matrix" in session else [{}]
    )
    if combos is None:
        return None
    variables = set(combos[0]) if combos else set()
    if not combos:
        out.findings.append(Finding((*spath, "matrix"), "the matrix excludes every combination"))
        return None

    request: dict[str, Any] = {}
    origins: dict[str, Path] = {}
    fields = set(create_session_fields())
    for key, value in itertools.chain(defaults.items(), session.items()):
        if key not in fields:
            continue  # name, matrix, or an unknown key (reported by the shape check)
        request[key] = value
        origins[key] = ("defaults", key) if key not in session else (*spath, key)
    name_path: Path = (*spath, "name")

    templated: set[str] = set()
    ok = _check_templates(session["name"], name_path, (), variables, session, out.findings)
    for key, value in request.items():
        found, fine = _scan_templates(value, origins[key], (key,), variables, session, out.findings)
        ok = ok and fine
        if found:
            templated.add(key)
    if not ok:
        return None

    expansion = SessionExpansion(index, origins, frozenset(templated))
    line = doc.node(spath).line
    names: set[str] = set()
    repeated = False
    bad_names: list[tuple[str, dict[str, Any]]] = []  # (what is wrong, combination)
    for combo in combos:
        name = str(_substitute(session["name"], combo))
        if not name.strip() or any(unicodedata.category(c) in _NOT_IN_NAMES for c in name):
            what = "is empty" if not name else "is blank" if not name.strip() else _control(name)
            bad_names.append((what, combo))
            continue
        body = dict(request)
        for key in templated:
            body[key] = _substitute(body[key], combo, key in integer_fields())
        if name in names:
            repeated = True
            continue
        names.add(name)
        expansion.entries.append(Entry(name, source.file, source.path, line, body, run_key))
    if bad_names:
        what, combo = bad_names[0]
        shown = f" for the combination {json.dumps(combo, ensure_ascii=False)}" if combo else ""
        more = f" (and {len(bad_names) - 1} more combinations)" if len(bad_names) > 1 else ""
        msg = f"the name{shown} {what}{more}; a name is one line of visible text"
        out.findings.append(Finding(name_path, msg))
    if repeated:
        msg = (
            "the name is the same for several matrix combinations; "
            "put the matrix variables in it, e.g. `${{ matrix."
            + (sorted(variables)[0] if variables else "NAME")
            + " }}`"
        )
        out.findings.append(Finding(name_path, msg))
    return expansion


_NOT_IN_NAMES = ("Cc",)  # control characters (newlines, tabs, escapes...)


def _control(name: str) -> str:
    char = next(c for c in name if unicodedata.category(c) in _NOT_IN_NAMES)
    return f"contains the control character U+{ord(char):04X}"


def _combinations(matrix: Any, path: Path, findings: list[Finding]) -> list[dict[str, Any]] | None:
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
    for i, ex in enumerate(exclude if variables else []):
        # The product has every combination, so an exclude matches one iff each value it
        # gives is among its variable's values.
        for key, value in ex.items():
            if not any(_same(v, value) for v in variables.get(key, [])):
                listed = ", ".join(str(v) for v in variables.get(key, []))
                msg = f"`exclude[{i}]` matches no combination; values of `{key}`: {listed}"
                findings.append(Finding((*path, "exclude", i, key), msg))
                break
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


def _check_templates(
    text: str,
    mpath: Path,
    rpath: Path,
    variables: set[str],
    session: dict[str, Any],
    findings: list[Finding],
) -> bool:
    """Check the `${{ … }}` templates of one string; False if any is wrong."""
    ok = True
    if "${{" in TEMPLATE.sub("", text):
        findings.append(Finding(mpath, "unterminated template: close it with `}}`"))
        ok = False
    secret = len(rpath) == 3 and is_secret_value(rpath)  # the value itself, not inside it
    for m in TEMPLATE.finditer(text):
        inner = m.group(1)
        if var := _MATRIX_REF.match(inner):
            if var.group(1) not in variables:
                findings.append(Finding(mpath, _undefined(var.group(1), variables, session)))
                ok = False
        elif ENV_TEMPLATE.fullmatch(m.group(0)):
            if not secret:
                msg = (
                    f"`{m.group(0)}`: env lookups are allowed only in session_secrets[].value "
                    "(they are secrets: resolved at send time, never stored or shown)"
                )
                findings.append(Finding(mpath, msg))
                ok = False
        else:
            shown = "in a secret value" if secret else f"`{m.group(0)}`"
            msg = (
                f"unknown template {shown}; write `${{{{ matrix.NAME }}}}` or `${{{{ env.NAME }}}}`"
            )
            findings.append(Finding(mpath, msg))
            ok = False
    return ok


def _undefined(name: str, variables: set[str], session: dict[str, Any]) -> str:
    where = f"session `{session.get('name')}`"
    if not variables:
        return f"undefined matrix variable `{name}`: {where} has no matrix"
    listed = ", ".join(f"`{v}`" for v in sorted(variables))
    return f"undefined matrix variable `{name}` in {where} (its variables: {listed})"


def _scan_templates(
    value: Any,
    mpath: Path,
    rpath: Path,
    variables: set[str],
    session: dict[str, Any],
    findings: list[Finding],
) -> tuple[bool, bool]:
    """(has matrix templates, all templates valid) for a value, recursively."""
    if isinstance(value, str):
        if "${{" not in value:
            return False, True
        ok = _check_templates(value, mpath, rpath, variables, session, findings)
        return any(_MATRIX_REF.match(m.group(1)) for m in TEMPLATE.finditer(value)), ok
    found, ok = False, True
    items: Any = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for k, v in items:
        f, o = _scan_templates(v, (*mpath, k), (*rpath, k), variables, session, findings)
        found, ok = found or f, ok and o
    return found, ok


def _substitute(value: Any, combo: dict[str, Any], integer: bool = False) -> Any:
    """`${{ matrix.X }}` replaced in every string. In a field the API types as an integer,
    a string that is exactly one template of an integer variable becomes that integer (so
    `max_acu_limit: ${{ matrix.acu }}` works); elsewhere it stays a string (`title: ${{
    matrix.pr }}` is the text "101")."""
    if isinstance(value, str):
        if "${{" not in value:
            return value
        whole = _WHOLE_MATRIX_REF.match(value)
        if integer and whole and isinstance(combo.get(whole.group(1)), int):
            return combo[whole.group(1)]

        def one(m: re.Match[str]) -> str:
            var = _MATRIX_REF.match(m.group(1))
            return str(combo[var.group(1)]) if var else m.group(0)

        return TEMPLATE.sub(one, value)
    if isinstance(value, dict):
        return {k: _substitute(v, combo) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, combo) for v in value]
    return value
