"""The editor schema: generated from the shape and the OpenAPI document (the committed file
is the generator's output), Draft 7, passes every example and rejects what `validate`
rejects at the shape level."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from launcher.api import schemagen
from launcher.api.openapi import request_fields
from launcher.manifest import check
from tests.support.paths import MANIFESTS, ROOT

EDITOR = ROOT / "schemas" / schemagen.EDITOR_SCHEMA_FILE
BAD = MANIFESTS / "bad"


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = json.loads(EDITOR.read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def errors(validator: Draft7Validator, data: Any) -> list[str]:
    return [e.message for e in validator.iter_errors(data)]


def test_the_committed_file_is_the_generators_output() -> None:
    assert EDITOR.read_text(encoding="utf-8") == schemagen.render()
    assert schemagen.main(["--check"]) == 0


def test_it_has_a_stable_id_and_describes_every_field_with_a_type() -> None:
    schema = json.loads(EDITOR.read_text())
    assert schema["$id"] == "https://launcher.invalid/manifest.editor.schema.json"
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    for where in ("session", "defaults"):
        props = schema["definitions"][where]["properties"]
        assert set(request_fields()) <= set(props)
        for name in request_fields():
            assert props[name]["description"], name
            assert "type" in json.dumps(props[name]), name
    assert schema["definitions"]["session"]["properties"]["name"]["description"]


EXAMPLES = sorted((ROOT / "manifests" / "examples").rglob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_manifest_passes(validator: Draft7Validator, path: Path) -> None:
    assert errors(validator, yaml.safe_load(path.read_text())) == []


# Bad cases whose fault is the shape or a field's type: validate rejects them, so must the
# editor (cases about expansion, YAML syntax or names are past a schema's reach).
SHAPE_CASES = [
    "defaults-bad",
    "field-types",
    "matrix-shape",
    "missing-name",
    "secret-missing-fields",
    "secret-unknown-key",
    "session-not-mapping",
    "sessions-empty",
    "too-many-tags",
    "max-acu-limit",
]


@pytest.mark.parametrize("case", SHAPE_CASES)
def test_it_rejects_what_validate_rejects_at_the_shape_level(
    validator: Draft7Validator, case: str
) -> None:
    manifests = sorted((BAD / case).glob("*.yaml"))
    assert manifests and check([str(BAD / case)]).diagnostics
    assert any(errors(validator, yaml.safe_load(m.read_text())) for m in manifests)


@pytest.mark.parametrize(
    "data",
    [
        {"version": 1, "sessions": {"name": "x"}},
        {"version": "1", "sessions": [{"name": "x", "prompt": "p"}]},
        {"version": 1, "sessions": [{"name": "x", "prompt": "p"}], "defualts": {}},
        {"version": 1, "sessions": [{"name": "x", "prompt": "p", "promt": "p"}]},
        {"version": 1, "sessions": [{"name": "x", "prompt": "p", "max_acu_limit": "lots"}]},
        {"version": 1, "sessions": [{"name": "x", "prompt": "p", "tags": "a"}]},
        {"version": 1, "defaults": {"name": "x"}, "sessions": [{"name": "x", "prompt": "p"}]},
        [],
    ],
)
def test_unknown_keys_and_wrong_types_are_rejected_by_both(
    validator: Draft7Validator, data: Any, tmp_path: Path
) -> None:
    assert errors(validator, data)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(json.dumps(data))
    assert check([str(manifest)]).diagnostics


def test_a_templated_integer_passes_both(validator: Draft7Validator, tmp_path: Path) -> None:
    data = {
        "version": 1,
        "x-note": "extension keys are free",
        "sessions": [
            {
                "name": "t-${{ matrix.n }}",
                "matrix": {"n": [1, 2]},
                "prompt": "p",
                "max_acu_limit": "${{ matrix.n }}",
            }
        ],
    }
    assert errors(validator, data) == []
    manifest = tmp_path / "m.yaml"
    manifest.write_text(json.dumps(data))
    assert check([str(manifest)]).diagnostics == []
