"""The manifest's shape (schemas/manifest.schema.json) and every expanded request against
the OpenAPI's CreateSessionParams, as findings at the manifest place a fix belongs."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.protocols import Validator

from launcher.api import openapi
from launcher.entry import Entry
from launcher.manifest.document import Document, Finding, Path
from launcher.manifest.expand import SessionExpansion
from launcher.manifest.messages import explain


@cache
def _manifest_validator() -> Validator:
    # YAML reads `3.0` as a float, and JSON Schema counts 3.0 as an integer; in a manifest
    # it is a float, so a matrix value `3.0` gets the "quote it" error like `3.10` does.
    strict = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool)
    )
    cls = validators.extend(Draft202012Validator, type_checker=strict)  # type: ignore[no-untyped-call]
    validator: Validator = cls(openapi.manifest_schema())
    return validator


def shape_findings(doc: Document) -> Iterable[Finding]:
    for error in _manifest_validator().iter_errors(doc.data):
        yield from explain(error, lambda p: p, doc)


def request_findings(session: SessionExpansion, doc: Document) -> Iterable[Finding]:
    if not session.entries:
        return
    whole, fields = openapi.create_session_validator(), openapi.field_validators()

    def to_manifest(rpath: Path) -> Path:
        if not rpath:
            return session.path
        return (*session.origins.get(str(rpath[0]), (*session.path, rpath[0])), *rpath[1:])

    first = session.entries[0]
    for error in whole.iter_errors(dict(first.request)):
        yield from explain(error, to_manifest, doc, _entry_note(session, first, error))
    for entry in session.entries[1:]:
        for name in session.templated:
            validator = fields.get(name)
            if validator is None:
                continue
            for error in validator.iter_errors(entry.request[name]):
                error.path.appendleft(name)
                yield from explain(error, to_manifest, doc, _entry_note(session, entry, error))


def _entry_note(session: SessionExpansion, entry: Entry, error: ValidationError) -> str:
    """Names the expanded entry when the value at fault comes from a matrix template."""
    field_name = error.absolute_path[0] if error.absolute_path else None
    if field_name in session.templated and len(session.entries) > 1 and session.names_known:
        return f" (in entry `{entry.name}`)"
    return ""
