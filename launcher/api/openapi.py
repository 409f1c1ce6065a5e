"""The one reader of `schemas/`: the Devin v1 and v3 OpenAPI documents and the manifest
schema.

Every request rule the launcher and the sandbox apply (the create-session validators, its
fields, which of them are integers) is derived here, so the two can never disagree.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

OPENAPI_FILE = "devin-v1.openapi.yaml"
OPENAPI_V3_FILE = "devin-v3.openapi.yaml"
MANIFEST_SCHEMA_FILE = "manifest.schema.json"


def schemas_dir() -> Path:
    """`schemas/` beside the package in a checkout, or the copy packed into a wheel."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_schemas", package.parent / "schemas"):
        if (candidate / OPENAPI_FILE).is_file():
            return candidate
    raise FileNotFoundError(f"cannot find {OPENAPI_FILE} near {package}")


@cache
def openapi(name: str = OPENAPI_FILE) -> dict[str, Any]:
    """An OpenAPI document of schemas/ (the v1 one by default)."""
    text = (schemas_dir() / name).read_text(encoding="utf-8")
    doc: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return doc


@cache
def manifest_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (schemas_dir() / MANIFEST_SCHEMA_FILE).read_text(encoding="utf-8")
    )
    return loaded


def _create_session_params() -> dict[str, Any]:
    params: dict[str, Any] = openapi()["components"]["schemas"]["CreateSessionParams"]
    return params


def _with_components(schema: dict[str, Any]) -> dict[str, Any]:
    # The components sit at the root (not behind a top-level `$ref`) so that inner `$ref`s
    # resolve without a slow lookup on every call.
    return {**schema, "components": openapi()["components"]}


@cache
def create_session_validator() -> Draft202012Validator:
    """Validator for a whole POST /v1/sessions body (OpenAPI 3.1 schemas are 2020-12)."""
    return Draft202012Validator(_with_components(_create_session_params()))


@cache
def v3_create_validator() -> Draft202012Validator:
    """Validator for a whole v3 create body (CreateSessionRequest of the v3 document)."""
    doc = openapi(OPENAPI_V3_FILE)
    params = doc["components"]["schemas"]["CreateSessionRequest"]
    return Draft202012Validator({**params, "components": doc["components"]})


@cache
def v3_only_params() -> dict[str, Any]:
    """The create-session fields only the API v3 has (in CreateSessionRequest of the v3
    document, not in v1's CreateSessionParams), each with its schema: a manifest may hold
    them, and a run that speaks v1 refuses them."""
    v1 = _create_session_params()["properties"]
    v3 = openapi(OPENAPI_V3_FILE)["components"]["schemas"]["CreateSessionRequest"]
    return {name: sub for name, sub in v3["properties"].items() if name not in v1}


@cache
def request_params() -> dict[str, Any]:
    """What a manifest's request may hold: CreateSessionParams, and the v3-only fields."""
    params = _create_session_params()
    return {**params, "properties": {**params["properties"], **v3_only_params()}}


@cache
def request_validator() -> Draft202012Validator:
    """Validator for a whole request a manifest makes (either API's fields)."""
    return Draft202012Validator(_with_components(request_params()))


@cache
def field_validators() -> dict[str, Draft202012Validator]:
    """One validator per request field: values that differ between matrix combinations
    are checked alone, so 10,000 entries cost 10,000 small checks."""
    return {
        name: Draft202012Validator(_with_components(sub))
        for name, sub in request_params()["properties"].items()
    }


@cache
def create_session_fields() -> tuple[str, ...]:
    """The API v1's create-session fields, in the document's order."""
    return tuple(_create_session_params()["properties"])


@cache
def request_fields() -> tuple[str, ...]:
    """Every request field a manifest may hold: v1's, then the v3-only ones."""
    return tuple(request_params()["properties"])


@cache
def integer_fields() -> frozenset[str]:
    """Request fields whose schema admits an integer (today: max_acu_limit)."""
    return frozenset(
        name
        for name, sub in request_params()["properties"].items()
        if sub.get("type") == "integer"
        or any(b.get("type") == "integer" for b in sub.get("anyOf", []))
    )
