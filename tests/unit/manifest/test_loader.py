"""The strict loader: plain data, a position for every node, and errors instead of surprises."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from launcher.manifest import Node, check, format_path, load
from launcher.manifest.aliases import MAX_ALIAS_CHARS, MAX_ALIAS_NODES
from tests.support.budget import examples


def test_plain_data_and_positions() -> None:
    doc = load(b"a: 1\nb:\n  - x\n  - {c: 'yes'}\n")
    assert doc.problems == []
    assert doc.data == {"a": 1, "b": ["x", {"c": "yes"}]}
    assert doc.nodes[("a",)][:4] == (1, 4, 1, 1)
    assert doc.nodes[("b", 0)][:2] == (3, 5)
    assert doc.nodes[("b", 1, "c")][:4] == (4, 9, 4, 6)
    assert doc.node(("b", 1, "c", "missing")) == doc.nodes[("b", 1, "c")]


def test_yaml11_plain_scalars_keep_their_text() -> None:
    doc = load(b"a: yes\nb: 3.10\nc: 2024-01-01\nd: '3.10'\ne: 017\nf:\n")
    assert doc.data == {"a": True, "b": 3.1, "c": "2024-01-01", "d": "3.10", "e": 15, "f": None}
    assert (doc.nodes[("a",)].plain, doc.nodes[("a",)].kind) == ("yes", "bool")
    assert (doc.nodes[("b",)].plain, doc.nodes[("b",)].kind) == ("3.10", "float")
    assert (doc.nodes[("c",)].plain, doc.nodes[("c",)].kind) == ("2024-01-01", "date")
    assert doc.nodes[("d",)].plain is None
    assert doc.nodes[("f",)].kind == "null"


def test_explicit_str_tag_is_a_string() -> None:
    assert load(b"a: !!str yes\n").data == {"a": "yes"}


def test_duplicate_keys_name_both_lines() -> None:
    doc = load(b"a: 1\nb: 2\na: 3\n")
    [problem] = doc.problems
    assert (problem.line, problem.col, problem.path) == (3, 1, ("a",))
    assert "first at line 1" in problem.message
    assert doc.data == {"a": 1, "b": 2}  # keeps going: the rest is still checked


def test_aliases_share_and_keep_anchor_positions() -> None:
    doc = load(b"x: &s {k: v}\ny: *s\n")
    assert doc.data == {"x": {"k": "v"}, "y": {"k": "v"}}
    assert doc.nodes[("y",)][:2] == (2, 4)  # the alias where it is written
    assert doc.nodes[("y", "k")][:2] == (1, 11)  # inner nodes where they are defined


def test_merge_keys() -> None:
    doc = load(b"base: &b {a: 1, b: 2}\nm:\n  <<: *b\n  b: 3\n")
    assert doc.problems == []
    assert doc.data["m"] == {"a": 1, "b": 3}
    assert doc.nodes[("m", "a")][:2] == (1, 14)


def test_billion_laughs_fails_fast() -> None:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    doc = load("\n".join(lines).encode())
    [problem] = doc.problems
    assert f"more than {MAX_ALIAS_NODES:,} nodes" in problem.message
    assert doc.data is None


def test_unreadable_inputs_are_problems() -> None:
    cases = {
        b"": "empty",
        b"# only a comment\n": "empty",
        b"a: \xff\n": "not UTF-8",
        b"a: [1,\n": "YAML syntax error",
        b"a: 1\n---\nb: 2\n": "one YAML document",
        b"a: *nope\n": "names no anchor",
        b"a: \x01\n": "control characters",
        b"[" * 70 + b"]" * 70: "nested more than",
        b"? [a]\n: 1\n": "keys must be strings",
        b"1: one\n": "keys must be strings",
        b"a: !!binary aGk=\n": "unsupported YAML tag",
        b"a: .nan\n": "JSON",
    }
    for raw, fragment in cases.items():
        doc = load(raw)
        assert doc.problems, raw
        assert fragment in doc.problems[0].message, (raw, doc.problems)
        assert all(p.line >= 1 and p.col >= 1 for p in doc.problems)


def test_byte_order_mark_is_fine() -> None:
    assert load("\ufeffa: 1\n".encode()).data == {"a": 1}


def test_format_path() -> None:
    assert format_path(("sessions", 2, "max_acu_limit")) == "sessions[2].max_acu_limit"
    assert format_path(("a", "$ref", "b c")) == 'a["$ref"]["b c"]'
    assert format_path(()) == ""
    assert Node(1, 1).plain is None


def test_alias_bomb_by_size_fails_fast() -> None:
    # Few nodes (far under MAX_ALIAS_NODES) but a 10 KB string copied 20,000 times.
    raw = "s: &s " + "x" * 10_000 + "\nb: &b [" + ", ".join(["*s"] * 100) + "]\n"
    raw += "c: [" + ", ".join(["*b"] * 200) + "]\n"
    started = time.perf_counter()
    doc = load(raw.encode())
    assert time.perf_counter() - started < 0.5
    [problem] = doc.problems
    assert f"more than {MAX_ALIAS_CHARS:,} characters" in problem.message
    assert "billion laughs" in problem.message
    assert doc.data is None


def test_aliases_under_the_size_budget_are_fine() -> None:
    raw = "s: &s " + "x" * 10_000 + "\nb: [" + ", ".join(["*s"] * 900) + "]\n"
    doc = load(raw.encode())
    assert doc.problems == []
    assert len(doc.data["b"]) == 900


def test_bad_text_for_an_explicit_tag_is_a_problem() -> None:
    cases = {
        b"a: !!int\n": "`(empty)` is not a valid int",
        b"a: !!float\n": "`(empty)` is not a valid float",
        b"a: !!bool maybe\n": "`maybe` is not a valid bool",
        b"a: !!int x\n": "`x` is not a valid int",
        b"a: !!null x\n": "`x` is not a valid null",
    }
    for raw, fragment in cases.items():
        doc = load(raw)
        [problem] = doc.problems
        assert fragment in problem.message, (raw, problem)
        assert (problem.line, problem.path) == (1, ("a",))
    assert load(b"a: !!null ~\nb: !!null\nc: !!int 5\n").data == {"a": None, "b": None, "c": 5}


def test_nesting_counts_aliases_and_merges_as_what_they_copy() -> None:
    """`aK` is K + 1 levels tall; at the top it reaches level K + 2. A mapping that
    merges it (`m: {<<: *aK}`) holds aK's keys, so it reaches K + 2 too, not K + 3."""
    chain = "a0: &a0 {}\n" + "".join(f"a{i}: &a{i} {{not: *a{i - 1}}}\n" for i in range(1, 63))
    assert load(chain.encode()).problems == []  # a62 reaches level 64
    assert load((chain + "m: {<<: *a62}\n").encode()).problems == []
    assert load((chain + "m: {<<: [*a1, *a62]}\n").encode()).problems == []
    assert load((chain + "m: {<<: [{<<: *a62}]}\n").encode()).problems == []
    for deeper in ("m: [*a62]\n", "m: {k: {<<: *a62}}\n", "m: {<<: [{k: *a62}]}\n"):
        [problem] = load((chain + deeper).encode()).problems
        assert "nested more than 64 levels deep once `*a62` is expanded" in problem.message


def test_alias_to_a_mapping_under_a_rejected_key() -> None:
    for rejected in (b"a: 1\na", b"1"):
        doc = load(rejected + b": &x\n  k: {v: 1}\nb: *x\nc: &y {}\nd: *y\n")
        [problem] = doc.problems
        assert "key" in problem.message
        assert doc.data["b"] == {"k": {"v": 1}}
        n = rejected.count(b"\n")
        assert doc.nodes[("b",)][:2] == (n + 3, 4)  # the alias where it is written
        assert doc.nodes[("b", "k")][:2] == (n + 2, 6)  # inner nodes at the anchor
        assert doc.nodes[("b", "k", "v")][:2] == (n + 2, 10)
        assert doc.nodes[("d",)][:2] == (n + 5, 4)  # not the dropped frame's nodes


# --- JSON written as YAML means what JSON means ----------------------------

# (schema, data, valid): the first two from the official JSON-Schema-Test-Suite,
# tests/draft7/multipleOf.json ("small multiple of large integer", "float division =
# inf"), as written there; the others exponent spellings JSON and YAML 1.2 allow.
JSON_SUITE = [
    ('{"type": "integer", "multipleOf": 1e-8}', "12391239123", True),
    ('{"type": "integer", "multipleOf": 0.123456789}', "1e308", False),
    ('{"minimum": -2.5e10, "maximum": 1E+3}', "1E3", True),
    ('{"minimum": -2.5e10, "maximum": 1E+3}', "-2.6e10", False),
    ('{"exclusiveMaximum": 5e-1}', "0.45", True),
    ('{"exclusiveMaximum": 5e-1}', "5E-1", False),
]


@pytest.mark.parametrize(("schema", "data", "valid"), JSON_SUITE)
def test_json_exponent_numbers_are_numbers(schema: str, data: str, valid: bool) -> None:
    loaded = load(schema.encode())
    assert loaded.problems == []
    assert json.dumps(loaded.data) == json.dumps(json.loads(schema))  # same types, too
    instance = load(data.encode()).data
    assert json.dumps(instance) == json.dumps(json.loads(data))
    assert Draft7Validator(loaded.data).is_valid(instance) is valid


def test_the_suites_multipleof_schema_validates_in_a_manifest(tmp_path: Any) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "version: 1\nsessions:\n  - name: n\n    prompt: p\n"
        '    structured_output_schema: {"type": "integer", "multipleOf": 1e-8}\n'
        "    max_acu_limit: 3\n"
    )
    result = check([str(path)])
    assert result.diagnostics == []
    assert result.entries[0].request["structured_output_schema"]["multipleOf"] == 1e-8


def test_yaml11_integer_surprises_stay_errors_beside_json_numbers(tmp_path: Any) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "version: 1\nsessions:\n  - name: n-${{ matrix.v }}\n    prompt: p\n"
        "    matrix:\n      v: [010, 0x1F, 1:30, 1_000]\n    title: 1e3\n"
    )
    messages = [d.message for d in check([str(path)]).diagnostics]
    assert len(messages) == 5
    for text in ("010", "0x1F", "1:30", "1_000"):
        assert any(m.startswith(f"`{text}` is read by YAML 1.1 as the integer") for m in messages)
    assert 'got the number 1000.0 from unquoted `1e3`; quote it: "1e3"' in messages[-1]


# Text YAML can carry as JSON writes it: json.dumps escapes C0 controls; YAML does not
# allow C1 controls, a BOM, surrogates or non-characters raw, and reads U+2028/U+2029
# as line breaks.
JSON_TEXT = st.text(
    st.characters(
        exclude_categories=("Cs", "Zl", "Zp", "Co", "Cn"),
        exclude_characters="\ufeff" + "".join(map(chr, range(0x7F, 0xA0))),
    )
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | JSON_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=examples(300), deadline=None)
@given(value=JSON_VALUES)
@pytest.mark.slow
def test_any_json_text_loads_as_json_loads_it(value: Any) -> None:
    """JSON is YAML 1.2: the launcher reads a JSON text as `json.loads` does, numbers
    (`1e-08`, `1e+16`, `5e-324`), strings (with escapes) and all."""
    text = json.dumps(value, ensure_ascii=False)
    doc = load(text.encode())
    assert doc.problems == []
    assert json.dumps(doc.data, ensure_ascii=False) == text
