"""Every constraint of the OpenAPI's CreateSessionParams is enforced by `launcher validate`.

The violations are derived from the OpenAPI document itself, so a constraint added there
is either covered here automatically or makes `test_every_keyword_is_known` fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from launcher.api.openapi import (
    create_session_fields,
    manifest_schema,
    openapi,
    request_fields,
    v3_only_params,
)
from launcher.api.v3 import V3_ONLY
from launcher.manifest import check, format_path

COMPONENTS = openapi()["components"]["schemas"]
PARAMS = COMPONENTS["CreateSessionParams"]
CONSTRAINTS = {"type", "exclusiveMinimum", "maxItems", "minLength", "maxLength", "required"}
STRUCTURE = {"anyOf", "$ref", "items", "properties", "additionalProperties"}
ANNOTATIONS = {"title", "description", "default"}
SAMPLES: list[Any] = ["text", 7, 2.5, True, None, ["x"], {"k": "v"}]
_TYPES = Draft202012Validator.TYPE_CHECKER


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return dict(COMPONENTS[schema["$ref"].rsplit("/", 1)[1]])
    return schema


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(schema)
    return [_resolve(b) for b in schema["anyOf"]] if "anyOf" in schema else [schema]


def _valid(schema: dict[str, Any]) -> Any:
    """A value that satisfies the schema (the first branch that allows one)."""
    branch = _branches(schema)[0]
    kind = branch.get("type")
    if kind == "string":
        return "v" * max(branch.get("minLength", 1), 1)
    if kind == "integer":
        return branch.get("exclusiveMinimum", 0) + 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        props = branch.get("properties", {})
        return {r: _valid(props[r]) for r in branch.get("required", [])}
    return None


def _violations(
    schema: dict[str, Any], path: tuple[Any, ...]
) -> Iterator[tuple[str, tuple[Any, ...], Any]]:
    """(constraint, path of the offending node, a value breaking it) for every constraint."""
    branches = _branches(schema)
    types = [b["type"] for b in branches if "type" in b]
    wrong = next(v for v in SAMPLES if not any(_TYPES.is_type(v, t) for t in types))
    yield "type", path, wrong
    for b in branches:
        if "exclusiveMinimum" in b:
            yield "exclusiveMinimum", path, b["exclusiveMinimum"]
        if "maxItems" in b:
            yield "maxItems", path, [_valid(b["items"]) for _ in range(b["maxItems"] + 1)]
        if "minLength" in b:
            yield "minLength", path, "k" * (b["minLength"] - 1)
        if "maxLength" in b:
            yield "maxLength", path, "k" * (b["maxLength"] + 1)
        if "items" in b:
            for kind, sub, value in _violations(b["items"], (*path, 0)):
                yield kind, sub, [value]
        if "properties" in b:
            base = _valid(b)
            for name, sub_schema in b["properties"].items():
                for kind, sub, value in _violations(sub_schema, (*path, name)):
                    yield kind, sub, {**base, name: value}
            for name in b.get("required", []):
                yield "required", path, {k: v for k, v in base.items() if k != name}


def _cases() -> list[tuple[str, str, tuple[Any, ...], Any]]:
    cases = []
    for field, schema in PARAMS["properties"].items():
        for kind, path, value in _violations(schema, (field,)):
            cases.append((field, kind, path, value))
    return cases


CASES = _cases()


def _keywords(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            yield key
            if key == "properties":
                for sub in value.values():
                    yield from _keywords(sub)
            elif key not in ANNOTATIONS:
                yield from _keywords(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _keywords(item)


def test_every_keyword_is_known() -> None:
    """A new constraint in the OpenAPI must get a violation generator above."""
    schemas = [PARAMS, COMPONENTS["SessionSecretInput"]]
    found = {k for s in schemas for k in _keywords(s)}
    assert found <= CONSTRAINTS | STRUCTURE | ANNOTATIONS, (
        found - CONSTRAINTS - STRUCTURE - ANNOTATIONS
    )


def test_every_constraint_has_a_case() -> None:
    kinds = {(field, kind) for field, kind, _, _ in CASES}
    for field in PARAMS["properties"]:
        assert (field, "type") in kinds
    assert ("max_acu_limit", "exclusiveMinimum") in kinds
    assert ("tags", "maxItems") in kinds
    secret_kinds = {(path[2:], kind) for f, kind, path, _ in CASES if f == "session_secrets"}
    assert {
        (("key",), "minLength"),
        (("key",), "maxLength"),
        (("value",), "maxLength"),
    } <= secret_kinds
    assert {(("key",), "type"), (("value",), "type"), (("sensitive",), "type")} <= secret_kinds
    assert sum(1 for f, kind, _, _ in CASES if f == "session_secrets" and kind == "required") == 2


@pytest.mark.parametrize(
    ("field", "kind", "path", "value"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{format_path(c[2])}" for c in CASES],
)
def test_constraint_is_enforced(
    tmp_path: Path, field: str, kind: str, path: tuple[Any, ...], value: Any
) -> None:
    session: dict[str, Any] = {"name": "s", "prompt": "p", field: value}
    manifest = tmp_path / "m.yaml"
    # JSON is YAML: the value reaches the loader exactly as built here.
    manifest.write_text(json.dumps({"version": 1, "sessions": [session]}), encoding="utf-8")
    diagnostics = check([str(manifest)]).diagnostics
    where = format_path(("sessions", 0, *path))
    assert [d for d in diagnostics if d.where == where], (where, diagnostics)


def test_prompt_is_required(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(json.dumps({"version": 1, "sessions": [{"name": "s"}]}))
    [diag] = check([str(manifest)]).diagnostics
    assert (diag.where, diag.line) == ("sessions[0]", 1)
    assert "`prompt` is required" in diag.message
    assert "prompt" in PARAMS["required"]


def test_valid_values_pass(tmp_path: Path) -> None:
    session = {"name": "s", **{f: _valid(s) for f, s in PARAMS["properties"].items()}}
    session["prompt"] = "p"
    manifest = tmp_path / "m.yaml"
    manifest.write_text(json.dumps({"version": 1, "sessions": [session]}))
    assert check([str(manifest)]).diagnostics == []


def test_manifest_session_fields_are_the_api_fields() -> None:
    defs = manifest_schema()["$defs"]
    # plus the launcher's own keys: `prompt_file` stands for `prompt`, read from a file;
    # `attachments` are local files whose uploads the request names
    own = {"name", "matrix", "prompt_file", "attachments"}
    assert set(request_fields()) == {*create_session_fields(), *V3_ONLY}
    assert set(v3_only_params()) == set(V3_ONLY)
    assert not set(V3_ONLY) & set(create_session_fields())
    assert set(defs["session"]["properties"]) == {*request_fields(), *own}
    assert set(defs["defaults"]["properties"]) == {*request_fields(), "prompt_file", "attachments"}
    # value rules live in the OpenAPI (and v3Only) only: the shape accepts any value there
    for name in request_fields():
        if name == "session_secrets":  # only its key names are checked here
            continue
        assert defs["session"]["properties"][name] is True
        assert defs["defaults"]["properties"][name] is True
    secret_input = openapi()["components"]["schemas"]["SessionSecretInput"]["properties"]
    assert set(defs["sessionSecrets"]["items"]["properties"]) == set(secret_input)
    for where in ("session", "defaults"):
        assert defs[where]["properties"]["session_secrets"] == {"$ref": "#/$defs/sessionSecrets"}
