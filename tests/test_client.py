"""Unit tests of the outcome classification in client.py (one function each, MockTransport).

The same behaviours are exercised end to end against the real sandbox in test_run_*.py.
"""

from __future__ import annotations

import email.utils
import time

import anyio
import httpx
import pytest

from launcher.api.client import DevinClient, Redactor, parse_retry_after
from launcher.api.outcomes import Created, Fatal, Final, InDoubt, LookupFailed, RetrySafe

SECRET = "s3cr3t-value-123"


def classify(handler: httpx.MockTransport) -> object:
    async def go() -> object:
        async with httpx.AsyncClient(base_url="http://test", transport=handler) as http:
            client = DevinClient(http, "apk_key", Redactor([SECRET, "apk_key"]))
            return await client.create_session({"prompt": "p"})

    return anyio.run(go)


def answer(status: int, **kwargs: object) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, **kwargs))  # type: ignore[arg-type]


def raising(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.MockTransport(handler)


def test_created_keeps_is_new_session() -> None:
    body = {"session_id": "devin-1", "url": "u", "is_new_session": False}
    assert classify(answer(200, json=body)) == Created("devin-1", "u", False)


def test_created_without_is_new_session_is_none() -> None:
    assert classify(answer(200, json={"session_id": "d", "url": "u"})) == Created("d", "u", None)


def test_unreadable_success_is_in_doubt() -> None:
    assert isinstance(classify(answer(200, text="oops")), InDoubt)


@pytest.mark.parametrize("status", [429, 503])
def test_throttles_are_retry_safe_with_retry_after(status: int) -> None:
    outcome = classify(answer(status, headers={"Retry-After": "3"}, json={"detail": "slow"}))
    assert outcome == RetrySafe(f"HTTP {status}: slow", status, 3.0)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_errors_are_in_doubt(status: int) -> None:
    outcome = classify(answer(status, text="boom"))
    assert isinstance(outcome, InDoubt) and outcome.status == status


@pytest.mark.parametrize("status", [401, 403])
def test_credentials_rejected_is_fatal(status: int) -> None:
    outcome = classify(answer(status, json={"detail": "Invalid API key"}))
    assert outcome == Fatal(f"HTTP {status}: Invalid API key", status)


def test_validation_error_is_final_and_never_echoes_input() -> None:
    detail = [
        {
            "loc": ["body", "session_secrets", 0, "value"],
            "msg": "too long",
            "type": "x",
            "input": SECRET,
        },
        {"loc": ["body", "title"], "msg": f"bad title {SECRET}", "type": "y"},
    ]
    outcome = classify(answer(422, json={"detail": detail}))
    assert isinstance(outcome, Final) and outcome.status == 422
    assert "session_secrets.0.value: too long" in outcome.error
    assert SECRET not in outcome.error and "***" in outcome.error


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ConnectError("refused"), RetrySafe),
        (httpx.ConnectTimeout("slow connect"), RetrySafe),
        (httpx.ReadTimeout("no answer"), InDoubt),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), InDoubt),
        (httpx.ReadError("reset"), InDoubt),
    ],
)
def test_transport_errors(exc: Exception, kind: type) -> None:
    assert isinstance(classify(raising(exc)), kind)


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= (parse_retry_after(date, now=now) or 0) <= 31
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


def test_lookup_filters_by_tag_and_fails_loudly() -> None:
    sessions = [
        {"session_id": "b", "tags": ["t"], "created_at": "2026-01-02"},
        {"session_id": "a", "tags": ["t"], "created_at": "2026-01-01"},
        {"session_id": "c", "tags": ["other"], "created_at": "2026-01-01"},
    ]

    async def go(transport: httpx.MockTransport) -> list[str]:
        async with httpx.AsyncClient(base_url="http://test", transport=transport) as http:
            found = await DevinClient(http, "k", Redactor([])).find_by_tag("t")
            return [s["session_id"] for s in found]

    assert anyio.run(go, answer(200, json={"sessions": sessions})) == ["a", "b"]
    with pytest.raises(LookupFailed):
        anyio.run(go, answer(500, text="down"))
    with pytest.raises(LookupFailed):
        anyio.run(go, raising(httpx.ConnectError("refused")))


def test_secrets_are_removed_before_the_message_is_shortened() -> None:
    # A secret straddling the 500-character cut must not leave its first half behind.
    detail = "x" * 490 + f" bad {SECRET} and more"
    outcome = classify(answer(422, json={"detail": detail}))
    assert isinstance(outcome, Final)
    assert SECRET[:6] not in outcome.error


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_final_and_name_the_target(status: int) -> None:
    outcome = classify(answer(status, headers={"Location": "https://api.devin.ai/v1/sessions"}))
    assert isinstance(outcome, Final) and outcome.status == status
    assert "redirects to https://api.devin.ai/v1/sessions" in outcome.error
    assert "--base-url" in outcome.error
