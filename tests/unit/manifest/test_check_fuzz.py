"""No input gives a traceback: random bytes and mutated manifests only ever give exit 0 or 2."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from launcher.cli import main
from launcher.manifest.output_schema import check_output_schema
from tests.support.budget import examples
from tests.support.paths import EXAMPLES, MANIFESTS

SEEDS = [
    p.read_bytes()
    for p in sorted((MANIFESTS / "good").glob("*.yaml")) + sorted(EXAMPLES.rglob("*.yaml"))
]
FRAGMENTS = [
    b"yes",
    b"3.10",
    b"2024-01-01",
    b"&a",
    b"*a",
    b"<<: *a",
    b"${{ matrix.x }}",
    b"${{ env.X }}",
    b"${{",
    b"}}",
    b"[",
    b"]",
    b"{",
    b"}",
    b"- ",
    b": ",
    b"\n  ",
    b"\t",
    b"---\n",
    b"!!binary",
    b"~",
    b"''",
    b'"',
    b"#",
    b"\xff",
    b"\x00",
    b"? ",
    b"|\n",
    b"-1",
    b".inf",
    b"$ref: '#/x'",
    b"matrix:\n  a: [1]\n",
    b"include: [{}]",
    b"exclude: [{a: 1}]",
]
SETTINGS = settings(
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _run(tmp_path: Path, raw: bytes) -> int:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(raw)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", str(path)])
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    text = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "swap-lines"]))
        if op == "insert":
            text[pos:pos] = draw(st.sampled_from(FRAGMENTS))
        elif op == "delete":
            del text[pos : pos + draw(st.integers(1, 20))]
        elif op == "replace":
            text[pos : pos + 1] = draw(st.binary(min_size=0, max_size=4))
        else:
            lines = bytes(text).split(b"\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = bytearray(b"\n".join(lines))
    return bytes(text)


@SETTINGS
@given(raw=st.binary(max_size=300))
@pytest.mark.slow
def test_random_bytes(tmp_path: Path, raw: bytes) -> None:
    assert _run(tmp_path, raw) in (0, 2)


@SETTINGS
@given(raw=mutated())
@pytest.mark.slow
def test_mutated_manifests(tmp_path: Path, raw: bytes) -> None:
    assert _run(tmp_path, raw) in (0, 2)


# Any JSON value where a Draft 7 keyword expects a schema or a `$id` expects a string, and
# `$ref`s of every kind: `referencing` must answer, never raise (`$ref`
# resolution is its job; a `$id: 5` once made it raise AttributeError).
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYWORDS = st.sampled_from(
    [
        "$id",
        "$ref",
        "definitions",
        "properties",
        "items",
        "allOf",
        "anyOf",
        "not",
        "if",
        "additionalProperties",
        "dependencies",
        "patternProperties",
        "contains",
        "type",
    ]
)
REFS = st.sampled_from(
    [
        "#",
        "#/",
        "#/definitions/a",
        "#a",
        "#/allOf/0",
        "#/allOf/-1",
        "#/allOf/01",
        "#/allOf/x",
        "#/items/0",
        "#/type/0",
        "#/%24id",
        "#/definitions/a~1b",
        "#%ZZ",
    ]
)
SCHEMAS = st.recursive(
    st.dictionaries(KEYWORDS, JSON | REFS, max_size=3),
    lambda inner: st.dictionaries(
        KEYWORDS, inner | st.lists(inner, max_size=2) | st.dictionaries(st.just("a"), inner)
    ),
    max_leaves=8,
)


@SETTINGS
@given(schema=SCHEMAS)
@pytest.mark.slow
def test_hostile_output_schemas_give_findings_not_tracebacks(schema: dict[str, object]) -> None:
    findings = list(check_output_schema(schema, ("structured_output_schema",), 10))
    assert all(f.path[0] == "structured_output_schema" and f.message for f in findings)
