"""YAML scalars → plain values, the YAML 1.1 way PyYAML reads them except that numbers
with an exponent read as JSON reads them (`1e-8`), with the text kept for a plain scalar
that became something other than a string (so a message can say "quote it"), and the
YAML 1.1 readings a user rarely means (dates, `010` as 8)."""

from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from launcher.manifest.document import Document, Node, Path

TAG = "tag:yaml.org,2002:"
STR, NULL, BOOL, INT, FLOAT = (TAG + t for t in ("str", "null", "bool", "int", "float"))
TIMESTAMP, MERGE = TAG + "timestamp", TAG + "merge"
COLLECTION_TAGS = ("!", TAG + "map", TAG + "seq")
_SCALAR_TAGS = {STR, NULL, BOOL, INT, FLOAT, TIMESTAMP, "!"}
_NULL_TEXTS = ("", "~", "null", "Null", "NULL")
_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")
# Numbers with an exponent that JSON and YAML 1.2 read as numbers but YAML 1.1 as strings
# (it wants a dot and a signed exponent: `1.0e+3`): `1e-8`, `1E+3`, `-2.5e10`, `5e3`.
_EXPONENT_NUMBER = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+")

_resolver = Resolver()
_constructor = SafeConstructor()


def tag_of(event: yaml.ScalarEvent) -> str:
    """The tag YAML gives the scalar: its explicit one, or the one its text implies."""
    if event.tag and event.tag != "!":
        return str(event.tag)
    if event.tag == "!" or not event.implicit[0]:
        return STR
    tag = str(_resolver.resolve(yaml.ScalarNode, event.value, event.implicit))  # type: ignore[no-untyped-call]
    # JSON written as YAML means what JSON means: `multipleOf: 1e-8` is a number.
    if tag == STR and _EXPONENT_NUMBER.fullmatch(event.value):
        return FLOAT
    return tag


def read_scalar(event: yaml.ScalarEvent, node: Node) -> tuple[Any, Node, str | None]:
    """(value, node with `plain`/`kind` filled in, problem or None) for one scalar value."""
    text = event.value
    if event.tag is None and event.implicit[0] and len(text) < 20 and _DECIMAL.fullmatch(text):
        # A plain decimal integer (a matrix of 10,000 numbers): what the resolver and the
        # constructor would make of it, without them.
        return int(text), node._replace(plain=text, kind="int"), None
    tag = tag_of(event)
    if tag == STR:
        return text, node, None
    if tag not in _SCALAR_TAGS:
        return None, node, f"unsupported YAML tag `{tag}`; write plain data"
    plain = text if not event.tag else None
    if tag == TIMESTAMP:
        return text, node._replace(plain=plain or text, kind="date"), None
    invalid = f"`{text or '(empty)'}` is not a valid {tag.removeprefix(TAG)}"
    if tag == NULL and text not in _NULL_TEXTS:
        return None, node, f"{invalid}; write `null` or nothing"
    try:
        value = _constructor.construct_object(yaml.ScalarNode(tag, text))
    except Exception:  # PyYAML raises ValueError, IndexError, KeyError... for bad text
        return None, node, invalid
    if isinstance(value, float) and not math.isfinite(value):
        return None, node, f"`{text}` is not a number JSON can carry; quote it"
    if plain is None:
        return value, node, None
    return value, node._replace(plain=plain, kind=tag.removeprefix(TAG)), None


def key_problem(tag: str, text: str) -> str | None:
    """Why a scalar with this tag cannot be a mapping key (keys are strings, or `<<`)."""
    if tag in (STR, "!", MERGE):
        return None
    shown = text or "(empty)"
    return f"keys must be strings; `{shown}` is read by YAML as {tag.removeprefix(TAG)}: quote it"


def yaml11_surprises(doc: Document) -> dict[Path, str]:
    """Plain scalars YAML 1.1 reads as something a user rarely means: dates,
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
