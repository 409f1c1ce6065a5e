"""Structured outputs for sandbox sessions: from a Draft 7 schema, one instance that
conforms, one that does not, and the partial object a working session shows.

Every instance is checked with jsonschema before it is used, so "conforming" is never a
guess; results are cached per schema, since a batch usually shares one.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonschema import Draft7Validator

_MAX_DEPTH = 12  # deeper (or recursive via $ref) schemas get the simplest value there
_RICH_DEPTH = 3  # below this, only what is required: recursive schemas then bottom out
_TEXT = "sandbox"
_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "email": "devin@example.invalid",
    "uri": "https://example.invalid/sandbox",
    "url": "https://example.invalid/sandbox",
    "hostname": "example.invalid",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_OFF_TYPE_VALUES: tuple[Any, ...] = (
    "sandbox: not what the schema asked for",
    12345,
    ["not", "what", "was", "asked"],
    None,
    False,
    {"sandbox": "not what the schema asked for"},
)


@dataclass(frozen=True)
class Outputs:
    """The two final outputs for one schema; `invalid` is None when the schema accepts
    everything (nothing can violate it)."""

    valid: Any
    invalid: Any


def outputs_for(schema: Any) -> Outputs | None:
    """Outputs for `schema`, or None when it is not a usable Draft 7 schema."""
    if not isinstance(schema, dict):
        return None
    try:
        # Key order kept: it orders the output's fields (and so what `partial` shows).
        text = json.dumps(schema, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    return _cached(text)


def partial(final: Any, fraction: float) -> Any:
    """What a session shows while working: the first `fraction` of the final object's
    keys (Devin's notepad fills in as it goes); None before the first key or for a
    non-object output."""
    if not isinstance(final, dict):
        return None
    keys = list(final)
    shown = int(len(keys) * max(0.0, min(1.0, fraction)))
    if shown == 0:
        return None
    return {key: final[key] for key in keys[:shown]}


@lru_cache(maxsize=256)
def _cached(text: str) -> Outputs | None:
    schema = json.loads(text)
    try:
        Draft7Validator.check_schema(schema)
        validator = Draft7Validator(schema)
        # A schema that asks for nothing in particular gets Devin's most common answer.
        example = _example(schema, schema, 0)
        fallbacks: list[Any] = [{"success": True}, None, {}, [], "", 0]
        candidates = fallbacks if example is None else [example, *fallbacks]
        valid = next((c for c in candidates if validator.is_valid(c)), _NONE)
        if valid is _NONE:
            return None
        invalid = next((c for c in _breakages(valid, schema) if not validator.is_valid(c)), None)
    except Exception:  # a hostile schema (bad regex, deep recursion) gives no output
        return None
    return Outputs(valid=valid, invalid=invalid)


_NONE = object()


def _breakages(valid: Any, schema: dict[str, Any]) -> list[Any]:
    """Candidates for a non-conforming output, the most realistic first: a required
    field missing, then a field of the wrong type, then a wrong value altogether."""
    found: list[Any] = []
    if isinstance(valid, dict):
        for name in schema.get("required") or []:
            if name in valid:
                found.append({k: v for k, v in valid.items() if k != name})
                break
        for name, value in valid.items():
            wrong = "not a number" if not isinstance(value, str) else 12345
            found.append({**valid, name: wrong})
            break
    found.extend(_OFF_TYPE_VALUES)
    return found


def _resolve(schema: Any, root: dict[str, Any]) -> Any:
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < _MAX_DEPTH:
        ref: str = schema["$ref"]
        if not ref.startswith("#"):
            return {}
        target: Any = root
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        schema = target if target is not None else {}
        seen += 1
    return schema


def _example(schema: Any, root: dict[str, Any], depth: int) -> Any:
    """A value meant to conform to `schema` (the caller checks that it does)."""
    schema = _resolve(schema, root)
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("allOf", "anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            merged = {k: v for k, v in schema.items() if k != key}
            first = _resolve(branches[0], root)
            if isinstance(first, dict):
                merged = {**first, **merged} if key != "allOf" else _merge(merged, branches, root)
            return _example(merged, root, depth + 1)
    kind = _kind(schema)
    if kind == "object":
        return _object(schema, root, depth)
    if kind == "array":
        return _array(schema, root, depth)
    if kind == "string":
        return _string(schema)
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return True
    return None


def _merge(base: dict[str, Any], branches: list[Any], root: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for branch in branches:
        branch = _resolve(branch, root)
        if not isinstance(branch, dict):
            continue
        for key, value in branch.items():
            if key == "properties" and isinstance(value, dict):
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _kind(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def _int(schema: dict[str, Any], key: str) -> int | None:
    value = schema.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number_at(schema: dict[str, Any], key: str) -> float | None:
    value = schema.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _object(schema: dict[str, Any], root: dict[str, Any], depth: int) -> dict[str, Any]:
    found = schema.get("properties")
    properties: dict[str, Any] = found if isinstance(found, dict) else {}
    listed = schema.get("required")
    required = [n for n in listed if isinstance(n, str)] if isinstance(listed, list) else []
    optional = [n for n in properties if n not in required] if depth < _RICH_DEPTH else []
    names = [*required, *optional]
    limit = _int(schema, "maxProperties")
    if limit is not None:
        names = names[: max(limit, len(required))]
    return {name: _example(properties.get(name, {}), root, depth + 1) for name in names}


def _array(schema: dict[str, Any], root: dict[str, Any], depth: int) -> list[Any]:
    items = schema.get("items", {})
    if isinstance(items, list):  # tuple form
        return [_example(item, root, depth + 1) for item in items]
    count = max(1 if depth < _RICH_DEPTH else 0, _int(schema, "minItems") or 0)
    high = _int(schema, "maxItems")
    if high is not None:
        count = min(count, high)
    one = _example(items, root, depth + 1)
    if schema.get("uniqueItems") is True and count > 1:
        return [one] if not isinstance(one, int) else list(range(one, one + count))
    return [one] * count


def _string(schema: dict[str, Any]) -> str:
    text = _FORMATS.get(str(schema.get("format")), _TEXT)
    low = _int(schema, "minLength") or 0
    high = _int(schema, "maxLength")
    if len(text) < low:
        text += "x" * (low - len(text))
    if high is not None:
        text = text[:high]
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and not re.search(pattern, text):
        return _pattern_example(pattern) or text
    return text


def _pattern_example(pattern: str) -> str | None:
    # Only the simplest patterns: a literal prefix like "^https://". Others fall back.
    literal = re.match(r"^\^?([A-Za-z0-9 :/._-]*)", pattern)
    candidate = literal.group(1) if literal else ""
    return candidate if candidate and re.search(pattern, candidate) else None


def _number(schema: dict[str, Any], integer: bool) -> int | float:
    nudge = 1.0 if integer else 0.5  # off an exclusive bound
    low, high = _number_at(schema, "minimum"), _number_at(schema, "maximum")
    if low is None and (bound := _number_at(schema, "exclusiveMinimum")) is not None:
        low = bound + nudge
    if high is None and (bound := _number_at(schema, "exclusiveMaximum")) is not None:
        high = bound - nudge
    value = low if low is not None else (min(1.0, high) if high is not None else 1.0)
    step = _number_at(schema, "multipleOf")
    if step is not None and step > 0:
        value = step * math.ceil(value / step)  # the first multiple at or above the floor
    return math.ceil(value) if integer else value
