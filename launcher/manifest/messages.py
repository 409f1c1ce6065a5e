"""jsonschema errors → findings whose messages name the fix: the branch of an `anyOf` that
was meant, a type in words with a "quote it" hint, the close spelling of an unknown key."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from jsonschema import ValidationError

from launcher.manifest.document import (
    Document,
    Finding,
    Node,
    Path,
    describe,
    quote_hint,
    visible,
)
from launcher.manifest.templates import MATRIX_TEMPLATE

_SHOWN_CHARS = 60  # of a string value shown in a message
_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LIST_ITEMS = re.compile(r"[\w./@+-]+(, ?[\w./@+-]+)*")
_BOOLEAN_WORDS = {"true": "true", "false": "false", "yes": "true", "no": "false"}
_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}


def explain(
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
                yield from explain(sub, to_manifest, doc, note)
            return
        expected = [t for s in error.context for t in _as_list(s.validator_value)]
        written = doc.value(path) if doc is not None else instance
        yield Finding(path, _type_message(expected, instance, node, path, written) + note)
    elif kind == "type":
        written = doc.value(path) if doc is not None else instance
        yield Finding(path, _type_message(_as_list(value), instance, node, path, written) + note)
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


def _type_message(expected: list[str], instance: Any, node: Node, path: Path, written: Any) -> str:
    words = " or ".join(dict.fromkeys(_TYPE_WORDS.get(t, t) for t in expected))
    got = describe(instance)
    if instance is None and node.plain == "":
        got = "nothing (an empty value)"
    hint = quote_hint(node) if "string" in expected else ""
    if isinstance(instance, str) and "session_secrets" not in path:  # may be a misplaced secret
        got = f"the string {_shown_string(instance)}"
        hint = _unquote_hint(expected, instance, written)
    return f"expected {words}, got {got}{hint}"


def _shown_string(text: str) -> str:
    short = text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
    return visible(json.dumps(short, ensure_ascii=False))


def _unquote_hint(expected: list[str], text: str, written: Any) -> str:
    """What to write instead of a string that should have been a number, a boolean or a
    list: the quotes removed (or, when a template made it, the matrix value's quotes)."""
    fix = ""
    number = _INTEGER.fullmatch(text) if "integer" in expected else None
    if "number" in expected:
        number = _NUMBER.fullmatch(text)
    if number:
        fix = text
    elif "boolean" in expected and text.lower() in _BOOLEAN_WORDS:
        fix = _BOOLEAN_WORDS[text.lower()]
    elif "array" in expected and _LIST_ITEMS.fullmatch(text):
        return f"; write a list: [{text}]" if written == text else ""
    if not fix:
        return ""
    if written == text:
        return f"; remove the quotes: {fix}" if fix == text else f"; write {fix}, without quotes"
    if isinstance(written, str) and MATRIX_TEMPLATE.fullmatch(written):
        return f"; the matrix value is quoted: write it as {fix}"
    return ""


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
