"""Property tests over structured manifests.

1. Manifests valid by construction validate, and `plan` expands them exactly as a
   small reference model of the documented expansion does.
2. Field-by-field mutations of them never raise, exit 0 or 2, and report one well-formed
   `FILE:LINE:COL: error: ` line per diagnostic (the same count with `--format json`);
   mutations that are certainly wrong (docs/reference/manifests.md) exit 2.
3. `plan` is deterministic, and its keys and entry ids do not depend on the working
   directory or on how the PATH argument is spelled; keys ignore secret values,
   follow the prompt, and change with `--run-key`.

The generator builds Python data and dumps it with `yaml.safe_dump`; an `x-` key holds a
schema that sessions share, so the dump uses YAML anchors and aliases for it. Every
property holds for what PyYAML reads back from the dump, and an example whose dump PyYAML
does not read back as the data is skipped (`read_back`): the launcher is not at fault there.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

from launcher.cli import main
from tests.support.budget import examples

SETTINGS = settings(
    max_examples=examples(80),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

API_FIELDS = (
    "idempotent",
    "knowledge_ids",
    "max_acu_limit",
    "playbook_id",
    "prompt",
    "secret_ids",
    "session_secrets",
    "snapshot_id",
    "structured_output_schema",
    "tags",
    "title",
    "unlisted",
)
SESSION_KEYS = ("name", "matrix", *API_FIELDS)
TOP_KEYS = ("version", "defaults", "sessions")
MATRIX_REF = re.compile(r"\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
WHOLE_MATRIX_REF = re.compile(r"\$\{\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}\Z")

# --- running the CLI ----------------------------------------------------------------


def _env_names(argv: tuple[str, ...]) -> set[str]:
    """The variables the manifests named in `argv` refer to (`${{ env.X }}`)."""
    names: set[str] = set()
    for arg in argv:
        path = Path(arg)
        files = sorted(path.rglob("*.y*ml")) if path.is_dir() else [path] if path.is_file() else []
        for file in files:
            text = file.read_text(encoding="utf-8", errors="replace")
            names.update(re.findall(r"env\.([A-Za-z_][A-Za-z0-9_]*)", text))
    return names


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    # plan refuses an unset secret variable as run does: each one the manifests name is set
    # (to a value no generated secret holds), so the properties see plans, not refusals.
    env = dict.fromkeys(_env_names(argv), "set-for-the-test")
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        mock.patch.dict(os.environ, env),
    ):
        code = main(list(argv))
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def dump(data: dict[str, Any], style: dict[str, Any]) -> str:
    return _dump(data, **style)


class _NoAliasDumper(yaml.SafeDumper):
    """SafeDumper without `&id001` anchors for objects met twice: the tests join several
    dumps into one file, where two dumps' `&id001` would be a duplicate anchor (an error),
    and write their own anchors where they mean to."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(data: Any, **options: Any) -> str:
    return str(yaml.dump(data, Dumper=_NoAliasDumper, **options))


def read_back(text_: str, data: Any) -> Any:
    """What PyYAML reads from `text_`, in the file's order (mapping order decides the
    matrix's order); the example is skipped unless that equals the `data` dumped.

    PyYAML's emitter does not always round-trip: `'0\xa1 0'` (width 20, flow style,
    allow_unicode=False, indent 4) is written as a folded double-quoted scalar that PyYAML,
    and libyaml, read back as `'0¡\\  0'`. The launcher reads such a file rightly; the
    property is about data the file really holds.
    """
    loaded = yaml.safe_load(text_)
    same = without_x_keys(loaded) == without_x_keys(data)
    if not same:
        event("skipped: PyYAML does not read its own dump back as the data")
    assume(same)
    return loaded


def without_x_keys(data: Any) -> Any:
    """The manifest without its top-level `x-` keys, which mean nothing by themselves."""
    if not isinstance(data, dict):
        return data
    return {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}


@contextlib.contextmanager
def manifest_file(text: str, name: str = "m.yaml") -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        yield path


def plan_json(*argv: str) -> dict[str, Any]:
    code, out, err = run_cli("plan", *argv, "--format", "json")
    assert code == 0, out + err
    doc: dict[str, Any] = json.loads(out)
    return doc


# --- strategies: valid manifests ----------------------------------------------------

# No `$` in free text, so no `${{` appears but where a template is meant.
TEXT_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="$")
# Names are visible text without `#` (docs/reference/manifests.md): matrix values (which names hold)
# and the text of names leave out invisible characters and `#`. Matrix values never
# contain `|`, the separator of the variables in session names, so that distinct
# combinations always give distinct names.
INVISIBLE = ("Cs", "Cc", "Cf", "Zl", "Zp")
NAME_CHARS = st.characters(codec="utf-8", exclude_categories=INVISIBLE, exclude_characters="$#")
VALUE_CHARS = st.characters(codec="utf-8", exclude_categories=INVISIBLE, exclude_characters="$|#")
# PyYAML writes the string "1e5" plain, which reads back as a number (JSON's reading of
# it, which the launcher follows): the generator keeps to strings that stay strings.
EXPONENT_NUMBER = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+")


def _stays_a_string(s: str) -> bool:
    return not EXPONENT_NUMBER.fullmatch(s)


text = st.text(TEXT_CHARS, max_size=20).filter(_stays_a_string)
name_text = st.text(NAME_CHARS, max_size=20)
ident = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
var_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,6}", fullmatch=True).filter(
    lambda s: s not in ("include", "exclude")
)
env_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
TEMPLATE_SPELLINGS = ("${{ %s }}", "${{%s}}", "${{  %s   }}")
STYLES = st.fixed_dictionaries(
    {
        "sort_keys": st.booleans(),
        "allow_unicode": st.booleans(),
        "default_flow_style": st.sampled_from([False, None, True]),
        "width": st.sampled_from([20, 80, 10**6]),
        "indent": st.sampled_from([2, 4]),
    }
)


@st.composite
def template(draw: st.DrawFn, ref: str) -> str:
    return draw(st.sampled_from(TEMPLATE_SPELLINGS)) % ref


def matrix_value(kind: str) -> st.SearchStrategy[Any]:
    if kind == "str":
        return st.text(VALUE_CHARS, max_size=8).filter(_stays_a_string)
    if kind == "int":
        return st.integers(-(10**6), 10**6)
    return st.integers(1, 10**6)  # "pos": usable as max_acu_limit


@st.composite
def matrices(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, str]]:
    """A matrix (1–2 variables of 1–3 values, optional exclude/include) that leaves at
    least one combination and gives no two combinations the same text; and the kinds."""
    names = draw(st.lists(var_names, min_size=1, max_size=2, unique=True))
    kinds = {n: draw(st.sampled_from(["str", "int", "pos"])) for n in names}
    variables = {
        n: draw(st.lists(matrix_value(kinds[n]), min_size=1, max_size=3, unique_by=str))
        for n in names
    }
    matrix: dict[str, Any] = dict(variables)

    def key(combo: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(combo[n]) for n in names)

    product = [dict(zip(names, vs, strict=True)) for vs in itertools.product(*variables.values())]
    exclude: list[dict[str, Any]] = []
    if draw(st.booleans()):
        for _ in range(draw(st.integers(0, 2))):
            keys = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
            exclude.append({k: draw(st.sampled_from(variables[k])) for k in keys})
    left = [
        c
        for c in product
        if not any(all(str(c[k]) == str(v) for k, v in ex.items()) for ex in exclude)
    ]
    include: list[dict[str, Any]] = []
    if draw(st.booleans()):
        taken = {key(c) for c in left}
        for _ in range(draw(st.integers(0, 2))):
            combo = {n: draw(matrix_value(kinds[n])) for n in names}
            if key(combo) not in taken:
                taken.add(key(combo))
                include.append(combo)
    if not left and not include:
        exclude = []
    if exclude or draw(st.booleans()):
        matrix["exclude"] = exclude
    if include or draw(st.booleans()):
        matrix["include"] = include
    return matrix, kinds


@st.composite
def templated_text(draw: st.DrawFn, variables: list[str]) -> str:
    """Text with `${{ matrix.X }}` templates of the given variables.

    Never exactly one template: that case has its own test below (a whole template of an
    integer variable stays a string in string fields).
    """
    if not variables:
        return draw(text)
    parts = draw(
        st.lists(
            text | st.sampled_from(variables).flatmap(lambda v: template(f"matrix.{v}")),
            max_size=4,
        )
    )
    joined = "".join(parts)
    if WHOLE_MATRIX_REF.match(joined) or not _stays_a_string(joined):
        joined += "."
    return joined


@st.composite
def secrets(draw: st.DrawFn, variables: list[str]) -> dict[str, Any]:
    value = draw(text)
    for _ in range(draw(st.integers(0, 2))):
        value += draw(env_names.flatmap(lambda n: template(f"env.{n}")))
        value += draw(templated_text(variables))
    secret: dict[str, Any] = {
        "key": draw(st.text(TEXT_CHARS, min_size=1, max_size=30).filter(_stays_a_string)),
        "value": value,
    }
    if draw(st.booleans()):
        secret["sensitive"] = draw(st.booleans())
    return secret


@st.composite
def output_schemas(draw: st.DrawFn) -> dict[str, Any]:
    """A small Draft 7 object schema."""
    types = st.sampled_from(["string", "integer", "number", "boolean", "array", "object", "null"])
    props = draw(st.dictionaries(ident, types.map(lambda t: {"type": t}), max_size=3))
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if props and draw(st.booleans()):
        schema["required"] = draw(st.lists(st.sampled_from(sorted(props)), min_size=1, unique=True))
    if draw(st.booleans()):
        schema["$schema"] = draw(
            st.sampled_from(
                [
                    "http://json-schema.org/draft-07/schema#",
                    "http://json-schema.org/draft-07/schema",
                ]
            )
        )
    if draw(st.booleans()):
        schema["additionalProperties"] = draw(st.booleans())
    if draw(st.booleans()):
        schema["definitions"] = {"item": {"type": "string", "description": draw(text)}}
        schema["properties"]["list"] = {"type": "array", "items": {"$ref": "#/definitions/item"}}
    return schema


def optional_fields(
    draw: st.DrawFn, variables: list[str], pos_vars: list[str], shared: dict[str, Any] | None
) -> dict[str, Any]:
    """Request fields other than prompt, each present or not."""
    ids = st.none() | st.just([]) | st.lists(text, max_size=3)
    acu: st.SearchStrategy[Any] = st.none() | st.integers(1, 10**9)
    if pos_vars:
        acu = acu | st.sampled_from(pos_vars).flatmap(lambda v: template(f"matrix.{v}"))
    schema: st.SearchStrategy[Any] = st.none() | output_schemas()
    if shared is not None:
        schema = schema | st.just(shared)
    candidates: dict[str, st.SearchStrategy[Any]] = {
        "title": st.none() | templated_text(variables),
        "tags": st.none() | st.lists(templated_text(variables), max_size=5),
        "idempotent": st.booleans(),
        "unlisted": st.booleans(),
        "max_acu_limit": acu,
        "knowledge_ids": ids,
        "secret_ids": ids,
        "playbook_id": st.none() | text,
        "snapshot_id": st.none() | text,
        "session_secrets": st.none() | st.lists(secrets(variables), max_size=3),
        "structured_output_schema": schema,
    }
    chosen = draw(st.lists(st.sampled_from(sorted(candidates)), unique=True, max_size=6))
    return {k: draw(candidates[k]) for k in chosen}


@st.composite
def sessions(
    draw: st.DrawFn, index: int, prompt_in_defaults: bool, shared: dict[str, Any] | None
) -> dict[str, Any]:
    session: dict[str, Any] = {}
    variables: list[str] = []
    pos_vars: list[str] = []
    if draw(st.booleans()):
        matrix, kinds = draw(matrices())
        variables = list(kinds)
        pos_vars = [v for v, k in kinds.items() if k == "pos"]
    # `s<index>-` keeps names unique across sessions; every variable appears in the name.
    refs = "|".join(draw(template(f"matrix.{v}")) for v in variables)
    session["name"] = f"s{index}-{refs}{draw(name_text)}"
    if variables:
        session["matrix"] = matrix
    if not prompt_in_defaults or draw(st.booleans()):
        session["prompt"] = draw(templated_text(variables))
    session.update(optional_fields(draw, variables, pos_vars, shared))
    return session


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    """A valid version-1 manifest as Python data."""
    shared = draw(output_schemas()) if draw(st.booleans()) else None
    data: dict[str, Any] = {"version": 1}
    if shared is not None:
        data[draw(st.from_regex(r"x-[a-z]{1,6}", fullmatch=True))] = {"schema": shared}
    prompt_in_defaults = draw(st.booleans())
    if prompt_in_defaults or draw(st.booleans()):
        defaults = optional_fields(draw, [], [], shared)
        if prompt_in_defaults:
            defaults["prompt"] = draw(text)
        data["defaults"] = defaults
    n = draw(st.integers(1, 4))
    data["sessions"] = [draw(sessions(i, prompt_in_defaults, shared)) for i in range(n)]
    return data


# --- a reference model of the documented expansion ----------------------------------------


def model_combos(matrix: dict[str, Any] | None) -> list[dict[str, Any]]:
    if matrix is None:
        return [{}]
    variables = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    exclude = matrix.get("exclude") or []
    combos = [
        dict(zip(variables, vs, strict=True)) for vs in itertools.product(*variables.values())
    ]
    combos = [
        c
        for c in combos
        if not any(all(str(c[k]) == str(v) for k, v in ex.items()) for ex in exclude)
    ]
    return combos + [dict(c) for c in matrix.get("include") or []]


def substitute(value: Any, combo: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = WHOLE_MATRIX_REF.match(value)
        if whole and isinstance(combo[whole.group(1)], int):
            return combo[whole.group(1)]
        return MATRIX_REF.sub(lambda m: str(combo[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: substitute(v, combo) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, combo) for v in value]
    return value


def model_entries(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, request) for every entry, in order: defaults replaced field by field."""
    defaults = data.get("defaults") or {}
    out = []
    for session in data["sessions"]:
        request = {**defaults, **{k: v for k, v in session.items() if k in API_FIELDS}}
        for combo in model_combos(session.get("matrix")):
            out.append((substitute(session["name"], combo), substitute(request, combo)))
    return out


def expected_body(request: dict[str, Any], key: str) -> dict[str, Any]:
    """The masked body `plan --format json` shows, with the reconciliation tag."""
    body = json.loads(json.dumps(request))
    if isinstance(body.get("session_secrets"), list):
        body["session_secrets"] = [{**s, "value": "***"} for s in body["session_secrets"]]
    tags = body.get("tags") or []
    if len(tags) < 50:
        body["tags"] = [*tags, f"launcher-key:{key}"]
    return body


# --- 1. valid manifests validate, and expand as the model says ----------------------


@pytest.mark.slow
@SETTINGS
@given(data=manifests(), style=STYLES)
def test_valid_manifests_validate_and_expand_as_specified(
    data: dict[str, Any], style: dict[str, Any]
) -> None:
    text_ = dump(data, style)
    note(text_)
    loaded = read_back(text_, data)
    event(f"anchors: {'&id' in text_}")
    event(f"entries: {min(len(model_entries(data)), 10)}+")
    with manifest_file(text_) as path:
        code, out, err = run_cli("validate", path)
        assert (code, out) == (0, ""), out + err
        code, out, _ = run_cli("validate", path, "--format", "json")
        assert (code, json.loads(out)["diagnostics"]) == (0, [])
        ledger = os.path.join(os.path.dirname(path), "no-such-ledger.jsonl")
        plan = plan_json(path, "--ledger", ledger)
        assert not os.path.exists(ledger)
    expected = model_entries(loaded)
    got = plan["entries"]
    assert [e["name"] for e in got] == [name for name, _ in expected]
    for entry, (name, request) in zip(got, expected, strict=True):
        assert entry["entry"] == f"m.yaml#{name}"
        assert entry["file"] == "m.yaml"
        assert entry["action"] == "create"
        assert re.fullmatch(r"[0-9a-f]{32}", entry["key"])
        assert entry["request"] == expected_body(request, entry["key"])
    assert len({e["key"] for e in got}) == len(got)


def indent(block: str, prefix: str = "  ") -> str:
    return "".join(prefix + line for line in block.splitlines(keepends=True))


@pytest.mark.slow
@SETTINGS
@given(data=manifests(), moved=st.sets(st.sampled_from(API_FIELDS)))
def test_merge_keys_and_anchors_written_by_hand(data: dict[str, Any], moved: set[str]) -> None:
    """The fields `moved` of the first session live in an anchored `x-` mapping that the
    session merges with `<<: *common`; the manifest means the same as without it."""
    block = {"default_flow_style": False, "sort_keys": False, "allow_unicode": True}
    first = copy.deepcopy(data["sessions"][0])
    common = {k: first.pop(k) for k in list(first) if k in moved}
    text_ = "version: 1\n"
    if common:
        text_ += "x-common: &common\n" + indent(_dump(common, **block))
    if "defaults" in data:
        text_ += _dump({"defaults": copy.deepcopy(data["defaults"])}, **block)
    text_ += "sessions:\n- " + ("<<: *common\n  " if common else "")
    text_ += indent(_dump(first, **block))[2:]
    if data["sessions"][1:]:
        text_ += _dump(copy.deepcopy(data["sessions"][1:]), **block)
    note(text_)
    read_back(text_, data)  # PyYAML applies the merges, as the launcher does
    with manifest_file(text_) as path:
        code, out, err = run_cli("validate", path)
        assert (code, out) == (0, ""), out + err
        plan = plan_json(path, "--ledger", os.path.join(os.path.dirname(path), "none.jsonl"))
    expected = model_entries(data)
    assert [e["name"] for e in plan["entries"]] == [name for name, _ in expected]
    for entry, (_, request) in zip(plan["entries"], expected, strict=True):
        assert entry["request"] == expected_body(request, entry["key"])


# --- 2. field-by-field mutations ----------------------------------------------------

HUGE_SECRET = "x" * 65_537
BAD_VALUES: list[Any] = [
    None,
    1.5,
    True,
    False,
    [],
    ["x"],
    {},
    {"k": "v"},
    "",
    10**30,
    2**63,
    0,
    -1,
    ["t"] * 51,
    HUGE_SECRET,
    "${{ matrix.nope }}",
    "${{ env.X }}",
    "${{ nope }}",
]
BAD_TEMPLATES = ("${{ matrix.nope }}", "${{ nope }}")


def all_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from all_paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from all_paths(v, (*prefix, i))


def typos(word: str) -> list[str]:
    """Misspellings of a key: a letter dropped, doubled, or two letters swapped."""
    out = {word[:i] + word[i + 1 :] for i in range(len(word))}
    out |= {word[:i] + word[i] + word[i:] for i in range(len(word))}
    out |= {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
    out.discard(word)
    return sorted(t for t in out if t)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[Any, ...], str, Any]:
    """(data, path, op, value): op is `replace` (value), `delete`, or `rename` (value is
    the misspelt key). Half of the time the path is one of the documented boundary cases."""
    data = draw(manifests())
    paths = list(all_paths(data))
    targeted: list[tuple[tuple[Any, ...], st.SearchStrategy[Any]]] = [
        (("version",), st.sampled_from([2, 0, "1", 1.5, None, True, [1]])),
    ]
    for p in paths:
        if p[-1] == "tags":
            targeted.append((p, st.just(["t"] * 51)))
        elif p[-1] == "value" and "session_secrets" in p:
            targeted.append((p, st.just(HUGE_SECRET)))
        elif p[-1] == "key" and "session_secrets" in p:
            targeted.append((p, st.sampled_from(["", "k" * 257, "${{ env.X }}"])))
        elif p[-1] in ("prompt", "title"):
            targeted.append((p, st.sampled_from(["${{ env.X }}", "${{ matrix.nope }}"])))
        elif p[-1] == "max_acu_limit":
            targeted.append((p, st.sampled_from([0, -1, 1.5, True, "5"])))
        elif isinstance(p[-1], int) and len(p) == 5 and p[2] == "matrix":
            targeted.append((p, st.sampled_from([3.1, True, None, [], {}])))
    if draw(st.booleans()):
        path, values = draw(st.sampled_from(targeted))
        return data, path, "replace", draw(values)
    path = draw(st.sampled_from(paths))
    ops = ["replace", "delete"] + (["rename"] if isinstance(path[-1], str) else [])
    op = draw(st.sampled_from(ops))
    if op == "replace":
        return data, path, op, draw(st.sampled_from(BAD_VALUES))
    if op == "rename":
        return data, path, op, draw(st.sampled_from(typos(path[-1]) or ["_"]))
    return data, path, op, None


def apply(data: dict[str, Any], path: tuple[Any, ...], op: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if op == "replace":
        parent[last] = value
    elif op == "delete":
        del parent[last]
    else:  # rename, keeping the key's place
        items = [(value if k == last else k, v) for k, v in parent.items()]
        if value in parent:  # the typo is another key of this mapping: keep that one
            items = [(k, v) for k, v in parent.items() if k != last]
        parent.clear()
        parent.update(items)
    return out


def field_ok(field: str, value: Any) -> bool:
    """Whether a request field's value passes CreateSessionParams (in schemas/), for the
    values BAD_VALUES and the targeted mutations use."""
    if isinstance(value, str) and (any(t in value for t in BAD_TEMPLATES) or "${{ env." in value):
        return False  # undefined variable, unknown template, or env outside secrets
    if field in ("idempotent", "unlisted"):
        return isinstance(value, bool)
    if field == "prompt":
        return isinstance(value, str)
    if field in ("title", "playbook_id", "snapshot_id"):
        return value is None or isinstance(value, str)
    if field == "max_acu_limit":
        return value is None or (type(value) is int and value > 0)
    if field == "tags":
        return value is None or (
            isinstance(value, list) and len(value) <= 50 and all(isinstance(t, str) for t in value)
        )
    if field in ("knowledge_ids", "secret_ids"):
        return value is None or (isinstance(value, list) and all(isinstance(t, str) for t in value))
    if field == "session_secrets":
        return value is None or (
            isinstance(value, list) and all(isinstance(s, dict) and "key" in s for s in value)
        )
    if field == "structured_output_schema":
        return value is None or isinstance(value, dict)
    raise AssertionError(field)


def certainly_invalid(data: dict[str, Any], path: tuple[Any, ...], op: str, value: Any) -> bool:
    """A conservative oracle: True only for mutations that the manifest rules make errors."""
    if path == ("version",):
        return op != "replace" or not (type(value) is int and value == 1)
    if path == ("sessions",):
        return True  # no bad value is a non-empty list of sessions
    if op == "rename":
        if len(path) == 1:
            return not value.startswith("x-") and value not in TOP_KEYS
        if path[0] == "defaults" and len(path) == 2:
            return value not in API_FIELDS
        if path[0] == "sessions" and len(path) == 3:
            return value not in SESSION_KEYS
        return False
    # Where the value lands in requests: (field, rest of the path), if any request has it.
    if path[0] == "sessions" and len(path) >= 3:
        field, rest = path[2], path[3:]
        if field == "name" and not rest:
            return op == "delete" or not (isinstance(value, str) and value)
        if field == "prompt" and op == "delete":
            return "prompt" not in (data.get("defaults") or {})
    elif path[0] == "defaults" and len(path) >= 2:
        field, rest = path[1], path[2:]
        if not any(field not in s for s in data["sessions"]):
            return False  # every session replaces this default
        if field == "prompt" and op == "delete":
            return True
    else:
        return False
    if field not in API_FIELDS or op != "replace":
        return False
    if not rest:
        return not field_ok(field, value)
    if field in ("tags", "knowledge_ids", "secret_ids") and len(rest) == 1:
        return not field_ok(field, [value])
    if field == "session_secrets" and len(rest) == 2:
        if rest[1] == "value":
            return (
                not isinstance(value, str)
                or len(value) > 65_536
                or any(t in value for t in BAD_TEMPLATES)
            )
        if rest[1] == "key":
            return not isinstance(value, str) or not 1 <= len(value) <= 256 or "${{" in value
    return False


def check_diagnostics(path: str, text_: str) -> int:
    """Runs validate in both formats; checks the shape of what they print."""
    code, out, err = run_cli("validate", path)
    assert code in (0, 2), err
    lines = out.splitlines()
    if code == 0:
        assert out == ""
    else:
        assert lines, err
        n_lines = text_.count("\n") + 1
        pattern = re.compile(re.escape(path) + r":(\d+):(\d+): error: ")
        for line in lines:
            m = pattern.match(line)
            assert m, line
            assert 1 <= int(m.group(1)) <= n_lines, line
            assert int(m.group(2)) >= 1, line
    jcode, jout, _ = run_cli("validate", path, "--format", "json")
    assert jcode == code
    items = json.loads(jout)["diagnostics"]
    assert isinstance(items, list)
    assert len(items) == len(lines)
    rendered = [
        f"{d['file']}:{d['line']}:{d['col']}: error: "
        + (f"{d['where']}: " if d["where"] else "")
        + d["message"]
        for d in items
    ]
    assert rendered == lines
    return code


@pytest.mark.slow
@SETTINGS
@given(case=mutations(), style=STYLES, relative=st.booleans())
def test_mutated_manifests_report_well_formed_errors(
    case: tuple[dict[str, Any], tuple[Any, ...], str, Any],
    style: dict[str, Any],
    relative: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, path, op, value = case
    note(f"{op} {path} {value!r:.80}")
    mutated = apply(data, path, op, value)
    text_ = dump(mutated, style)
    note(text_[:4000])
    read_back(text_, mutated)  # the oracle judges `mutated`: the file must hold it
    with manifest_file(text_) as file:
        if relative:  # FILE in diagnostics is the path as given
            monkeypatch.chdir(os.path.dirname(file))
            file = "./m.yaml"
        code = check_diagnostics(file, text_)
    event(f"{op}: exit {code}")
    if certainly_invalid(data, path, op, value):
        event("certainly invalid")
        assert code == 2


# --- 3. plan: deterministic, path-independent keys ----------------------------------


def entries_of(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["entry"], e["file"], e["key"]) for e in doc["entries"]]


@pytest.mark.slow
@SETTINGS
@given(data=manifests(), style=STYLES)
def test_plan_is_the_same_from_any_directory_and_spelling(
    data: dict[str, Any], style: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        sub = root / "proj" / "sub"
        sub.mkdir(parents=True)
        (root / "other").mkdir()
        text_ = dump(data, style)
        loaded = read_back(text_, data)
        (sub / "m.yaml").write_text(text_, encoding="utf-8")
        ledger = str(root / "none" / "ledger.jsonl")
        # (working directory, the file spelled from there, the folder `proj` from there)
        spellings = [
            (root / "other", str(sub / "m.yaml"), str(root / "proj")),
            (root / "proj", "sub/m.yaml", "."),
            (root / "other", "./../proj/sub/../sub/m.yaml", "../proj/./sub/.."),
            (sub, "m.yaml", ".."),
        ]
        by_file, by_folder = [], []
        for cwd, file_arg, folder_arg in spellings:
            monkeypatch.chdir(cwd)
            first = run_cli("plan", file_arg, "--format", "json", "--ledger", ledger)
            again = run_cli("plan", file_arg, "--format", "json", "--ledger", ledger)
            assert first == again
            assert first[0] == 0, first
            by_file.append(entries_of(json.loads(first[1])))
            by_folder.append(entries_of(plan_json(folder_arg, "--ledger", ledger)))
        assert not os.path.exists(ledger)
    names = [name for name, _ in model_entries(loaded)]
    keys = [key for _, _, key in by_file[0]]
    assert len(keys) == len(names) == len(set(keys))
    pairs = list(zip(names, keys, strict=True))
    assert by_file[0] == [(f"m.yaml#{n}", "m.yaml", k) for n, k in pairs]
    assert by_folder[0] == [(f"sub/m.yaml#{n}", "sub/m.yaml", k) for n, k in pairs]
    assert all(x == by_file[0] for x in by_file)
    assert all(x == by_folder[0] for x in by_folder)


def with_a_secret(data: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    if not out["sessions"][0].get("session_secrets"):
        out["sessions"][0]["session_secrets"] = [{"key": "K", "value": "${{ env.A }}"}]
    return out


def replace_secret_values(data: dict[str, Any], values: Iterator[str]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for where in [out.get("defaults") or {}, *out["sessions"]]:
        for secret in where.get("session_secrets") or []:
            secret["value"] = next(values)
    return out


@pytest.mark.slow
@SETTINGS
@given(
    data=manifests(),
    new_values=st.lists(secrets([]).map(lambda s: s["value"]), min_size=16, max_size=16),
    edited=st.integers(0, 3),
    run_keys=st.lists(
        st.text(TEXT_CHARS, min_size=1, max_size=20).filter(str.isprintable),
        min_size=2,
        max_size=2,
        unique=True,
    ),
    style=STYLES,
)
def test_keys_ignore_secret_values_follow_the_prompt_and_the_run_key(
    data: dict[str, Any],
    new_values: list[str],
    edited: int,
    run_keys: list[str],
    style: dict[str, Any],
) -> None:
    base = with_a_secret(data)
    other_secrets = replace_secret_values(base, iter(new_values))
    j = edited % len(base["sessions"])
    other_prompt = copy.deepcopy(base)
    session = other_prompt["sessions"][j]
    prompt = session["prompt"] if "prompt" in session else base["defaults"]["prompt"]
    session["prompt"] = prompt + " (edited)"

    with tempfile.TemporaryDirectory() as tmp:
        ledger = os.path.join(tmp, "none.jsonl")

        def plan_of(doc: dict[str, Any], *extra: str) -> tuple[str, dict[str, Any]]:
            path = os.path.join(tmp, "m.yaml")
            text_ = dump(doc, style)
            # The dumps differ in secret values and one prompt only: each must hold its data,
            # or a fold elsewhere (its column moved by a longer value) would differ too.
            read_back(text_, doc)
            Path(path).write_text(text_, encoding="utf-8")
            code, out, err = run_cli("plan", path, "--format", "json", "--ledger", ledger, *extra)
            assert code == 0, out + err
            return out, json.loads(out)

        base_out, base_plan = plan_of(base)
        secrets_out, _ = plan_of(other_secrets)
        _, prompt_plan = plan_of(other_prompt)
        keyed = [plan_of(base, f"--run-key={k}")[1] for k in run_keys]

    # Secret values (and the env names inside them) are not part of the key; and being
    # masked, they leave the whole plan unchanged.
    assert secrets_out == base_out
    # The edited session's entries get new keys; the others keep theirs.
    before = {e["name"]: e["key"] for e in base_plan["entries"]}
    after = {e["name"]: e["key"] for e in prompt_plan["entries"]}
    assert before.keys() == after.keys()
    for name, key in before.items():
        assert (after[name] != key) == name.startswith(f"s{j}-"), name
    # A run key changes every key, and two run keys differ from each other.
    ids = [e["entry"] for e in base_plan["entries"]]
    keys = [set(before.values())]
    for plan in keyed:
        assert [e["entry"] for e in plan["entries"]] == ids
        keys.append({e["key"] for e in plan["entries"]})
    for a, b in itertools.combinations(keys, 2):
        assert not a & b


# --- launcher bugs found by the properties above (reproducers) ----------------------


def validate_text(text_: str) -> tuple[int, str]:
    with manifest_file(text_) as path:
        code, out, _ = run_cli("validate", path)
    return code, out


def test_version_must_be_the_integer_1_not_a_float() -> None:
    # `version` is "the integer 1"; YAML reads `1.0` as a float, and elsewhere
    # (matrix values) the validator treats a YAML float as a float, not an integer.
    code, out = validate_text("version: 1.0\nsessions:\n  - name: a\n    prompt: p\n")
    assert code == 2
    assert "version" in out


def test_whole_template_of_an_integer_variable_in_a_string_field() -> None:
    # `${{ matrix.NAME }}` may appear in any string value. Here title and tag
    # stay the strings "101" and "102" (only integer fields take the integer).
    code, out = validate_text(
        "version: 1\n"
        "sessions:\n"
        "  - name: pr-${{ matrix.pr }}\n"
        "    matrix: {pr: [101, 102]}\n"
        "    prompt: Review PR ${{ matrix.pr }}\n"
        "    title: ${{ matrix.pr }}\n"
        '    tags: ["${{ matrix.pr }}"]\n'
    )
    assert (code, out) == (0, "")
