"""`launcher validate` on the example files: every bad case gives its expected diagnostics
(file, line, fragment of the message) and exit 2; every good file validates clean."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from launcher.cli import main
from launcher.manifest import Speaking, check
from tests.support.paths import EXAMPLES, MANIFESTS

GOOD = MANIFESTS / "good"
BAD = MANIFESTS / "bad"
BAD_CASES = sorted(p.name for p in BAD.iterdir() if (p / "expected.txt").is_file())


def _expected(case: Path) -> list[tuple[str, int, str]]:
    out = []
    for line in (case / "expected.txt").read_text(encoding="utf-8").splitlines():
        if line.strip():
            file, number, fragment = line.split(":", 2)
            out.append((file, int(number), fragment.strip()))
    return out


def test_every_bad_case_folder_has_expectations() -> None:
    folders = sorted(p.name for p in BAD.iterdir() if p.is_dir())
    assert folders == BAD_CASES
    assert len(BAD_CASES) >= 40


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_case(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    folder = BAD / case
    assert main(["validate", str(folder)]) == 2
    out = capsys.readouterr().out.splitlines()
    for file, line, fragment in _expected(folder):
        prefix = f"{folder / file}:{line}:"
        hits = [o for o in out if o.startswith(prefix) and fragment in o]
        assert hits, f"no diagnostic {prefix} ...{fragment}... in:\n" + "\n".join(out)
    assert all(": error: " in o for o in out)


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_case_json(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    folder = BAD / case
    assert main(["validate", "--format", "json", str(folder)]) == 2
    items = json.loads(capsys.readouterr().out)["diagnostics"]
    assert items and all(set(i) == {"file", "line", "col", "where", "message"} for i in items)
    assert all(i["line"] >= 1 and i["col"] >= 1 for i in items)
    for file, line, fragment in _expected(folder):
        assert any(
            i["file"] == str(folder / file) and i["line"] == line and fragment in i["message"]
            for i in items
        ) or any(
            # fragments may quote the WHERE part too
            i["file"] == str(folder / file) and fragment in f"{i['where']}: {i['message']}"
            for i in items
        )


@pytest.mark.parametrize(
    "path", sorted(p for p in GOOD.rglob("*.y*ml") if not any(x.startswith(".") for x in p.parts))
)
def test_good_file(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(path)]) == 0, capsys.readouterr().out
    assert capsys.readouterr().out == ""


def test_good_folder_and_examples_together(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(GOOD), str(EXAMPLES)]) == 0, capsys.readouterr().out
    err = capsys.readouterr().err
    assert err.startswith("ok: 10 files,")


def test_examples_json_is_empty_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--format", "json", str(EXAMPLES)]) == 0
    assert json.loads(capsys.readouterr().out)["diagnostics"] == []


def test_examples_expand_to_a_demo_sized_run() -> None:
    result = check([str(EXAMPLES)])
    assert result.diagnostics == []
    assert 10 <= len(result.entries) <= 20
    assert result.files == 5


def test_missing_path_and_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a manifest")
    missing = tmp_path / "nope.yaml"
    assert main(["validate", str(missing), str(empty)]) == 2
    out = capsys.readouterr().out
    assert f"{missing}:1:1: error: no such file or folder" in out
    assert f"{empty}:1:1: error: no *.yaml or *.yml manifest in this folder" in out


def test_keeps_going_after_a_bad_file_and_sorts(capsys: pytest.CaptureFixture[str]) -> None:
    folders = [str(BAD / "yaml11-bool"), str(BAD / "syntax-error"), str(GOOD)]
    assert main(["validate", *folders]) == 2
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert len(out) == 4
    assert out == sorted(out)
    assert out[0].startswith(str(BAD / "syntax-error"))
    assert captured.err == "4 errors in 2 of 7 files\n"


def test_every_error_at_once_in_one_run() -> None:
    """14 independent mistakes of every stage (YAML, shape, YAML 1.1, expansion, requests,
    secrets, matrix, output schema) in one file: all 14 in one run, each once."""
    folder = BAD / "every-error-at-once"
    diagnostics = check([str(folder)]).diagnostics
    expected = _expected(folder)
    assert len(diagnostics) == len(expected) == 14
    for (_, line, fragment), diag in zip(expected, diagnostics, strict=True):
        assert diag.line == line and fragment in f"{diag.where}: {diag.message}", diag


def test_one_include_that_differs_is_one_error() -> None:
    """40 includes, one with an extra key: one error, at that key (the majority's shape
    wins), not one "missing `due`" per other include."""
    [diag] = check([str(BAD / "matrix-include-odd-one-out")]).diagnostics
    assert diag.where == "sessions[0].matrix.include[17].due"


def test_one_include_that_lacks_a_key_is_one_error(tmp_path: Path) -> None:
    items = [f"{{t: T{i}, repo: api}}" for i in range(9)] + ["{t: T9}"]
    path = tmp_path / "m.yaml"
    path.write_text(
        "version: 1\nsessions:\n  - name: n-${{ matrix.t }}\n    prompt: ${{ matrix.repo }}\n"
        "    matrix:\n      include: [" + ", ".join(items) + "]\n"
    )
    [diag] = check([str(path)]).diagnostics
    assert diag.where == "sessions[0].matrix.include[9]"
    assert diag.message == (
        "every include gives the same variables; this one lacks `repo`, which most give"
    )


def test_includes_that_make_one_name_are_named_not_told_to_template() -> None:
    diagnostics = check([str(BAD / "matrix-include-same-name")]).diagnostics
    assert [d.where for d in diagnostics] == [
        "sessions[0].matrix.include[3]",
        "sessions[0].matrix.include[4]",
        "sessions[1].name",
    ]
    assert "`include[1]`" in diagnostics[0].message
    assert "`include[0]`" in diagnostics[1].message


def test_same_file_twice_is_read_once() -> None:
    one = GOOD / "include-only.yaml"
    result = check([str(GOOD), str(one)])
    assert result.diagnostics == []
    alone = check([str(GOOD)])
    assert (result.files, len(result.entries)) == (alone.files, len(alone.entries))


def test_billion_laughs_says_what_it_is() -> None:
    result = check([str(BAD / "billion-laughs")])
    [diag] = result.diagnostics
    assert "aliases expand to more than 100,000 nodes" in diag.message
    assert "billion laughs" in diag.message


def test_secret_value_too_long(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    long_value = "v" * 65_537
    manifest.write_text(
        "version: 1\nsessions:\n  - name: a\n    prompt: p\n    session_secrets:\n"
        f"      - key: K\n        value: {long_value}\n"
        f"      - key: OK\n        value: {'v' * 65_536}\n"
    )
    [diag] = check([str(manifest)]).diagnostics
    assert (diag.line, diag.where) == (7, "sessions[0].session_secrets[0].value")
    assert "at most 65,536 characters are allowed, got 65,537" in diag.message


def test_output_schema_size_boundary(tmp_path: Path) -> None:
    def manifest(size: int) -> Path:
        # {"description":"…"} is 18 bytes around the text
        path = tmp_path / f"m{size}.yaml"
        text = "d" * (size - 18)
        path.write_text(
            "version: 1\nsessions:\n  - name: a\n    prompt: p\n"
            f"    structured_output_schema:\n      description: {text}\n"
        )
        return path

    assert check([str(manifest(65_536))]).diagnostics == []
    [diag] = check([str(manifest(65_537))]).diagnostics
    assert "65,537 bytes" in diag.message


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads everything")
    path = tmp_path / "secret.yaml"
    path.write_text("version: 1\n")
    path.chmod(0)
    [diag] = check([str(path)]).diagnostics
    assert "cannot read the file" in diag.message


def test_secret_values_are_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "version: 1\n"
        "x-shared:\n  s: &s {key: S, value: 0x2A5F}\n"
        "defaults:\n  session_secrets: [{key: D, value: 0o17777}, {key: E, value: 01777}]\n"
        "sessions:\n  - name: a\n    prompt: p\n    session_secrets:\n"
        "      - {key: A, value: 123456789}\n"
        "      - {key: B, value: yes}\n"
        "      - {key: C, value: 2024-01-01}\n"
        "      - {key: F, value: !!int 987zz}\n"
        "      - {key: G, value: 4.125}\n"
        "      - *s\n"
        "  - name: b\n    prompt: p\n"
    )
    secrets = ("123456789", "yes", "2024-01-01", "987zz", "4.125", "0x2A5F", "10847", "1023")
    for fmt in ("text", "json"):
        assert main(["validate", "--format", fmt, str(manifest)]) == 2
        out = capsys.readouterr().out
        assert out.count("secret values are never shown") == 7, out
        leaked = [s for s in secrets if s in out]
        assert not leaked, out


def test_plan_selects_without_loading_the_runner(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from launcher.cli import main\n"
        f"main(['plan', {str(GOOD / 'include-only.yaml')!r}, '--ledger', {str(tmp_path / 'l')!r},"
        " '--select', '*'])\n"
        "bad = {'launcher.dispatch.dispatcher', 'httpx', 'tenacity'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_select_entries() -> None:
    from launcher.errors import UsageError
    from launcher.plan import select_entries

    entries = check([str(GOOD)]).entries
    names = [e.name for e in entries]
    assert select_entries(entries, None) is entries
    assert select_entries(entries, []) is entries
    first, last = names[0], names[-1]
    chosen = select_entries(entries, [first, last, first])
    assert [e.name for e in chosen] == [n for n in names if n in (first, last)]
    assert [e.name for e in select_entries(entries, ["*"])] == names
    assert select_entries(entries, [first[0] + "*"])[0].name == first
    with pytest.raises(UsageError, match="no entry name matches --select nope zip"):
        select_entries(entries, ["nope", "zip"])


def test_v3_only_fields_are_fine_when_the_run_speaks_v3_and_v1_only_ones_warn_once(
    tmp_path: Path,
) -> None:
    v3 = Speaking("v3", "--api v3")
    found = check([str(BAD / "v3-fields-on-v1")], api=v3)
    assert found.diagnostics == [] and len(found.entries) == 4
    assert found.entries[0].request["repos"] == ["acme/api"]
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "version: 1\ndefaults: {idempotent: true, unlisted: true}\nsessions:\n"
        "  - {name: a, prompt: pa}\n  - {name: b, prompt: pb}\n"
    )
    notes = check([str(manifest)], api=v3).notes
    assert [n for n in notes if "only in the API v1" in n] == [
        "warning: idempotent, unlisted exist only in the API v1: not sent to v3 (2 entries, "
        "e.g. m.yaml#a); remove them from the manifests"
    ]
    assert not any("only in the API v1" in n for n in check([str(manifest)]).notes)


SAMPLES = ["text", "", True, False, None, 0, 3, 1.5, [], ["a"], {}, {"a": 1}]


def test_a_field_checked_by_its_type_alone_accepts_what_its_schema_accepts() -> None:
    """Fields whose schema says only a type skip jsonschema for values of that type: for
    every sample value, the shortcut and the schema agree on whether it is valid."""
    from launcher.api import openapi
    from launcher.manifest.requests import _plain_types

    plain, validators = _plain_types(), openapi.field_validators()
    assert {"prompt", "title", "idempotent"} <= plain.keys()
    assert "tags" not in plain and "max_acu_limit" not in plain  # maxItems, a minimum
    for name, types in plain.items():
        for value in SAMPLES:
            valid = validators[name].is_valid(value)
            assert (type(value) in types) == valid, (name, value)


def test_a_templated_field_of_the_wrong_type_is_named_in_each_entry(tmp_path: Path) -> None:
    """A field checked by its type alone still gets jsonschema's words when the type is
    wrong, in every entry after the first too."""
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "version: 1\nsessions:\n  - name: t-${{ matrix.p }}\n    matrix:\n"
        "      p: [a, b]\n    prompt: Task ${{ matrix.p }}\n    idempotent: ${{ matrix.p }}\n"
    )
    messages = [d.message for d in check([str(manifest)]).diagnostics]
    assert any("boolean" in m and "t-b" in m for m in messages), messages
