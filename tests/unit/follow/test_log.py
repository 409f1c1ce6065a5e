"""A session's conversation as values: bounded in count and size, redacted before it is
cut, and hostile shapes from the server read as nothing rather than a traceback."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest

from launcher.api.client import Redactor
from launcher.api.followclient import FollowClient
from launcher.api.retry import RetryPolicy
from launcher.errors import AuthError
from launcher.follow.log import (
    MAX_MESSAGE_CHARS,
    MAX_MESSAGES,
    Conversation,
    Subject,
    conversation_of,
    read_conversations,
)
from launcher.output.conversation import write_log

SECRET = "hunter2-very-secret-value-987"
redact = Redactor([SECRET])


def _message(kind: str, text: Any, ts: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"type": kind, "message": text, "timestamp": ts}


def test_speakers_and_status() -> None:
    session = {
        "status_enum": "blocked",
        "messages": [
            _message("initial_user_message", "Do it"),
            _message("devin_message", "Need input"),
            _message("user_message", "Here"),
            _message("something_new", "an event"),
        ],
    }
    said, skipped, status = conversation_of(session, redact)
    assert [(s.speaker, s.type, s.text) for s in said] == [
        ("user", "initial_user_message", "Do it"),
        ("devin", "devin_message", "Need input"),
        ("user", "user_message", "Here"),
        ("other", "something_new", "an event"),
    ]
    assert (skipped, status) == (0, "blocked")


def test_bounded_in_count_and_size_and_redacted_before_the_cut() -> None:
    # The secret straddles the cut: redacted first, so no part of it survives.
    long = "x" * (MAX_MESSAGE_CHARS - 5) + SECRET + "y" * 100
    messages = [_message("user_message", str(i)) for i in range(MAX_MESSAGES + 7)]
    messages.append(_message("devin_message", long))
    said, skipped, _ = conversation_of({"messages": messages}, redact)
    assert skipped == 8 and len(said) == MAX_MESSAGES
    assert said[0].text == "8"
    last = said[-1]
    # x * (MAX - 5) + "***" + y * 100, cut to MAX characters
    assert len(last.text) == MAX_MESSAGE_CHARS and last.cut == 3 + 100 - 5
    assert last.text.endswith("xxxxx***yy") and "hunter" not in last.text


@pytest.mark.parametrize(
    "session",
    [None, [], "text", {"messages": "no"}, {"messages": [1, None, ["x"]]}, {"messages": None}],
)
def test_hostile_shapes_are_nothing(session: Any) -> None:
    assert conversation_of(session, redact)[0] == []


def test_a_non_text_message_is_empty() -> None:
    said, _, _ = conversation_of({"messages": [_message("devin_message", {"a": 1})]}, redact)
    assert said[0].text == ""


def _client(handler: Any) -> FollowClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://x")
    return FollowClient(http, "k" * 20, redact, deadline=5)


@pytest.mark.anyio
async def test_an_unknown_session_and_a_rejected_key() -> None:
    subjects = [Subject("m.yaml#a", "a", "devin-a"), Subject("m.yaml#b", "b", "devin-b")]
    fast = RetryPolicy(attempts=1, initial=0, longest=0)

    def missing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": "Session not found"})

    logs = await read_conversations(_client(missing), subjects, redact, fast)
    assert [c.error for c in logs] == ["the API does not know this session"] * 2

    def denied(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"detail": "bad key"})

    with pytest.raises(AuthError):
        await read_conversations(_client(denied), subjects, redact, fast)


def test_text_is_escaped_line_by_line() -> None:
    conv = Conversation(Subject("m.yaml#a\x1b[2J", "a", "devin-a"), status="finished")
    conv.messages, _, _ = conversation_of(
        {"messages": [_message("devin_message", "line one\n\x1b]0;title\x07two\r\u202eevil")]},
        redact,
    )
    out = io.StringIO()
    write_log([conv], "text", out)
    assert out.getvalue().splitlines() == [
        "== m.yaml#a\\x1b[2J  devin-a  (finished)",
        "-- 2026-01-01T00:00:00Z  devin",
        "   line one",
        "   \\x1b]0;title\\x07two",  # a carriage return ends a line, as a newline does
        "   \\u202eevil",
    ]


def _v3_client(handler: Any) -> FollowClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://x")
    return FollowClient(http, "cog_" + "k" * 20, redact, deadline=5, generation="v3", org="o")


def _v3_pages(count: int, per_page: int) -> Any:
    """A v3 server with `count` messages, `per_page` a page; it records each page's query."""
    asked: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/messages"):
            return httpx.Response(200, json={"session_id": "devin-a", "status": "exit"})
        asked.append(dict(request.url.params))
        start = int(request.url.params.get("after", "-1")) + 1
        items = [
            {"event_id": f"e{i}", "source": "user" if i % 2 == 0 else "devin",
             "message": f"m{i} {SECRET}", "created_at": 1_767_225_600 + i}
            for i in range(start, min(count, start + per_page))
        ]  # fmt: skip
        more = start + per_page < count
        page = {"items": items, "end_cursor": str(start + len(items) - 1), "has_next_page": more}
        return httpx.Response(200, json=page)

    return handler, asked


@pytest.mark.anyio
async def test_v3_reads_the_pages_in_order_as_v1_names_them() -> None:
    handler, asked = _v3_pages(5, 2)
    subject = Subject("m.yaml#a", "a", "devin-a")
    [conv] = await read_conversations(_v3_client(handler), [subject], redact)
    assert [p.get("after") for p in asked] == [None, "1", "3"]
    assert all(p["first"] == "200" for p in asked)
    assert [(s.type, s.text) for s in conv.messages] == [
        ("initial_user_message", "m0 ***"),  # the first message from the user: the prompt
        ("devin_message", "m1 ***"),
        ("user_message", "m2 ***"),
        ("devin_message", "m3 ***"),
        ("user_message", "m4 ***"),
    ]
    assert conv.messages[0].timestamp == "2026-01-01T00:00:00+00:00"
    assert (conv.status, conv.skipped, conv.newer_unread) == ("stopped", 0, False)


@pytest.mark.anyio
async def test_v3_reads_at_most_max_pages_and_keeps_the_latest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("launcher.follow.log.MAX_PAGES", 3)
    monkeypatch.setattr("launcher.follow.log.MAX_MESSAGES", 4)
    handler, asked = _v3_pages(100, 2)
    [conv] = await read_conversations(_v3_client(handler), [Subject("e", "a", "devin-a")], redact)
    assert len(asked) == 3 and [s.text for s in conv.messages] == [
        "m2 ***",
        "m3 ***",
        "m4 ***",
        "m5 ***",
    ]
    assert (conv.skipped, conv.newer_unread) == (2, True)
    out = io.StringIO()
    write_log([conv], "text", out)
    assert out.getvalue().splitlines()[1] == "   (2 older messages not shown)"
    assert out.getvalue().endswith(" pages of messages: the newer ones were not read)\n")


@pytest.mark.anyio
async def test_v3_an_answer_that_is_not_a_page_is_that_sessions_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/messages"):
            return httpx.Response(200, json={"items": "nope"})
        return httpx.Response(200, json={"session_id": "devin-a", "status": "running"})

    fast = RetryPolicy(attempts=3, initial=0, longest=0)
    [conv] = await read_conversations(
        _v3_client(handler), [Subject("e", "a", "devin-a")], redact, fast
    )
    assert conv.error == "the messages answer is not a page {items: [...]}"
