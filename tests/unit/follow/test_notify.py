"""The notification body and its delivery, through httpx.MockTransport: bounded, redacted,
retried only when a retry can help, and never naming the URL's path."""

from __future__ import annotations

import argparse
import json

import httpx
import pytest

from launcher.api.redact import Redactor
from launcher.api.retry import RetryPolicy
from launcher.follow.notify import (
    MAX_BODY_BYTES,
    bounded,
    notify_url,
    post_once,
    shown,
)

FAST = RetryPolicy(attempts=3, initial=0, longest=0)
URL = "https://hooks.slack.com/services/T000/B000/XXXXSECRETPATH"


def _client(statuses: list[int], seen: list[httpx.Request]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(statuses.pop(0) if statuses else 200)

    return httpx.Client(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("statuses", "posts", "warning"),
    [
        ([200], 1, None),
        ([500, 502, 204], 3, None),
        ([429, 200], 2, None),
        ([500, 500, 500, 200], 3, "the receiver answered HTTP 500 after 3 attempts"),
        ([404, 200], 1, "the receiver answered HTTP 404"),  # retrying cannot help
    ],
)
def test_retried_only_when_it_can_help(
    statuses: list[int], posts: int, warning: str | None
) -> None:
    seen: list[httpx.Request] = []
    warnings = post_once([URL], b"{}", FAST, _client(statuses, seen))
    assert len(seen) == posts
    assert warnings == (
        [f"could not notify https://hooks.slack.com/…: {warning}"] if warning else []
    )
    assert all("SECRETPATH" not in w for w in warnings)


def test_no_connection_is_a_warning_without_the_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    client = httpx.Client(transport=httpx.MockTransport(handler))
    [warning] = post_once([URL], b"{}", FAST, client)
    assert warning == (
        "could not notify https://hooks.slack.com/…: no connection (ConnectError) after 3 attempts"
    )


def test_the_body_is_redacted_and_bounded() -> None:
    entries = [
        {"entry": f"m.yaml#e{i}", "ended_well": i % 7 != 0, "reason": "x" * 2000}
        for i in range(500)
    ]
    summary = {"text": "done with hunter2-secret", "entries": entries}
    body = bounded(summary, Redactor(["hunter2-secret"]))
    assert len(body) <= MAX_BODY_BYTES
    doc = json.loads(body)
    assert doc["text"] == "done with ***"
    assert doc["entries_not_sent"] == 500 - len(doc["entries"])
    # the entries that did not end well come first
    assert all(not e["ended_well"] for e in doc["entries"][: min(len(doc["entries"]), 72)])


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.slack.com/services/x", True),
        ("http://127.0.0.1:8080/hook", True),
        ("http://localhost/hook", True),
        ("http://hooks.example.com/x", False),
        ("ftp://example.com/x", False),
        ("not a url", False),
    ],
)
def test_notify_url(url: str, ok: bool) -> None:
    if ok:
        assert notify_url(url) == url
    else:
        with pytest.raises(argparse.ArgumentTypeError) as exc:
            notify_url(url)
        assert "/x" not in str(exc.value)


def test_shown_keeps_scheme_and_host_only() -> None:
    assert shown(URL) == "https://hooks.slack.com/…"
    assert shown("http://127.0.0.1:9999/a/b?token=1") == "http://127.0.0.1:9999/…"
    assert shown("https://user:pw@example.com/x") == "https://example.com/…"
