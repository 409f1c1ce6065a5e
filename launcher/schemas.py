"""The one source of request rules: the Devin v1 OpenAPI document and the manifest schema.

Both the launcher's validation and the sandbox check bodies against `CreateSessionParams`
as loaded here, so the two can never disagree.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

OPENAPI_FILE = "devin-v1.openapi.yaml"
MANIFEST_SCHEMA_FILE = "manifest.schema.json"


def schemas_dir() -> Path:
    """`schemas/` beside the package in a checkout, or the copy packed into a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_schemas", here.parent / "schemas"):
        if (candidate / OPENAPI_FILE).is_file():
            return candidate
    raise FileNotFoundError(f"cannot find {OPENAPI_FILE} near {here}")


@cache
def openapi() -> dict[str, Any]:
    text = (schemas_dir() / OPENAPI_FILE).read_text(encoding="utf-8")
    doc: dict[str, Any] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return doc


def _component(name: str) -> dict[str, Any]:
    """A component schema, with the OpenAPI components attached so `$ref`s resolve."""
    components = openapi()["components"]
    return {"$ref": f"#/components/schemas/{name}", "components": components}


@cache
def create_session_validator() -> Draft202012Validator:
    """Validator for a POST /v1/sessions body (OpenAPI 3.1 schemas are JSON Schema 2020-12)."""
    return Draft202012Validator(_component("CreateSessionParams"))


@cache
def create_session_fields() -> tuple[str, ...]:
    """The API's create-session fields, in the document's order."""
    props = openapi()["components"]["schemas"]["CreateSessionParams"]["properties"]
    return tuple(props)


@cache
def manifest_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (schemas_dir() / MANIFEST_SCHEMA_FILE).read_text(encoding="utf-8")
    )
    return loaded
