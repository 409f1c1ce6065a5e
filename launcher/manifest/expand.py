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

import os
from dataclasses import dataclass, field
from typing import Any

from launcher.api.openapi import integer_fields, request_fields
from launcher.entry import Attachment, Entry
from launcher.manifest.discover import Source
from launcher.manifest.document import Document, Finding, Path, Place
from launcher.manifest.matrix import (
    Combination,
    combinations,
    data_combinations,
    declared_variables,
)
from launcher.manifest.names import bad_name_findings, name_problem, repeated_name_findings
from launcher.manifest.nearby import Referenced, Unreadable
from launcher.manifest.templates import MATRIX_TEMPLATE, TEMPLATE, TemplateCheck, substitute

MAX_FILE_ENTRIES = 100_000  # per file: many large matrices must not exhaust memory
NOT_DEFAULTS = ("name", "matrix")
PROMPT_FILE = "prompt_file"  # the prompt's text from a file beside the manifest
ATTACHMENTS = "attachments"  # local files uploaded for the session (not a request field)


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


def expand_file(
    doc: Document, source: Source, run_key: str, refs: Referenced | None = None
) -> FileExpansion:
    """Expand every session that is a mapping; what is wrong with their shape was
    reported already, and what is still meaningful is expanded to be checked. `refs`
    reads the files the manifest names (shared by the files of one check)."""
    out = FileExpansion()
    refs = refs if refs is not None else Referenced()
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
        context = _Context(doc, source, run_key, refs, out)
        expansion = _expand_session(index, session, defaults, context)
        out.sessions.append(expansion)
        total += len(expansion.entries)
        if total > MAX_FILE_ENTRIES:
            msg = f"this file expands to more than {MAX_FILE_ENTRIES:,} entries; split it up"
            out.findings.append(Finding(("sessions", index), msg))
            break
    return out


@dataclass(frozen=True)
class _Context:
    """What every session of one file is expanded with."""

    doc: Document
    source: Source
    run_key: str
    refs: Referenced
    out: FileExpansion


def _expand_session(
    index: int, session: dict[str, Any], defaults: dict[str, Any], ctx: _Context
) -> SessionExpansion:
    spath: Path = ("sessions", index)
    out = ctx.out
    combos, variables, header = _combinations(session, spath, ctx)
    exact = combos is not None  # else one stand-in combination of unknown values
    request, origins = _request(session, defaults, spath, out.findings)

    name = session.get("name")
    name_path: Path = (*spath, "name")
    first = len(out.findings)
    templates = TemplateCheck(name, variables, out.findings, header)
    if isinstance(name, str):
        templates.text(name, name_path, ())
    prompt_file = origins.get("prompt", ())[-1:] == (PROMPT_FILE,)
    templated: set[str] = set()
    for key, value in request.items():
        if key == "prompt" and prompt_file:
            request[key], found = _prompt_text(value, origins[key], templates, ctx)
        else:
            found = templates.value(value, origins[key], (key,))[0]
        if found:
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
    _make_entries(expansion, name, request, combos or [Combination({})], ctx)
    return expansion


def _request(
    session: dict[str, Any], defaults: dict[str, Any], spath: Path, findings: list[Finding]
) -> tuple[dict[str, Any], dict[str, Path]]:
    """The request fields of a session over its defaults, and where each came from;
    `prompt_file` stands for `prompt` (its value, the file's name, is read later)."""
    request: dict[str, Any] = {}
    origins: dict[str, Path] = {}
    fields = {*request_fields(), ATTACHMENTS}
    for place, values in ((("defaults",), defaults), (spath, session)):
        if "prompt" in values and PROMPT_FILE in values:
            msg = "give `prompt` or `prompt_file`, not both"
            findings.append(Finding((*place, PROMPT_FILE), msg, at_key=True))
        for key, value in values.items():
            if key == PROMPT_FILE and "prompt" in values:
                continue  # said above; the prompt written out is the one checked
            field_name = "prompt" if key == PROMPT_FILE else key
            if field_name not in fields:
                continue  # name, matrix, or an unknown key (reported by the shape check)
            request[field_name] = value
            origins[field_name] = (*place, key)
    return request, origins


def _prompt_text(
    written: Any, origin: Path, templates: TemplateCheck, ctx: _Context
) -> tuple[Any, bool]:
    """The text of a prompt file, and whether it has matrix templates (checked, with
    their findings pointing into the file)."""
    if not isinstance(written, str):
        return written, False  # the shape check says so
    try:
        nearby, text = ctx.refs.text(ctx.source, written)
    except Unreadable as exc:
        ctx.out.findings.append(Finding(origin, str(exc), at=exc.place))
        return "", False

    def place(offset: int) -> Place:
        line_start = text.rfind("\n", 0, offset) + 1
        return nearby.shown, text.count("\n", 0, offset) + 1, offset - line_start + 1

    if "${{" not in text:
        return text, False
    templates.text(text, origin, ("prompt",), place)
    return text, any(MATRIX_TEMPLATE.fullmatch(m.group(0)) for m in TEMPLATE.finditer(text))


def _combinations(
    session: dict[str, Any], spath: Path, ctx: _Context
) -> tuple[list[Combination] | None, set[str] | None, Place | None]:
    """The session's combinations (None when its matrix cannot be expanded), its
    variable names (None when any name may have been meant), and, for a matrix from a
    data file, where in it a missing variable is reported."""
    findings = ctx.out.findings
    if "matrix" not in session:
        return [Combination({})], set(), None
    mpath: Path = (*spath, "matrix")
    matrix = session["matrix"]
    header: Place | None = None
    if isinstance(matrix, dict) and "from" in matrix:
        combos, variables, header = _data_combinations(matrix, mpath, ctx)
    else:
        combos = combinations(matrix, mpath, findings)
        variables = set(combos[0].values) if combos else declared_variables(matrix)
    if combos == []:
        findings.append(Finding(mpath, "the matrix excludes every combination"))
    if combos:
        return combos, set(combos[0].values), header
    return None, variables, header


def _data_combinations(
    matrix: dict[str, Any], mpath: Path, ctx: _Context
) -> tuple[list[Combination] | None, set[str] | None, Place | None]:
    findings = ctx.out.findings
    written = matrix["from"]
    if not isinstance(written, str):
        return None, None, None  # the shape check says so
    try:
        nearby, table = ctx.refs.table(ctx.source, written)
    except Unreadable as exc:
        findings.append(Finding((*mpath, "from"), str(exc), at=exc.place))
        return None, None, None
    header: Place = (nearby.shown, *table.header)
    for p in table.problems:
        findings.append(Finding((*mpath, "from"), p.message, at=(nearby.shown, p.line, p.col)))
    variables = set(table.columns) if table.columns else None
    if table.problems:
        return None, variables, header
    rows = [Combination(r.values, data=nearby.shown, line=r.line) for r in table.rows]
    return data_combinations(rows, table.columns, matrix, mpath, findings), variables, header


def _make_entries(
    expansion: SessionExpansion,
    name: Any,
    request: dict[str, Any],
    combos: list[Combination],
    ctx: _Context,
) -> None:
    """One entry per combination, with findings for names that are bad or repeated."""
    source, out = ctx.source, ctx.out
    line = ctx.doc.node(expansion.path).line
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
        row = combo.values if combo.data else None
        files = body.pop(ATTACHMENTS, None)
        attached = _attachments(files, expansion, text if len(combos) > 1 else "", ctx)
        entry = Entry(
            stand_in,
            source.file,
            source.path,
            line,
            body,
            ctx.run_key,
            row,
            matrix=combo.values,
            attachments=attached,
        )
        expansion.entries.append(entry)
    out.findings.extend(bad_name_findings(name_path, bad))
    out.findings.extend(repeated_name_findings(expansion.path, repeats))


def _attachments(
    files: Any, expansion: SessionExpansion, entry: str, ctx: _Context
) -> tuple[Attachment, ...]:
    """The entry's attachments, each file read once per check; one that cannot be used is
    a finding at its place in the manifest (or in the file), naming `entry` (one of a
    matrix's) when its path is templated. A value that is not a list of strings is left to
    the shape check, a path whose template is wrong to the template's finding."""
    if not isinstance(files, list):
        return ()
    origin = expansion.origins.get(ATTACHMENTS, ())
    templated = ATTACHMENTS in expansion.templated and expansion.names_known and entry
    found: list[Attachment] = []
    for index, written in enumerate(files):
        place = (*origin, index)
        if not isinstance(written, str) or not written or not expansion.checked(place):
            continue
        try:
            nearby, digest, size = ctx.refs.blob(ctx.source, written)
        except Unreadable as exc:
            note = f" (in entry `{entry}`)" if templated and exc.place is None else ""
            ctx.out.findings.append(Finding(place, f"{exc}{note}", at=exc.place))
            continue
        name = os.path.basename(nearby.shown)
        found.append(Attachment(name, nearby.shown, digest, size))
    return tuple(found)
