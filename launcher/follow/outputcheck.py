"""Checks a session's structured output against its entry's schema (Draft 7, formats
not asserted) and reports the first errors with JSON paths, bounded in number and size."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

from launcher.text import printable

MAX_ERRORS = 5
MAX_MESSAGE_CHARS = 300


def json_path(parts: Any) -> str:
    """`$.a[0].b` from a jsonschema error's absolute_path."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{printable(repr(part), 80)}]"
    return out


def check_output(
    schema: Mapping[str, Any], output: Any, dropped: str | None = None
) -> tuple[bool, list[dict[str, str]]]:
    """(conforms, first errors). No output at all does not conform: the schema asked for it."""
    if dropped is not None:
        return False, [{"path": "$", "message": dropped}]
    if output is None:
        return False, [{"path": "$", "message": "no structured output was produced"}]
    try:
        validator = Draft7Validator(dict(schema))  # no format_checker: formats not asserted
        errors = list(itertools.islice(validator.iter_errors(output), MAX_ERRORS))
    except (SchemaError, RecursionError) as exc:
        return False, [{"path": "$", "message": f"the schema cannot be applied: {exc}"[:300]}]
    found = [
        {
            "path": json_path(e.absolute_path),
            "message": printable(e.message, MAX_MESSAGE_CHARS),
        }
        for e in errors
    ]
    return not found, found
