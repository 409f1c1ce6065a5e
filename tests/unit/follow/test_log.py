"""A session's conversation as values: bounded in count and size, redacted before it is
cut, and hostile shapes from the server read as nothing rather than a traceback."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest

from launcher.api.client import Redactor
from launcher.api.followclient import FollowClient
from launcher.errors import AuthError
from launcher.follow.log import (
    MAX_MESSAGE_CHARS,
    MAX_MESSAGES,
    Conversation,
    Subject,
    conversation_of,
    read_conversations,
)
from launcher.follow.poll import RetryPolicy
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
