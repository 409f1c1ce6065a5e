"""Expansion: defaults, matrix with include/exclude, templates, and entry identity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from launcher.manifest import check, find_manifests
from tests.support.paths import MANIFESTS

GOOD = MANIFESTS / "good"


def _entries(path: Path) -> dict[str, dict[str, object]]:
    result = check([str(path)])
    assert result.diagnostics == []
    return {e.name: dict(e.request) for e in result.entries}


def test_matrix_exclude_include_and_templates() -> None:
    entries = _entries(GOOD / "full-featured.yaml")
    assert list(entries)[:3] == ["up-api", "up-worker", "up-cli"]
    api = entries["up-api"]
    assert api["prompt"] == "Upgrade acme/api to Python 3.12 and open a PR.\n"
    assert api["title"] == "Upgrade api"
    assert api["tags"] == ["python-upgrade", "repo:api"]  # replaces the default's whole list
    assert api["idempotent"] is True and api["max_acu_limit"] == 5  # from defaults
    schema = api["structured_output_schema"]
    assert isinstance(schema, dict)
    assert schema["properties"]["pr_url"]["description"] == "PR for api"
    # env templates stay unresolved in the entry; matrix ones are filled in
    assert api["session_secrets"] == [
        {"key": "NPM_TOKEN", "value": "${{ env.NPM_TOKEN }}"},
        {"key": "MIXED", "value": "${{ env.A }}-api"},
    ]


def test_empty_list_and_null_are_kept_as_given() -> None:
    entries = _entries(GOOD / "full-featured.yaml")
    plain = entries["plain"]
    assert plain["knowledge_ids"] == [] and plain["secret_ids"] == []
    assert entries["up-api"]["knowledge_ids"] is None  # explicit null from defaults
    assert plain["unlisted"] is True and plain["playbook_id"] == "playbook-1"  # merge key
    assert plain["prompt"] == "yes" and plain["title"] == "3.10"
    assert "name" not in plain and "matrix" not in plain
    assert "snapshot_id" not in plain  # fields not given are omitted, not sent as null
    assert entries["acu-1"]["snapshot_id"] is None


def test_whole_integer_template_becomes_an_integer() -> None:
    entries = _entries(GOOD / "full-featured.yaml")
    assert entries["acu-10"]["max_acu_limit"] == 10
    assert entries["acu-10"]["prompt"] == "budget 10 a"


def test_include_only_matrix_and_defaults_prompt() -> None:
    assert list(_entries(GOOD / "include-only.yaml")) == ["fix-api-12", "fix-web-7"]
    entries = _entries(GOOD / "prompt-from-defaults.yaml")
    assert entries["audit-default-tags"]["tags"] == ["audit", "weekly"]
    assert entries["audit-own-tags"]["tags"] == ["audit-only"]


def test_entry_identity_and_positions() -> None:
    result = check([str(GOOD)])
    by_name = {e.name: e for e in result.entries}
    nested = by_name["nested-one"]
    assert nested.file == "nested/second.yml"
    assert nested.path == os.path.join(str(GOOD), "nested", "second.yml")
    assert nested.entry_id == "nested/second.yml#nested-one"
    assert nested.line == 4
    assert by_name["up-cli"].line == by_name["up-api"].line == 24
    single = check([str(GOOD / "include-only.yaml")]).entries[0]
    assert single.file == "include-only.yaml"


def test_keys_do_not_depend_on_cwd_or_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    first = {e.entry_id: e.key for e in check([str(GOOD)]).entries}
    monkeypatch.chdir(GOOD.parent)
    second = {e.entry_id: e.key for e in check(["./good/../good/"]).entries}
    assert first == second
    with_run_key = {e.entry_id: e.key for e in check([str(GOOD)], run_key="2026-01-01").entries}
    assert set(with_run_key) == set(first) and not set(with_run_key.values()) & set(first.values())


def test_folders_sorted_hidden_skipped(tmp_path: Path) -> None:
    for rel in ("b.yaml", "a/z.yml", "a/b.yaml", ".git/x.yaml", "c/.x.yaml", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    sources, missing = find_manifests([str(tmp_path)])
    assert [s.file for s in sources] == ["a/b.yaml", "a/z.yml", "b.yaml"]
    assert missing == []


def test_a_long_matrix_list_is_checked_value_by_value(tmp_path: Path) -> None:
    """The shape check reads a long list of plain values as one value; a list holding one
    value of another type is still checked whole, and the error points at that value."""
    from launcher.manifest.requests import _matrix_lists_shortenable

    assert _matrix_lists_shortenable()  # else 10,000 values cost 10,000 jsonschema checks
    values = [*map(str, range(3000)), "true", "x", "[1]", *map(str, range(3000, 3100))]
    head = "version: 1\nsessions:\n  - name: t-${{ matrix.i }}\n    matrix:\n"
    path = tmp_path / "m.yaml"
    path.write_text(f"{head}      i: [{', '.join(values)}]\n    prompt: p\n")
    bad = check([str(path)]).diagnostics
    assert [(d.line, d.where) for d in bad] == [
        (5, "sessions[0].matrix.i[3000]"),
        (5, "sessions[0].matrix.i[3002]"),
    ]
    assert "got the boolean true" in bad[0].message and "a list" in bad[1].message
    good = [v for v in values if v not in ("true", "[1]")]
    path.write_text(f"{head}      i: [{', '.join(good)}]\n    prompt: p\n")
    result = check([str(path)])
    assert result.diagnostics == [] and len(result.entries) == len(good)
