"""A loaded manifest → its entries: defaults merged into each session, the matrix expanded,
templates substituted, and a name for each entry.

Expansion never raises for bad input; what it cannot make sense of becomes a `Finding`
(a manifest path and a message) that `check` turns into a diagnostic.
"""

from __future__ import annotations

import itertools
import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from launcher.api.openapi import create_session_fields, integer_fields
from launcher.entry import Entry
from launcher.manifest.discover import Source
from launcher.manifest.document import Document, Finding, Path
from launcher.manifest.matrix import combinations
from launcher.manifest.templates import TemplateCheck, substitute

MAX_FILE_ENTRIES = 100_000  # per file: many large matrices must not exhaust memory
NOT_DEFAULTS = ("name", "matrix")
_NOT_IN_NAMES = ("Cc",)  # control characters (newlines, tabs, escapes...)


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
    combos = combinations(matrix, (*spath, "matrix"), out.findings) if "matrix" in session else [{}]
    if combos is None:
        return None
    if not combos:
        out.findings.append(Finding((*spath, "matrix"), "the matrix excludes every combination"))
        return None
    variables = set(combos[0])

    request: dict[str, Any] = {}
    origins: dict[str, Path] = {}
    fields = set(create_session_fields())
    for key, value in itertools.chain(defaults.items(), session.items()):
        if key not in fields:
            continue  # name, matrix, or an unknown key (reported by the shape check)
        request[key] = value
        origins[key] = ("defaults", key) if key not in session else (*spath, key)

    templates = TemplateCheck(session.get("name"), variables, out.findings)
    templated: set[str] = set()
    ok = templates.text(session["name"], (*spath, "name"), ())
    for key, value in request.items():
        found, fine = templates.value(value, origins[key], (key,))
        ok = ok and fine
        if found:
            templated.add(key)
    if not ok:
        return None
    expansion = SessionExpansion(index, origins, frozenset(templated))
    _make_entries(expansion, session, request, combos, doc.node(spath).line, source, run_key, out)
    return expansion


def _make_entries(
    expansion: SessionExpansion,
    session: dict[str, Any],
    request: dict[str, Any],
    combos: list[dict[str, Any]],
    line: int,
    source: Source,
    run_key: str,
    out: FileExpansion,
) -> None:
    """One entry per combination, with findings for names that are bad or repeated."""
    names: set[str] = set()
    repeated = False
    bad_names: list[tuple[str, dict[str, Any]]] = []  # (what is wrong, combination)
    for combo in combos:
        name = str(substitute(session["name"], combo))
        if not name.strip() or any(unicodedata.category(c) in _NOT_IN_NAMES for c in name):
            what = "is empty" if not name else "is blank" if not name.strip() else _control(name)
            bad_names.append((what, combo))
            continue
        body = dict(request)
        for key in expansion.templated:
            body[key] = substitute(body[key], combo, key in integer_fields())
        if name in names:
            repeated = True
            continue
        names.add(name)
        expansion.entries.append(Entry(name, source.file, source.path, line, body, run_key))
    name_path: Path = (*expansion.path, "name")
    if bad_names:
        what, combo = bad_names[0]
        shown = f" for the combination {json.dumps(combo, ensure_ascii=False)}" if combo else ""
        more = f" (and {len(bad_names) - 1} more combinations)" if len(bad_names) > 1 else ""
        msg = f"the name{shown} {what}{more}; a name is one line of visible text"
        out.findings.append(Finding(name_path, msg))
    if repeated:
        variables = sorted(combos[0])
        msg = (
            "the name is the same for several matrix combinations; "
            "put the matrix variables in it, e.g. `${{ matrix."
            + (variables[0] if variables else "NAME")
            + " }}`"
        )
        out.findings.append(Finding(name_path, msg))


def _control(name: str) -> str:
    char = next(c for c in name if unicodedata.category(c) in _NOT_IN_NAMES)
    return f"contains the control character U+{ord(char):04X}"
