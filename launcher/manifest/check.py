"""Diagnostics for manifests: YAML, the manifest schema, expansion, every request against
the OpenAPI's CreateSessionParams, Draft 7 output schemas, and names across the run.

`check` reads every file and keeps going after a bad one, and within a file past an
expansion error (checking what is still meaningful, once), so a user sees all problems
at once; it computes and never prints (a reporter renders the result).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from launcher.api.target import Generation
from launcher.entry import Entry
from launcher.errors import Diagnostic
from launcher.manifest.discover import Source, SourceError, find_manifests, read_source
from launcher.manifest.document import Finding, describe, format_path
from launcher.manifest.expand import expand_file
from launcher.manifest.loader import load
from launcher.manifest.names import RunNames
from launcher.manifest.nearby import Referenced
from launcher.manifest.output_schema import output_schema_findings
from launcher.manifest.redact import SecretText
from launcher.manifest.requests import (
    api_findings,
    request_findings,
    shape_findings,
    v1_only_warning,
)
from launcher.manifest.scalars import yaml11_surprises


@dataclass
class CheckResult:
    """Entries are meaningful only when there are no diagnostics; `notes` say what was
    skipped and why (never a reason to fail)."""

    entries: list[Entry] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class _FileResult:
    entries: list[Entry] = field(default_factory=list)
    diagnostics: set[Diagnostic] = field(default_factory=set)
    rows: bool = False  # its top is a list: a data file, not a manifest


@dataclass(frozen=True)
class Speaking:
    """The API the manifests are checked for: its generation, and what chose it (said in
    the error about a field that generation has not)."""

    generation: Generation = "v1"
    why: str = "the default"


def check(paths: Sequence[str], *, run_key: str = "", api: Speaking | None = None) -> CheckResult:
    """Load, expand and check every manifest under `paths` (`-` reads stdin), for the API
    `api` (None: the fields of either API are fine, for commands that only read the
    ledger). A file a folder holds that a manifest names as a data file is not a manifest:
    it is skipped, and one no manifest names is skipped with a note."""
    sources, missing = find_manifests(paths)
    diagnostics = {Diagnostic(arg, 1, 1, "", message) for arg, message in missing}
    names = RunNames()
    refs = Referenced()
    checked = [(s, _check_file(s, run_key, names, refs, api)) for s in sources]
    result = CheckResult()
    for source, found in checked:
        named = not source.is_stdin and os.path.realpath(source.path) in refs.named
        if named or (found.rows and os.path.isdir(source.arg)):
            if not named:
                result.notes.append(
                    f"{source.path}: skipped: a list of rows, not a manifest, and no "
                    "manifest names it in `matrix: {from: …}`"
                )
            continue
        result.files += 1
        result.entries.extend(found.entries)
        diagnostics.update(found.diagnostics)
    result.files += len(refs.named)  # data and prompt files are read too
    result.diagnostics = sorted(diagnostics)
    result.notes.extend(shared_prompts(result.entries))
    warning = v1_only_warning(result.entries, api.generation) if api else None
    if warning is not None and not result.diagnostics:
        result.notes.append(warning)
    return result


def shared_prompts(entries: Sequence[Entry]) -> list[str]:
    """A warning for each prompt that idempotent entries of the run share: Devin is
    reported to match idempotent requests on the prompt alone, so they would be one
    session."""
    by_prompt: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.request.get("idempotent") is True:
            by_prompt.setdefault(str(entry.request.get("prompt")), []).append(entry)
    warnings = []
    for group in by_prompt.values():
        if len(group) < 2:
            continue
        names = [f"{e.entry_id} (line {e.line})" for e in group[:4]]
        more = f" and {len(group) - 4} more" if len(group) > 4 else ""
        shown = ", ".join(names[:-1]) + f" and {names[-1]}" if not more else ", ".join(names)
        warnings.append(
            f"warning: idempotent entries {shown}{more} share one prompt: Devin matches "
            "idempotent requests on the prompt, so they would become one session; make "
            "the prompts differ, or drop `idempotent` from all but one"
        )
    return warnings


def _check_file(
    source: Source, run_key: str, names: RunNames, refs: Referenced, api: Speaking | None
) -> _FileResult:
    found = _FileResult()
    out = found.diagnostics
    try:
        raw = read_source(source)
    except SourceError as exc:
        out.add(Diagnostic(source.path, 1, 1, "", str(exc)))
        return found
    doc = load(raw)
    hide = SecretText(doc)
    for p in doc.problems:
        message = hide(p.path, p.message, (p.line, p.col))
        out.add(Diagnostic(source.path, p.line, p.col, format_path(p.path), message))
    if doc.data is None and doc.problems:
        return found
    if not isinstance(doc.data, dict):
        # A list of rows is a data file; one that holds `version` or `sessions` is a
        # manifest written as a list by mistake, and stays an error.
        found.rows = isinstance(doc.data, list) and not any(
            isinstance(item, dict) and ("version" in item or "sessions" in item)
            for item in doc.data
        )
        got = describe(doc.data)
        msg = f"the top of a manifest is a mapping with `version` and `sessions`; got {got}"
        out.add(Diagnostic(source.path, 1, 1, "", msg))
        return found

    surprises = yaml11_surprises(doc)
    findings = [Finding(path, msg) for path, msg in surprises.items()]
    findings.extend(shape_findings(doc))
    if api is not None:
        findings.extend(api_findings(doc, api.generation, api.why))
    expansion = expand_file(doc, source, run_key, refs)
    findings.extend(expansion.findings)
    for session in expansion.sessions:
        checks = itertools.chain(request_findings(session, doc), output_schema_findings(session))
        findings.extend(f for f in checks if session.checked(f.path))
        if session.names_known:
            found_names = names.findings(
                (e.name for e in session.entries), session.path, source.path, doc
            )
            findings.extend(found_names)
        found.entries.extend(session.entries)
    # Where the YAML level already said what is wrong with a value, say nothing more.
    quiet = {p.path for p in doc.problems if p.path}
    for finding in findings:
        if finding.at is not None:
            # In a file the manifest names: said once however many sessions name it.
            out.add(Diagnostic(*finding.at, "", finding.message))
            continue
        if finding.path in quiet or surprises.get(finding.path, finding.message) != finding.message:
            continue
        node = doc.node(finding.path)
        line, col = (node.key_line, node.key_col) if finding.at_key and node.key_line else node[:2]
        message = hide(finding.path, finding.message, node[:2])
        out.add(Diagnostic(source.path, line, col, format_path(finding.path), message))
    return found
