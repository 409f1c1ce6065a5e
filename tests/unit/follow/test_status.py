"""A session row from the API made safe: ids that name no session are ignored, a PR URL is
kept only as http(s)."""

from __future__ import annotations

from typing import Any

import pytest

from launcher.follow.status import MAX_OUTPUT_BYTES, NOT_A_URL, normalise, pr_url_of


@pytest.mark.parametrize("sid", [".", "..", "/", "-"])
def test_a_row_whose_id_has_no_letter_or_digit_is_ignored(sid: str) -> None:
    assert normalise({"session_id": sid, "status_enum": "finished"}) is None


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://github.com/o/r/pull/1", "https://github.com/o/r/pull/1"),
        ("HTTP://example.test/pr/2", "HTTP://example.test/pr/2"),
        ("javascript:alert(document.cookie)", NOT_A_URL),
        ("file:///etc/passwd", NOT_A_URL),
        ("data:text/html,<script>", NOT_A_URL),
        ("//evil.test/x", NOT_A_URL),
        ("", None),
        (None, None),
    ],
)
def test_only_http_pr_urls_are_kept(url: str | None, kept: str | None) -> None:
    row = {"session_id": "devin-1", "status_enum": "finished", "pull_request": {"url": url}}
    seen = normalise(row)
    assert seen is not None and seen.pull_request_url == kept
    assert pr_url_of(url) == kept


def test_status_enum_null_falls_back_to_status() -> None:
    seen = normalise({"session_id": "s1", "status_enum": None, "status": "Finished"})
    assert seen is not None and seen.status == "finished" and seen.settled


@pytest.mark.parametrize(
    "row",
    [
        None,
        [],
        "x",
        {"session_id": 5},
        {"session_id": ""},
        {"session_id": "a\x1b[2Jb"},
        {"session_id": "x" * 500},
    ],
)
def test_rows_without_a_sane_session_id_are_ignored(row: Any) -> None:
    assert normalise(row) is None


def test_hostile_fields_are_typed_bounded_and_escaped() -> None:
    seen = normalise(
        {
            "session_id": "s1",
            "status_enum": "work\x1b]0;pwned\x07ing" + "x" * 100,
            "pull_request": {"url": "https://e/pr\r\n1" + "y" * 5000},
            "structured_output": {"big": "z" * (MAX_OUTPUT_BYTES + 1)},
        }
    )
    assert seen is not None
    assert "\x1b" not in seen.status and len(seen.status) <= 45 and not seen.settled
    assert seen.pull_request_url is not None and "\r" not in seen.pull_request_url
    assert len(seen.pull_request_url) < 2100
    assert seen.structured_output is None and "over the 64 KB" in (seen.output_dropped or "")


def test_pull_request_as_bare_string_and_wrong_types() -> None:
    assert normalise({"session_id": "s", "pull_request": "https://e/1"}).pull_request_url  # type: ignore[union-attr]
    seen = normalise({"session_id": "s", "status": 7, "pull_request": {"url": 3}})
    assert seen is not None and seen.status == "unknown" and seen.pull_request_url is None
