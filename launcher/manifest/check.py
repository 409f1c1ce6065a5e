"""Diagnostics for manifests: YAML, the manifest schema, expansion, every request against
the OpenAPI's CreateSessionParams, Draft 7 output schemas, and names across the run.

`check` reads every file and keeps going after a bad one, and within a file past an
expansion error (checking what is still meaningful, once), so a user sees all problems
at once; it computes and never prints (a reporter renders the result).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from launcher.entry import Entry
from launcher.errors import Diagnostic
from launcher.manifest.discover import Source, SourceError, find_manifests, read_source
from launcher.manifest.document import Finding, describe, format_path
from launcher.manifest.expand import expand_file
from launcher.manifest.loader import load
from launcher.manifest.names import RunNames
from launcher.manifest.output_schema import output_schema_findings
from launcher.manifest.redact import SecretText
from launcher.manifest.requests import request_findings, shape_findings
from launcher.manifest.scalars import yaml11_surprises


@dataclass
class CheckResult:
    """Entries are meaningful only when there are no diagnostics."""

    entries: list[Entry] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: int = 0


def check(paths: Sequence[str], *, run_key: str = "") -> CheckResult:
    """Load, expand and check every manifest under `paths` (`-` reads stdin)."""
    sources, missing = find_manifests(paths)
    result = CheckResult(files=len(sources))
    diagnostics = {Diagnostic(arg, 1, 1, "", message) for arg, message in missing}
    names = RunNames()
    for source in sources:
        _check_file(source, run_key, names, result.entries, diagnostics)
    result.diagnostics = sorted(diagnostics)
    return result


def _check_file(
    source: Source,
    run_key: str,
    names: RunNames,
    entries: list[Entry],
    out: set[Diagnostic],
) -> None:
    try:
        raw = read_source(source)
    except SourceError as exc:
        out.add(Diagnostic(source.path, 1, 1, "", str(exc)))
        return
    doc = load(raw)
    hide = SecretText(doc)
    for p in doc.problems:
        message = hide(p.path, p.message, (p.line, p.col))
        out.add(Diagnostic(source.path, p.line, p.col, format_path(p.path), message))
    if doc.data is None and doc.problems:
        return
    if not isinstance(doc.data, dict):
        got = describe(doc.data)
        msg = f"the top of a manifest is a mapping with `version` and `sessions`; got {got}"
        out.add(Diagnostic(source.path, 1, 1, "", msg))
        return

    surprises = yaml11_surprises(doc)
    findings = [Finding(path, msg) for path, msg in surprises.items()]
    findings.extend(shape_findings(doc))
    expansion = expand_file(doc, source, run_key)
    findings.extend(expansion.findings)
    for session in expansion.sessions:
        checks = itertools.chain(request_findings(session, doc), output_schema_findings(session))
        findings.extend(f for f in checks if session.checked(f.path))
        if session.names_known:
            found = names.findings(
                (e.name for e in session.entries), session.path, source.path, doc
            )
            findings.extend(found)
        entries.extend(session.entries)
    # Where the YAML level already said what is wrong with a value, say nothing more.
    quiet = {p.path for p in doc.problems if p.path}
    for finding in findings:
        if finding.path in quiet or surprises.get(finding.path, finding.message) != finding.message:
            continue
        node = doc.node(finding.path)
        line, col = (node.key_line, node.key_col) if finding.at_key and node.key_line else node[:2]
        message = hide(finding.path, finding.message, node[:2])
        out.add(Diagnostic(source.path, line, col, format_path(finding.path), message))
