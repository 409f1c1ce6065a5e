"""The manifest's shape (schemas/manifest.schema.json), every expanded request against
the OpenAPI's CreateSessionParams (and the v3-only fields' rules), and the fields the API
a run speaks has not, as findings at the manifest place a fix belongs."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.protocols import Validator

from launcher.api import openapi
from launcher.api.target import Generation
from launcher.api.v3 import V1_ONLY, V3_ONLY
from launcher.entry import Entry
from launcher.manifest.document import Document, Finding, Path
from launcher.manifest.expand import SessionExpansion
from launcher.manifest.matrix import MATRIX_KEYWORDS
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
    for error in _manifest_validator().iter_errors(_short_matrix_lists(doc.data)):
        yield from explain(error, lambda p: p, doc)


# What the schema says of a matrix variable: a non-empty list of strings and integers.
_MATRIX_LIST = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/matrixValue"}}
_MATRIX_VALUE = {"type": ["string", "integer"]}


@cache
def _matrix_lists_shortenable() -> bool:
    """Whether the schema says nothing more of a matrix variable's list than `_MATRIX_LIST`
    (nor of its values than `_MATRIX_VALUE`), so that `_short_matrix_lists` is exact."""
    schema = openapi.manifest_schema()
    defs = schema.get("$defs", {})
    sessions = schema.get("properties", {}).get("sessions", {})
    return bool(
        sessions.get("items") == {"$ref": "#/$defs/session"}
        and defs.get("session", {}).get("properties", {}).get("matrix")
        == {"$ref": "#/$defs/matrix"}
        and defs.get("matrix", {}).get("additionalProperties") == _MATRIX_LIST
        and defs.get("matrixValue") == _MATRIX_VALUE
    )


def _short_matrix_lists(data: Any) -> Any:
    """`data` with each matrix variable's list of strings and integers cut to its first
    value. The schema asks such a list only to be a non-empty list and each value only to
    be a string or an integer, so the shape errors are the same, and a 10,000-value matrix
    costs one value's check instead of 10,000 through jsonschema."""
    if not isinstance(data, dict) or not isinstance(data.get("sessions"), list):
        return data
    if not _matrix_lists_shortenable():
        return data
    sessions = []
    for session in data["sessions"]:
        matrix = session.get("matrix") if isinstance(session, dict) else None
        if isinstance(matrix, dict):
            short = {
                k: v[:1] if k not in MATRIX_KEYWORDS and _plain_values(v) else v
                for k, v in matrix.items()
            }
            session = {**session, "matrix": short}
        sessions.append(session)
    return {**data, "sessions": sessions}


def _plain_values(values: Any) -> bool:
    # Exactly str and int: a bool (an int to Python) or anything else is left to the schema.
    if not isinstance(values, list) or len(values) < 2:
        return False
    return all(type(v) in (str, int) for v in values)


def request_findings(session: SessionExpansion, doc: Document) -> Iterable[Finding]:
    if not session.entries:
        return
    whole, fields = openapi.request_validator(), openapi.field_validators()

    def to_manifest(rpath: Path) -> Path:
        if not rpath:
            return session.path
        return (*session.origins.get(str(rpath[0]), (*session.path, rpath[0])), *rpath[1:])

    first = session.entries[0]
    for error in whole.iter_errors(dict(first.request)):
        yield from explain(error, to_manifest, doc, _entry_note(session, first, error))
    plain = _plain_types()
    for entry in session.entries[1:]:
        for name in session.templated:
            validator = fields.get(name)
            if validator is None or type(entry.request[name]) in plain.get(name, ()):
                continue
            for error in validator.iter_errors(entry.request[name]):
                error.path.appendleft(name)
                yield from explain(error, to_manifest, doc, _entry_note(session, entry, error))


# Keywords that say nothing of what a value may be.
_ANNOTATIONS = frozenset({"title", "description", "default", "examples"})
_JSON_TYPES: dict[str, type] = {"string": str, "boolean": bool, "null": type(None)}


@cache
def _plain_types() -> dict[str, tuple[type, ...]]:
    """Request fields whose schema says nothing but a type (or an `anyOf` of such), with the
    Python types their values have (exactly): a value of one of them is valid without
    asking jsonschema, 10,000 entries' prompts included; any other value is asked."""
    plain: dict[str, tuple[type, ...]] = {}
    for name, schema in openapi.request_params()["properties"].items():
        branches = schema["anyOf"] if set(schema) - _ANNOTATIONS == {"anyOf"} else [schema]
        types = []
        for branch in branches:
            if not isinstance(branch, dict) or set(branch) - _ANNOTATIONS != {"type"}:
                break
            if not isinstance(branch["type"], str) or branch["type"] not in _JSON_TYPES:
                break
            types.append(_JSON_TYPES[branch["type"]])
        else:
            plain[name] = tuple(types)
    return plain


def _entry_note(session: SessionExpansion, entry: Entry, error: ValidationError) -> str:
    """Names the expanded entry when the value at fault comes from a matrix template."""
    field_name = error.absolute_path[0] if error.absolute_path else None
    if field_name in session.templated and len(session.entries) > 1 and session.names_known:
        return f" (in entry `{entry.name}`)"
    return ""


def api_findings(doc: Document, generation: Generation, why: str) -> Iterable[Finding]:
    """Each v3-only field where a run that speaks v1 would send it, at its key: v1 would
    refuse it, and leaving it out would change the task. `why` says what chose v1."""
    if generation != "v1" or not isinstance(doc.data, dict):
        return
    places: list[tuple[Path, Any]] = [(("defaults",), doc.data.get("defaults"))]
    sessions = doc.data.get("sessions")
    if isinstance(sessions, list):
        places += [(("sessions", i), s) for i, s in enumerate(sessions)]
    for place, values in places:
        if not isinstance(values, dict):
            continue
        for name in (k for k in values if k in V3_ONLY):
            yield Finding(
                (*place, name),
                f"`{name}` exists only in the Devin API v3, and this run speaks v1 ({why}); "
                "leaving it out would change the task: speak v3 (a cog_ service-user key in "
                f"DEVIN_API_KEY, or --api v3, with DEVIN_ORG_ID) or remove `{name}`",
                at_key=True,
            )


def v1_only_warning(entries: Iterable[Entry], generation: Generation) -> str | None:
    """One warning naming the fields only v1 has, when the run speaks v3: they are not sent
    (the client leaves them out), which may change what a session does."""
    if generation != "v3":
        return None
    users = [e for e in entries if any(k in e.request for k in V1_ONLY)]
    if not users:
        return None
    names = sorted({k for e in users for k in V1_ONLY if k in e.request})
    many = len(names) > 1
    return (
        f"warning: {', '.join(names)} exist{'' if many else 's'} only in the API v1: not "
        f"sent to v3 ({len(users)} entr{'ies' if len(users) > 1 else 'y'}, e.g. "
        f"{users[0].entry_id}); remove {'them' if many else 'it'} from the manifests"
    )
