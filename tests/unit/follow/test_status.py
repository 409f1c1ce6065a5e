"""A session row from the API made safe: ids that name no session are ignored, a PR URL is
kept only as http(s)."""

from __future__ import annotations

import pytest

from launcher.follow.status import NOT_A_URL, normalise, pr_url_of


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
