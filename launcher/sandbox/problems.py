"""A POST /v1/sessions body → parsed JSON, or FastAPI-style 422 `detail` items.

The rules come from `launcher.api.openapi.create_session_validator()`, the one source the
launcher validates against too, and `structured_output_schema` gets the launcher's own
Draft 7 checks (the meta-schema, only local `$ref`s, at most 64 KiB), as Devin documents.
Messages are written here from the schema's keyword values, never from jsonschema's own
messages: those quote the offending value, and that value may be a secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

from launcher.api.openapi import create_session_validator
from launcher.entry import canonical_json
from launcher.manifest.output_schema import check_output_schema

Problem = dict[str, Any]  # {"loc": [...], "msg": str, "type": str}

_TYPES = {  # JSON Schema type → (pydantic-like wording, error type)
    "string": ("a valid string", "string_type"),
    "integer": ("a valid integer", "int_type"),
    "number": ("a valid number", "float_type"),
    "boolean": ("a valid boolean", "bool_type"),
    "array": ("a valid list", "list_type"),
    "object": ("a valid dictionary", "dict_type"),
    "null": ("None", "none_required"),
}

_BOUNDS = {  # keyword → (message template, error type); {v} is the schema's own value
    "exclusiveMinimum": ("Input should be greater than {v}", "greater_than"),
    "minimum": ("Input should be greater than or equal to {v}", "greater_than_equal"),
    "exclusiveMaximum": ("Input should be less than {v}", "less_than"),
    "maximum": ("Input should be less than or equal to {v}", "less_than_equal"),
    "maxItems": ("List should have at most {v} item{s}", "too_long"),
    "minItems": ("List should have at least {v} item{s}", "too_short"),
    "maxLength": ("String should have at most {v} character{s}", "string_too_long"),
    "minLength": ("String should have at least {v} character{s}", "string_too_short"),
    "maxProperties": ("Object should have at most {v} propert{ies}", "too_long"),
    "pattern": ("String should match pattern '{v}'", "string_pattern_mismatch"),
}


def parse_json(raw: bytes) -> tuple[Any, Problem | None]:
    """The body decoded as JSON, or the one problem that stops decoding it."""
    if not raw.strip():
        return None, _problem([], "Field required", "missing")
    try:
        return json.loads(raw.decode("utf-8")), None
    except UnicodeDecodeError as exc:
        return None, _problem([exc.start], "JSON decode error: not UTF-8", "json_invalid")
    except json.JSONDecodeError as exc:
        # exc.msg is the parser's complaint ("Expecting value"), without the document.
        return None, _problem([exc.pos], f"JSON decode error: {exc.msg}", "json_invalid")


def check_body(data: Any, validator: Draft202012Validator | None = None) -> list[Problem]:
    """Every problem of a decoded body against CreateSessionParams (or the validator of
    another create request, v3's); empty when valid."""
    problems: list[Problem] = []
    for error in (validator or create_session_validator()).iter_errors(data):
        for found in _problems(error):
            if found not in problems:
                problems.append(found)
    schema = data.get("structured_output_schema") if isinstance(data, dict) else None
    if not problems and isinstance(schema, dict):
        problems += output_schema_problems(schema)
    return problems


def output_schema_problems(schema: dict[str, Any]) -> list[Problem]:
    """A structured_output_schema that is not a self-contained Draft 7 schema of at most
    64 KiB: one `value_error` item per finding, at the keyword that is wrong."""
    found = _schema_findings(canonical_json(schema))
    return [_problem(list(path), message, "value_error") for path, message in found]


@lru_cache(maxsize=64)
def _schema_findings(text: str) -> tuple[tuple[tuple[Any, ...], str], ...]:
    # A batch sends one schema thousands of times: it is checked once.
    where = ("structured_output_schema",)
    found = check_output_schema(json.loads(text), where, len(text.encode()))
    return tuple((tuple(f.path), f.message) for f in found)


def problem(loc: Iterable[Any], msg: str, kind: str = "value_error") -> Problem:
    """One FastAPI-style `detail` item (every 422 the sandbox sends is a list of these)."""
    return {"loc": list(loc), "msg": msg, "type": kind}


def _problem(path: Iterable[Any], msg: str, kind: str) -> Problem:
    return {"loc": ["body", *path], "msg": msg, "type": kind}


def _problems(error: ValidationError) -> list[Problem]:
    path = list(error.absolute_path)
    keyword = str(error.validator)
    value: Any = error.validator_value
    schema: Any = error.schema
    if keyword in ("anyOf", "oneOf") and error.context:
        return [p for sub in _branch_errors(error.context) for p in _problems(sub)]
    if keyword == "type":
        expected = [value] if isinstance(value, str) else list(value)
        wording = " or ".join(_TYPES.get(t, (t, t))[0] for t in expected)
        return [
            _problem(path, f"Input should be {wording}", _TYPES.get(expected[0], ("", "type"))[1])
        ]
    if keyword == "required" and isinstance(error.instance, dict):
        missing = [name for name in value if name not in error.instance]
        return [_problem([*path, name], "Field required", "missing") for name in missing]
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        known = set(schema.get("properties", {}))
        extra = [name for name in error.instance if name not in known]
        return [
            _problem([*path, n], "Extra inputs are not permitted", "extra_forbidden") for n in extra
        ]
    if keyword in _BOUNDS:
        template, kind = _BOUNDS[keyword]
        one = value == 1
        msg = template.format(v=value, s="" if one else "s", ies="y" if one else "ies")
        return [_problem(path, msg, kind)]
    if keyword in ("enum", "const"):
        return [_problem(path, "Input should be one of the allowed values", "enum")]
    return [_problem(path, f"Input does not satisfy the '{keyword}' rule", keyword)]


def _branch_errors(errors: Iterable[ValidationError]) -> list[ValidationError]:
    """Every failure of the anyOf branch that best fits the value.

    The OpenAPI writes optional fields as `anyOf: [<the real rule>, {type: null}]`; the
    null branch's failure says nothing useful, so it is set aside when others exist. All
    of the chosen branch's failures are kept: a secret with an empty key and an
    over-long value is two problems.
    """
    errors = list(errors)
    real = [e for e in errors if not (e.validator == "type" and e.validator_value == "null")]
    chosen = best_match(real or errors)
    assert chosen is not None  # never empty: the caller checked error.context
    # Climb from a nested match back to this level's error to learn its branch index.
    while chosen.parent is not None and chosen not in errors:
        chosen = chosen.parent
    branch = chosen.relative_schema_path[0]
    return [e for e in errors if e.relative_schema_path[0] == branch]


def repeated(query: Any, names: Iterable[str]) -> list[Problem]:
    """A 422 item for each single-valued query parameter given more than once (FastAPI
    would refuse the list it then sees)."""
    return [
        problem(["query", name], "Input should be a single value", "too_long")
        for name in names
        if len(query.getlist(name)) > 1
    ]
