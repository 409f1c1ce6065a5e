"""Draft 7 checks of `structured_output_schema`: the meta-schema, `$schema`,
local `$ref`s that resolve (by `referencing`, as jsonschema resolves them), and the size cap."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Specification
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT7

from launcher.entry import canonical_json
from launcher.manifest.document import Finding, Path
from launcher.manifest.expand import SessionExpansion
from launcher.manifest.messages import explain

MAX_OUTPUT_SCHEMA_BYTES = 65_536
DRAFT7_URI = "http://json-schema.org/draft-07/schema#"
DRAFT7_IDS = {
    f"{scheme}://json-schema.org/draft-07/schema{hash_}"
    for scheme in ("http", "https")
    for hash_ in ("", "#")
}
_SCHEMA_KEYWORDS = (
    *("additionalItems", "additionalProperties", "contains", "propertyNames"),
    *("not", "if", "then", "else", "items"),
)
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "items")
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs", "dependencies")


@cache
def _draft7_meta() -> Draft7Validator:
    return Draft7Validator(Draft7Validator.META_SCHEMA)


def output_schema_findings(session: SessionExpansion) -> Iterable[Finding]:
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
        for f in explain(error, lambda p: (*base, *p), None):
            yield f._replace(message=f"not a valid Draft 7 schema: {f.message}")
    declared = schema.get("$schema")
    if isinstance(declared, str) and declared not in DRAFT7_IDS:  # else: the meta-schema said
        msg = f"`$schema` must name Draft 7 ({DRAFT7_URI}), not `{declared}`"
        yield Finding((*base, "$schema"), msg)
    resolves = _LocalRefs(schema)
    for path, ref in _refs(schema, ()):
        if not ref.startswith("#"):
            msg = f"`$ref: {ref}` is not local; refer only inside the schema (`#/definitions/…`)"
            yield Finding((*base, *path, "$ref"), msg)
        elif not resolves(ref):
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


def _plain(contents: Any) -> bool:
    """A schema whose `$id`, if any, is a string (referencing calls string methods on it)."""
    return isinstance(contents, bool) or (
        isinstance(contents, dict) and isinstance(contents.get("$id", ""), str)
    )


def _subresources(contents: Any) -> Iterable[Any]:
    if not isinstance(contents, dict):
        return []
    try:
        return list(DRAFT7.subresources_of(contents))
    except (AttributeError, TypeError):  # e.g. `properties: 5`; the meta-schema says so
        return []


# Draft 7 as referencing reads it, except that what the meta-schema rejects (a `$id` that
# is not a string, a keyword whose value is not a schema) is passed over, not tripped on.
_DRAFT7_TOLERANT: Specification[Any] = Specification(  # type: ignore[call-arg]  # attrs
    name="draft-07",
    id_of=lambda contents: DRAFT7.id_of(contents) if _plain(contents) else None,
    subresources_of=_subresources,
    maybe_in_subresource=DRAFT7.maybe_in_subresource,
    anchors_in=lambda _, contents: DRAFT7.anchors_in(contents) if _plain(contents) else [],
)


class _LocalRefs:
    """Whether a local `$ref` (a JSON pointer, or a Draft 7 `$id: "#name"` anchor) resolves
    inside one schema, as `referencing` (jsonschema's resolver) resolves it."""

    def __init__(self, schema: dict[str, Any]) -> None:
        resource = _DRAFT7_TOLERANT.create_resource(schema)
        base = resource.id() or ""
        self.lookup = Registry().with_resource(base, resource).resolver(base).lookup

    def __call__(self, ref: str) -> bool:
        try:
            self.lookup(ref)
        except (Unresolvable, ValueError, TypeError):
            # A pointer step into a list that is not a number (`#/allOf/x`), or into a value
            # that is neither a mapping nor a list, fails in `int()` or `[]`, not in a lookup.
            return False
        return True
