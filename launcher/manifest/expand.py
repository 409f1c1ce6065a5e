"""A loaded manifest → its entries: defaults merged into each session, the matrix expanded,
templates substituted, and a name for each entry.

Expansion never raises for bad input; what it cannot make sense of becomes a `Finding`
(a manifest path and a message) that `check` turns into a diagnostic. It keeps going
past such a finding, so that the rest of the session is still checked: an undefined
variable stays as its template text, and a matrix it cannot expand stands in as one
combination of unknown values; the places whose values are therefore not what was meant
are listed in `unchecked`, so that no second error is reported about them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from launcher.api.openapi import create_session_fields, integer_fields
from launcher.entry import Entry
from launcher.manifest.discover import Source
from launcher.manifest.document import Document, Finding, Path
from launcher.manifest.matrix import Combination, combinations, declared_variables
from launcher.manifest.names import bad_name_findings, name_problem, repeated_name_findings
from launcher.manifest.templates import MATRIX_TEMPLATE, TEMPLATE, TemplateCheck, substitute

MAX_FILE_ENTRIES = 100_000  # per file: many large matrices must not exhaust memory
NOT_DEFAULTS = ("name", "matrix")


@dataclass
class SessionExpansion:
    """The entries of one session, and where each request field came from."""

    index: int
    origins: dict[str, Path]  # request field -> manifest path of its value
    templated: frozenset[str]  # request fields whose value differs between combinations
    entries: list[Entry] = field(default_factory=list)
    # Manifest paths whose values could not be expanded as meant (a finding says why):
    # what the request checks say at or under them would repeat that finding.
    unchecked: frozenset[Path] = frozenset()
    names_known: bool = True  # False: the entries' names are stand-ins, not real names

    @property
    def path(self) -> Path:
        return ("sessions", self.index)

    def checked(self, path: Path) -> bool:
        return not any(path[: len(u)] == u for u in self.unchecked)


@dataclass
class FileExpansion:
    sessions: list[SessionExpansion] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def expand_file(doc: Document, source: Source, run_key: str) -> FileExpansion:
    """Expand every session that is a mapping; what is wrong with their shape was
    reported already, and what is still meaningful is expanded to be checked."""
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
        if not isinstance(session, dict):
            continue
        expansion = _expand_session(index, session, defaults, doc, source, run_key, out)
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
) -> SessionExpansion:
    spath: Path = ("sessions", index)
    combos, variables = _combinations(session, spath, out.findings)
    exact = combos is not None  # else one stand-in combination of unknown values
    request: dict[str, Any] = {}
    origins: dict[str, Path] = {}
    fields = set(create_session_fields())
    for key, value in itertools.chain(defaults.items(), session.items()):
        if key not in fields:
            continue  # name, matrix, or an unknown key (reported by the shape check)
        request[key] = value
        origins[key] = ("defaults", key) if key not in session else (*spath, key)

    name = session.get("name")
    name_path: Path = (*spath, "name")
    first = len(out.findings)
    templates = TemplateCheck(name, variables, out.findings)
    if isinstance(name, str):
        templates.text(name, name_path, ())
    templated: set[str] = set()
    for key, value in request.items():
        if templates.value(value, origins[key], (key,))[0]:
            templated.add(key)
    unchecked = {f.path for f in out.findings[first:]}
    name_varies = isinstance(name, str) and bool(MATRIX_TEMPLATE.search(name))
    if not exact:
        unchecked.update(origins[key] for key in templated)
    names_known = (
        isinstance(name, str) and name_path not in unchecked and (exact or not name_varies)
    )
    expansion = SessionExpansion(
        index,
        origins,
        frozenset(templated),
        unchecked=frozenset(unchecked),
        names_known=names_known,
    )
    _make_entries(expansion, name, request, combos or [Combination({})], doc, source, run_key, out)
    return expansion


def _combinations(
    session: dict[str, Any], spath: Path, findings: list[Finding]
) -> tuple[list[Combination] | None, set[str] | None]:
    """The session's combinations (None when its matrix cannot be expanded), and its
    variable names (None when any name may have been meant)."""
    if "matrix" not in session:
        return [Combination({})], set()
    mpath: Path = (*spath, "matrix")
    combos = combinations(session["matrix"], mpath, findings)
    if combos == []:
        findings.append(Finding(mpath, "the matrix excludes every combination"))
    if combos:
        return combos, set(combos[0].values)
    return None, declared_variables(session["matrix"])


def _make_entries(
    expansion: SessionExpansion,
    name: Any,
    request: dict[str, Any],
    combos: list[Combination],
    doc: Document,
    source: Source,
    run_key: str,
    out: FileExpansion,
) -> None:
    """One entry per combination, with findings for names that are bad or repeated."""
    line = doc.node(expansion.path).line
    name_path: Path = (*expansion.path, "name")
    made: dict[str, Combination] = {}
    repeats: list[tuple[str, Combination, Combination]] = []
    bad: list[tuple[str, str, Combination]] = []  # (name, what is wrong, combination)
    if not expansion.names_known and isinstance(name, str):
        # Only the text around the templates is known; it must be right in any case.
        static = TEMPLATE.sub("", name)
        problem = name_problem(static) if static.strip() else None
        if problem is not None:
            bad.append((static, problem, Combination({})))
    for combo in combos:
        text = str(substitute(name, combo.values)) if isinstance(name, str) else ""
        body = dict(request)
        for key in expansion.templated:
            body[key] = substitute(body[key], combo.values, key in integer_fields())
        if expansion.names_known:
            problem = name_problem(text)
            if problem is not None:
                bad.append((text, problem, combo))
                continue
            if text in made:
                repeats.append((text, made[text], combo))
                continue
            made[text] = combo
        stand_in = text if expansion.names_known else f"{source.file}:{line}"
        expansion.entries.append(
            Entry(stand_in, source.file, source.path, line, body, run_key, combo.values)
        )
    out.findings.extend(bad_name_findings(name_path, bad))
    out.findings.extend(repeated_name_findings(expansion.path, repeats))
