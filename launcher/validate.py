"""Diagnostics for manifests: YAML, the manifest schema, expansion, every request against
the OpenAPI's CreateSessionParams, Draft 7 output schemas, and names across the run.

`check` reads every file and keeps going after a bad one, so a user sees all problems
at once; it computes and never prints (`report.print_check` renders the result).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml
from jsonschema import Draft7Validator, Draft202012Validator, ValidationError, validators
from jsonschema.protocols import Validator

from launcher.api import openapi
from launcher.entry import Entry, canonical_json, is_secret_value
from launcher.errors import Diagnostic
from launcher.manifest import Finding, SessionExpansion, Source, expand_file, find_manifests
from launcher.yamlload import Document, Node, Path, describe, format_path, load, quote_hint

MAX_OUTPUT_SCHEMA_BYTES = 65_536
DRAFT7_URI = "http://json-schema.org/draft-07/schema#"
DRAFT7_IDS = {
    f"{scheme}://json-schema.org/draft-07/schema{hash_}"
    for scheme in ("http", "https")
    for hash_ in ("", "#")
}
_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}
_SCHEMA_KEYWORDS = (
    *("additionalItems", "additionalProperties", "contains", "propertyNames"),
    *("not", "if", "then", "else", "items"),
)
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "items")
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs", "dependencies")
_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
SECRET_MESSAGE = "expected a string; quote the value (secret values are never shown)"


@dataclass
class CheckResult:
    """Entries are meaningful only when there are no diagnostics."""

    entries: list[Entry] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: int = 0


def check(paths: Sequence[str], *, run_key: str = "") -> CheckResult:
    """Load, expand and check every manifest under `paths`."""
    sources, missing = find_manifests(paths)
    result = CheckResult(files=len(sources))
    diagnostics = {Diagnostic(arg, 1, 1, "", message) for arg, message in missing}
    names: dict[str, tuple[str, int, Path]] = {}
    for source in sources:
        _check_file(source, run_key, names, result.entries, diagnostics)
    result.diagnostics = sorted(diagnostics)
    return result


def _check_file(
    source: Source,
    run_key: str,
    names: dict[str, tuple[str, int, Path]],
    entries: list[Entry],
    out: set[Diagnostic],
) -> None:
    try:
        with open(source.path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        out.add(Diagnostic(source.path, 1, 1, "", f"cannot read the file: {exc.strerror}"))
        return
    doc = load(raw)
    hide = _SecretText(doc)
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

    surprises = _yaml11_surprises(doc)
    findings = [Finding(path, msg) for path, msg in surprises.items()]
    findings.extend(_shape_findings(doc))
    expansion = expand_file(doc, source, run_key)
    findings.extend(expansion.findings)
    for session in expansion.sessions:
        findings.extend(_request_findings(session, doc))
        findings.extend(_output_schema_findings(session))
        findings.extend(_name_findings(session, source, doc, names))
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


def _yaml11_surprises(doc: Document) -> dict[Path, str]:
    """Plain scalars YAML 1.1 reads as something a user rarely means (SPEC §3.2): dates,
    and integers not written in plain decimal (`010` is 8, `0x1F` 31, `1:30` 90)."""
    out: dict[Path, str] = {}
    for path, node in doc.nodes.items():
        text = node.plain
        if text is None or not path or path[0] not in ("version", "defaults", "sessions"):
            continue
        if node.kind == "date" and path[0] != "version":
            out[path] = f'`{text}` is read by YAML as a date, not a string; quote it: "{text}"'
        elif node.kind == "int" and not _DECIMAL.fullmatch(text):
            number = yaml.safe_load(text)
            out[path] = (
                f"`{text}` is read by YAML 1.1 as the integer {number}; "
                f'quote it ("{text}") or write {number}'
            )
    return out


class _SecretText:
    """Keeps secret values out of messages (SPEC §8): a message about a secret value that
    would show its text (a quote hint, a YAML reading) becomes one that does not."""

    def __init__(self, doc: Document) -> None:
        self.positions: set[tuple[int, int]] = set()
        self.texts: dict[Path, list[str]] = {}
        for path, node in doc.nodes.items():
            if is_secret_value(path):
                self.positions.add(node[:2])
                value = _value_at(doc.data, path)
                shown = [node.plain or ""]
                if isinstance(value, (str, int, float)):
                    shown.append(str(value))
                self.texts[path] = [t for t in shown if t]

    def __call__(self, path: Path, message: str, position: tuple[int, int]) -> str:
        if not (is_secret_value(path) or position in self.positions):
            return message
        if "template" in message or "matrix variable" in message:
            return message  # about `${{ … }}`, never the text around it
        if "`" in message or any(t in message for t in self.texts.get(path, ())):
            return SECRET_MESSAGE
        return message


def _value_at(data: Any, path: Path) -> Any:
    for part in path:
        if isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


# --- the manifest's shape -----------------------------------------------------------


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


def _shape_findings(doc: Document) -> Iterable[Finding]:
    for error in _manifest_validator().iter_errors(doc.data):
        yield from _explain(error, lambda p: p, doc)


# --- requests against CreateSessionParams -------------------------------------------


def _request_findings(session: SessionExpansion, doc: Document) -> Iterable[Finding]:
    if not session.entries:
        return
    whole, fields = openapi.create_session_validator(), openapi.field_validators()

    def to_manifest(rpath: Path) -> Path:
        if not rpath:
            return session.path
        return (*session.origins.get(str(rpath[0]), (*session.path, rpath[0])), *rpath[1:])

    first = session.entries[0]
    for error in whole.iter_errors(dict(first.request)):
        yield from _explain(error, to_manifest, doc, _entry_note(session, first, error))
    for entry in session.entries[1:]:
        for name in session.templated:
            validator = fields.get(name)
            if validator is None:
                continue
            for error in validator.iter_errors(entry.request[name]):
                error.path.appendleft(name)
                yield from _explain(error, to_manifest, doc, _entry_note(session, entry, error))


def _entry_note(session: SessionExpansion, entry: Entry, error: ValidationError) -> str:
    """Names the expanded entry when the value at fault comes from a matrix template."""
    field_name = error.absolute_path[0] if error.absolute_path else None
    if field_name in session.templated and len(session.entries) > 1:
        return f" (in entry `{entry.name}`)"
    return ""


# --- structured_output_schema (SPEC §3.5) -------------------------------------------


@cache
def _draft7_meta() -> Draft7Validator:
    return Draft7Validator(Draft7Validator.META_SCHEMA)


def _output_schema_findings(session: SessionExpansion) -> Iterable[Finding]:
    base = session.origins.get("structured_output_schema")
    if base is None:
        return
    seen: set[str] = set()
    for entry in session.entries:
        schema = entry.request.get("structured_output_schema")
        if not isinstance(schema, dict):
            return  # its type is the request check's business
        encoded = canonical_json(schema)
        if encoded in seen:
            continue
        seen.add(encoded)
        yield from check_output_schema(schema, base, len(encoded.encode()))
        if "structured_output_schema" not in session.templated:
            return


def check_output_schema(schema: dict[str, Any], base: Path, size: int) -> Iterable[Finding]:
    """Draft 7 meta-schema, `$schema`, local `$ref`s that resolve, and the 64 KiB cap."""
    for error in _draft7_meta().iter_errors(schema):
        for f in _explain(error, lambda p: (*base, *p), None):
            yield f._replace(message=f"not a valid Draft 7 schema: {f.message}")
    declared = schema.get("$schema")
    if isinstance(declared, str) and declared not in DRAFT7_IDS:  # else: the meta-schema said
        msg = f"`$schema` must name Draft 7 ({DRAFT7_URI}), not `{declared}`"
        yield Finding((*base, "$schema"), msg)
    for path, ref in _refs(schema, ()):
        if not ref.startswith("#"):
            msg = f"`$ref: {ref}` is not local; refer only inside the schema (`#/definitions/…`)"
            yield Finding((*base, *path, "$ref"), msg)
        elif not _resolves(schema, ref):
            yield Finding(
                (*base, *path, "$ref"), f"`$ref: {ref}` does not resolve inside the schema"
            )
    if size > MAX_OUTPUT_SCHEMA_BYTES:
        msg = f"the schema is {size:,} bytes as compact JSON; the API takes at most 65,536 (64 KiB)"
        yield Finding(base, msg)


def _refs(schema: Any, path: Path) -> Iterable[tuple[Path, str]]:
    """Every `$ref` in a schema, walking only places that hold subschemas (so a property
    named `$ref` is not mistaken for a reference)."""
    if not isinstance(schema, dict):
        return
    if isinstance(schema.get("$ref"), str):
        yield path, schema["$ref"]
    for key in _SCHEMA_KEYWORDS:
        if isinstance(schema.get(key), dict):
            yield from _refs(schema[key], (*path, key))
    for key in _SCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            for i, sub in enumerate(schema[key]):
                yield from _refs(sub, (*path, key, i))
    for key in _SCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            for name, sub in schema[key].items():
                yield from _refs(sub, (*path, key, name))


def _resolves(schema: dict[str, Any], ref: str) -> bool:
    from urllib.parse import unquote

    fragment = unquote(ref[1:])
    if not fragment:
        return True
    if not fragment.startswith("/"):  # a plain-name fragment: an `$id: "#name"` somewhere
        return _has_id(schema, "#" + fragment)
    node: Any = schema
    for token in fragment[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and _ARRAY_INDEX.fullmatch(token) and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True


def _has_id(value: Any, wanted: str) -> bool:
    if isinstance(value, dict):
        if value.get("$id") == wanted:
            return True
        return any(_has_id(v, wanted) for v in value.values())
    if isinstance(value, list):
        return any(_has_id(v, wanted) for v in value)
    return False


# --- names across the run -----------------------------------------------------------


def _name_findings(
    session: SessionExpansion,
    source: Source,
    doc: Document,
    names: dict[str, tuple[str, int, Path]],
) -> Iterable[Finding]:
    name_path: Path = (*session.path, "name")
    here = (source.path, doc.node(name_path).line, session.path)
    clashes: dict[tuple[str, int, Path], list[str]] = {}
    for entry in session.entries:
        other = names.setdefault(entry.name, here)
        if other != here:
            clashes.setdefault(other, []).append(entry.name)
    for (file, line, path), clash in clashes.items():
        more = f", and {len(clash) - 1} more names of this matrix" if len(clash) > 1 else ""
        msg = (
            f"name `{clash[0]}` is already used at {file}:{line} ({format_path(path)}){more}; "
            "names must be unique across the run"
        )
        yield Finding(name_path, msg)


# --- jsonschema errors → findings with messages that name the fix -------------------


def _explain(
    error: ValidationError,
    to_manifest: Callable[[Path], Path],
    doc: Document | None,
    note: str = "",
) -> Iterable[Finding]:
    path = to_manifest(tuple(error.absolute_path))
    node = doc.node(path) if doc is not None else Node(1, 1)
    kind = error.validator
    value: Any = error.validator_value
    instance: Any = error.instance
    if kind in ("anyOf", "oneOf") and error.context:
        # Report the branch whose type matched (its real complaint); if none matched,
        # one type error listing every type that would do.
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        real = [
            sub
            for subs in branches.values()
            if not all(s.validator == "type" and not s.relative_path for s in subs)
            for sub in subs
        ]
        if real:
            for sub in real:
                yield from _explain(sub, to_manifest, doc, note)
            return
        expected = [t for s in error.context for t in _as_list(s.validator_value)]
        yield Finding(path, _type_message(expected, instance, node) + note)
    elif kind == "type":
        yield Finding(path, _type_message(_as_list(value), instance, node) + note)
    elif kind == "required":
        for key in value:
            if isinstance(instance, dict) and key not in instance:
                yield Finding(path, _missing(key, path) + note)
    elif kind == "additionalProperties" and isinstance(instance, dict):
        allowed = list(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []
        patterns = (
            list(error.schema.get("patternProperties", {}))
            if isinstance(error.schema, dict)
            else []
        )
        for key in instance:
            if key not in allowed and not any(re.search(p, key) for p in patterns):
                yield Finding((*path, key), _unknown_key(key, allowed, path), at_key=True)
    elif "propertyNames" in error.relative_schema_path:
        msg = (
            f"`{instance}` is not a valid variable name: use letters, digits, `_` and `-`, "
            "starting with a letter or `_`"
        )
        yield Finding((*path, str(instance)), msg, at_key=True)
    else:
        yield Finding(path, _other_message(error) + note)


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _type_message(expected: list[str], instance: Any, node: Node) -> str:
    words = " or ".join(dict.fromkeys(_TYPE_WORDS.get(t, t) for t in expected))
    got = describe(instance)
    if instance is None and node.plain == "":
        got = "nothing (an empty value)"
    hint = quote_hint(node) if "string" in expected else ""
    return f"expected {words}, got {got}{hint}"


def _missing(key: str, path: Path) -> str:
    if key == "prompt" and len(path) == 2:
        return "`prompt` is required: give it in the session or in `defaults`"
    if key == "version":
        return "`version` is required: add `version: 1` at the top"
    return f"`{key}` is required"


def _unknown_key(key: str, allowed: list[str], path: Path) -> str:
    if path == ("defaults",) and key in ("name", "matrix"):
        return f"`{key}` cannot have a default: set it in each session"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key `{key}`; did you mean `{close[0]}`?"
    listed = ", ".join(allowed) + (", or an `x-` key" if not path else "")
    return f"unknown key `{key}`; allowed here: {listed}"


def _other_message(error: ValidationError) -> str:
    kind = error.validator
    value: Any = error.validator_value
    instance: Any = error.instance
    if kind == "const":
        return f"must be {json.dumps(value)}, got {describe(instance)}"
    if kind == "enum":
        return (
            "must be one of "
            + ", ".join(json.dumps(v) for v in value)
            + f", got {json.dumps(instance)}"
        )
    if kind in ("minItems", "minProperties") and value == 1:
        return "must not be empty"
    if kind == "minLength" and value == 1:
        return "must not be empty"
    if kind == "maxItems":
        return f"at most {value} items are allowed, got {len(instance)}"
    if kind == "minItems":
        return f"at least {value} items are needed, got {len(instance)}"
    if kind == "maxLength":
        return f"at most {value:,} characters are allowed, got {len(instance):,}"
    if kind == "minLength":
        return f"at least {value:,} characters are needed, got {len(instance):,}"
    if kind == "exclusiveMinimum":
        return f"must be greater than {value}, got {instance}"
    if kind == "minimum":
        return f"must be at least {value}, got {instance}"
    if kind == "maximum":
        return f"must be at most {value}, got {instance}"
    if kind == "exclusiveMaximum":
        return f"must be less than {value}, got {instance}"
    return str(error.message)
