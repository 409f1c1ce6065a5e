"""Checking a session's structured output against its schema: errors by JSON path, formats
not asserted, a missing output does not conform."""

from __future__ import annotations

from launcher.follow.outputcheck import check_output
from tests.support.followkit import SCHEMA


def test_output_check_paths_and_formats_not_asserted() -> None:
    assert check_output(SCHEMA, {"ok": True, "when": "not a date"}) == (True, [])
    valid, errors = check_output(SCHEMA, {"ok": "yes"})
    assert not valid and errors == [{"path": "$.ok", "message": "'yes' is not of type 'boolean'"}]
    valid, errors = check_output({"type": "array", "items": {"type": "integer"}}, [1, "a"] * 50)
    assert not valid and errors[0]["path"] == "$[1]" and len(errors) == 5


def test_missing_output_does_not_conform() -> None:
    valid, errors = check_output(SCHEMA, None)
    assert not valid and "no structured output" in errors[0]["message"]
