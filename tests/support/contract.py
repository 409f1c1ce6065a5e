"""The OpenAPI documents in schemas/ as checks: what a response (or a request) at a method
and path must look like, from the document's own schemas, validated with jsonschema
(OpenAPI 3.1 schemas are Draft 2020-12). A small reader: paths, `$ref`s to
`#/components/...`, JSON bodies; what it does not know it reports, never passes."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator

from launcher.api.openapi import openapi

DOCUMENTS = {"v1": "devin-v1.openapi.yaml", "v3": "devin-v3.openapi.yaml"}


def document(generation: str) -> dict[str, Any]:
    """The document of `v1` or `v3`, as the launcher reads it (cached there)."""
    return openapi(DOCUMENTS[generation])


def _resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        assert node["$ref"].startswith("#/"), node["$ref"]
        target: Any = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def operation(generation: str, method: str, path: str) -> dict[str, Any]:
    """The operation answering `method path` (a concrete path: ids filled in; `/v3beta1`
    read as `/v3`). KeyError when the document has none."""
    doc = document(generation)
    path = re.sub(r"^/v3beta1/", "/v3/", path.split("?")[0])
    for template, item in doc["paths"].items():
        pattern = "^" + re.sub(r"\{[^/}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            found: dict[str, Any] = item[method.lower()]
            return found
    raise KeyError(f"{method} {path} is not in {DOCUMENTS[generation]}")


def _validator(generation: str, schema: dict[str, Any]) -> Draft202012Validator:
    doc = document(generation)
    return Draft202012Validator({**schema, "components": doc["components"]})


def response_problems(
    generation: str, method: str, path: str, status: int, body: Any, content_type: str = ""
) -> list[str]:
    """Why an answer breaks the document: an undocumented status, a media type not
    documented for it, or a body (parsed JSON, or the text of a text/plain answer) outside
    its schema. Empty when it conforms."""
    doc = document(generation)
    responses = operation(generation, method, path)["responses"]
    if str(status) not in responses:
        return [f"{method} {path}: status {status} is not documented ({', '.join(responses)})"]
    response = _resolve(doc, responses[str(status)])
    content = response.get("content", {})
    media = content_type.split(";")[0].strip() or "application/json"
    if media not in content:
        return [f"{method} {path} {status}: {media} is not documented ({', '.join(content)})"]
    schema = content[media]["schema"]
    return [
        f"{method} {path} {status}: {'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}"
        for e in _validator(generation, schema).iter_errors(body)
    ]


def request_problems(generation: str, method: str, path: str, body: Any) -> list[str]:
    """Why a JSON request body breaks the document's requestBody schema."""
    request = operation(generation, method, path).get("requestBody")
    if request is None:
        return [] if body is None else [f"{method} {path}: no body documented"]
    schema = _resolve(document(generation), request)["content"]["application/json"]["schema"]
    fields = _resolve(document(generation), schema).get("properties", {})
    unknown = [k for k in body if k not in fields] if isinstance(body, dict) else []
    return [f"{method} {path} body: {k} is not a documented field" for k in unknown] + [
        f"{method} {path} body: {'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}"
        for e in _validator(generation, schema).iter_errors(body)
    ]


def query_problems(generation: str, method: str, path: str, query: dict[str, str]) -> list[str]:
    """Query parameters the operation does not document, or integers that are not."""
    doc = document(generation)
    declared = operation(generation, method, path).get("parameters", [])
    params = {p["name"]: p for p in (_resolve(doc, raw) for raw in declared) if p["in"] == "query"}
    problems = []
    for name, value in query.items():
        if name not in params:
            problems.append(f"{method} {path}: query {name} is not documented")
            continue
        schema = params[name]["schema"]
        kinds = {schema.get("type")} | {b.get("type") for b in schema.get("anyOf", [])}
        integer = "integer" in kinds and not kinds & {"string", "array"}
        if integer and not re.fullmatch(r"-?\d+", value):
            problems.append(f"{method} {path}: query {name}={value!r} is not an integer")
    return problems
