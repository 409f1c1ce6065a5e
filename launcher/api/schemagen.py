"""The editor schema (schemas/manifest.editor.schema.json, JSON Schema Draft 7), generated
from the manifest's shape and the OpenAPI document's CreateSessionParams so it cannot drift.

`python -m launcher.api.schemagen` rewrites it; `--check` exits 1 if the committed file
differs from what the generator makes (a test runs the same comparison).
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Sequence
from typing import Any

from launcher.api.openapi import (
    integer_fields,
    manifest_schema,
    openapi,
    request_params,
    schemas_dir,
)
from launcher.api.v3 import V1_ONLY, V3_ONLY

EDITOR_SCHEMA_FILE = "manifest.editor.schema.json"
SCHEMA_ID = "https://launcher.invalid/manifest.editor.schema.json"
# A field may be `${{ matrix.X }}` alone where the API wants an integer (templates.py).
INTEGER_TEMPLATE = r"^\$\{\{\s*matrix\.[A-Za-z_][A-Za-z0-9_-]*\s*\}\}$"

# The launcher's words for the fields whose OpenAPI entry has no description, and for the
# manifest's own keys. A new API field without one stops the generator (see `_describe`).
DESCRIPTIONS = {
    "idempotent": "Ask the API to return the existing session for an identical request "
    "instead of creating a second one (default false).",
    "playbook_id": "ID of a playbook for the session to follow.",
    "prompt": "The task for Devin. Required, here or in `defaults`; `${{ matrix.X }}` "
    "templates are filled in for each entry.",
    "snapshot_id": "ID of a machine snapshot to start the session from.",
    "unlisted": "Leave the session out of the organization's session list (default false).",
    "name": "The entry's name, unique across the run; with a matrix it must use a "
    "`${{ matrix.X }}` template so each entry gets its own.",
    "sessions": "The sessions to dispatch; each one, or each combination of its matrix, "
    "is one entry sent exactly once.",
    "advanced_mode": "An advanced session behaviour: analyze (the sessions in "
    "session_links), create (a playbook), improve (the playbook child_playbook_id), batch "
    "(sessions for a list of tasks, with child_playbook_id) or manage (knowledge).",
    "attachment_urls": "URLs of files uploaded to the API's attachments endpoint, for the "
    "session to read; `attachments` uploads local files and adds theirs.",
    "bypass_approval": "With advanced_mode batch: start the batch's sessions without the "
    "approval step.",
    "child_playbook_id": "The playbook that advanced_mode improve or batch works with.",
    "create_as_user_id": "Create the session on behalf of this user of the organisation "
    "(the service user needs the ImpersonateOrgSessions permission).",
    "repos": "Repositories the session works in.",
    "session_links": "Links to Devin sessions, for advanced_mode analyze or create.",
}


def _describe(name: str, sub: dict[str, Any]) -> str:
    text = sub.get("description") or DESCRIPTIONS.get(name)
    if not text:
        raise KeyError(f"CreateSessionParams.{name} has no description: add one to DESCRIPTIONS")
    only = "v3" if name in V3_ONLY else "v1" if name in V1_ONLY else None
    if only is not None:
        other = "refused by a run that speaks v1" if only == "v3" else "not sent to v3"
        text = f"(API {only} only: {other}.) {text}"
    return " ".join(str(text).split())


def _refs_to_definitions(node: Any) -> Any:
    """OpenAPI's `#/components/schemas/X` and 2020-12's `#/$defs/X` as Draft 7 spells them."""
    if isinstance(node, dict):
        out = {k: _refs_to_definitions(v) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str):
            for prefix in ("#/components/schemas/", "#/$defs/"):
                if ref.startswith(prefix):
                    out["$ref"] = "#/definitions/" + ref[len(prefix) :]
        return out
    if isinstance(node, list):
        return [_refs_to_definitions(v) for v in node]
    return node


def _field(name: str, sub: dict[str, Any], integer: bool) -> dict[str, Any]:
    schema: dict[str, Any] = _refs_to_definitions(copy.deepcopy(sub))
    schema.pop("title", None)
    schema["description"] = _describe(name, sub)
    if integer:
        template = {"type": "string", "pattern": INTEGER_TEMPLATE}
        value = {k: v for k, v in schema.items() if k not in ("description", "default")}
        schema = {"description": schema["description"], "anyOf": [value, template]}
    return schema


def editor_schema() -> dict[str, Any]:
    """The manifest's shape with every request field's type and description filled in."""
    shape = _refs_to_definitions(copy.deepcopy(manifest_schema()))
    components = openapi()["components"]["schemas"]
    params = request_params()
    fields = {
        name: _field(name, sub, name in integer_fields())
        for name, sub in params["properties"].items()
    }
    definitions = shape.pop("$defs")
    secret = copy.deepcopy(components["SessionSecretInput"])
    secret["additionalProperties"] = False  # as the shape: an unknown key is an error
    definitions.pop("sessionSecrets", None)
    definitions["SessionSecretInput"] = _refs_to_definitions(secret)
    for where in ("session", "defaults"):
        props = definitions[where]["properties"]
        for name in params["properties"]:
            props[name] = fields[name]
    definitions["session"]["properties"]["name"]["description"] = DESCRIPTIONS["name"]
    definitions["session"]["description"] = "One session, or a matrix of them."
    shape["properties"]["sessions"]["description"] = DESCRIPTIONS["sessions"]
    for key in ("$schema", "$id", "$comment"):
        shape.pop(key, None)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "$comment": "GENERATED by `python -m launcher.api.schemagen` from manifest.schema.json "
        "and the create-session fields of devin-v1.openapi.yaml and devin-v3.openapi.yaml: "
        "do not edit.",
        **shape,
        "definitions": definitions,
    }


def render() -> str:
    return json.dumps(editor_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    target = schemas_dir() / EDITOR_SCHEMA_FILE
    text = render()
    if args == ["--check"]:
        same = target.is_file() and target.read_text(encoding="utf-8") == text
        if not same:
            print(f"{target} is out of date: run python -m launcher.api.schemagen", file=sys.stderr)
        return 0 if same else 1
    if args:
        print("usage: python -m launcher.api.schemagen [--check]", file=sys.stderr)
        return 2
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
