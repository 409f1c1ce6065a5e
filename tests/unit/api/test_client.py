"""Unit tests of the outcome classification in client.py (one function each, MockTransport),
of the redactor, and of bounded answers through a real loopback socket.

The same behaviours are exercised end to end against the real sandbox in test_run_*.py
and test_wire_security.py.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Callable

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from launcher.api.answer import parse_retry_after
from launcher.api.client import DevinClient, Redactor
from launcher.api.outcomes import Created, Fatal, Final, InDoubt, LookupFailed, RetrySafe
from launcher.api.redact import WITHHELD, api_key_from
from launcher.errors import UsageError
from tests.support.hostile import serving

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
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= (parse_retry_after(date, now=now) or 0) <= 31


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


# --- hostile values, bounded answers, shapes, every escaped form ----------------


@pytest.mark.parametrize("value", ["inf", "Infinity", "1e12", "1e400"])
def test_an_enormous_retry_after_is_read_as_a_day(value: str) -> None:
    assert parse_retry_after(value) == 86400.0


@pytest.mark.parametrize("value", ["-3", "nan", "-inf", "NaN"])
def test_a_negative_or_nan_retry_after_is_ignored(value: str) -> None:
    assert parse_retry_after(value) is None  # the caller backs off on its own


def test_a_past_retry_after_date_is_ignored() -> None:
    now = time.time()
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"session_id": {"a": 1}, "url": None}, "session_id is dict, not a string"),
        ({"session_id": "devin-1", "url": None}, "url is null, not a string"),
        ({"session_id": "devin-1"}, "url is null, not a string"),
        ({"session_id": "", "url": "u"}, "session_id is empty"),
        ({"session_id": "d\x1b[2J", "url": "u"}, "session_id holds spaces or control"),
        ({"session_id": "d", "url": "u", "is_new_session": "no"}, "is_new_session is str"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_a_wrong_shape_is_a_protocol_error_in_doubt(body: object, problem: str) -> None:
    outcome = classify(answer(201, json=body))
    assert isinstance(outcome, InDoubt) and outcome.status == 201
    assert problem in outcome.error


def test_a_session_id_made_of_a_secret_is_not_a_session() -> None:
    outcome = classify(answer(201, json={"session_id": SECRET, "url": "u"}))
    assert isinstance(outcome, InDoubt) and SECRET not in outcome.error


SECRETS = [
    "-----BEGIN KEY-----\nMIIBVwIBADANBgkq\n-----END KEY-----",
    'pa"ss\\word-long-enough',
    "päss-wörd-ünïcode-€",
    "apk_key_with'quote_and\"dquote",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_the_redactor_masks_every_escaped_form(secret: str) -> None:
    import html
    import json
    import urllib.parse

    redact = Redactor([secret])
    as_json = json.dumps(secret)[1:-1]
    forms = [
        secret,
        as_json,
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(as_json)[1:-1],
        repr(secret),
        repr(secret.encode()),
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        urllib.parse.quote(as_json, safe=""),
        html.escape(secret),
    ]
    for form in forms:
        text = f"the server said: <{form}> and more"
        assert redact(text) != text, form
        assert form not in redact(text) and form not in redact.outside(text)
        assert redact.outside(text).startswith(("the server said: <", "(the server's"))


def test_an_unforeseen_escaping_of_a_secret_withholds_the_message() -> None:
    redact = Redactor(["pa\tss-ALNUMCORE42-word"])
    text = "echo: pa\\x09ss-ALNUMCORE42-word"  # an escaping no form list foresees
    assert redact.outside(text).startswith("(the server's message is withheld")


def test_short_secrets_never_mangle_the_launchers_words_but_withhold_server_text() -> None:
    redact = Redactor(["x"])
    assert redact("the server asked to wait 9s, more than --max-wait 5s") == (
        "the server asked to wait 9s, more than --max-wait 5s"
    )
    assert redact.outside("bad value x") == WITHHELD
    assert redact.outside("all fine") == "all fine"


def test_the_api_key_is_stripped_with_a_warning_or_refused_without_its_value() -> None:
    key, warnings = api_key_from({"K": "apk_abcdefgh123\r\n"}, "K")
    assert key == "apk_abcdefgh123" and "K has spaces or line breaks" in warnings[0]
    for bad in ("apk_abc\x7fdef12", "apk_abcdé12345", "apk abc def 123", "apk_5"):
        with pytest.raises(UsageError) as caught:
            api_key_from({"K": bad}, "K")
        assert "K (the API key)" in str(caught.value) and bad not in str(caught.value)
    with pytest.raises(UsageError, match="K \\(the API key\\) is empty"):
        api_key_from({"K": " \r\n"}, "K")


# --- bounded answers, through a real socket ----------------------------------------------


def _served_answer(path_body: Callable[[], AsyncIterator[bytes]], sent: list[int]) -> Starlette:
    async def create(request: Request) -> Response:
        async def counted() -> AsyncIterator[bytes]:
            async for chunk in path_body():
                sent[0] += len(chunk)
                yield chunk

        return StreamingResponse(counted(), 201, media_type="application/json")

    return Starlette(routes=[Route("/v1/sessions", create, methods=["POST"])])


def _create_over_loopback(app: Starlette, deadline: float) -> tuple[object, float]:
    async def go() -> object:
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
            client = DevinClient(http, "apk_key_12345", Redactor([]), deadline=deadline)
            with anyio.fail_after(20):  # today's main would read on: fail, do not hang
                return await client.create_session({"prompt": "p"})

    with serving(app) as url:
        started = time.monotonic()
        outcome = anyio.run(go)
        return outcome, time.monotonic() - started


@pytest.mark.slow
def test_a_huge_answer_is_cut_at_the_cap_and_left_in_doubt() -> None:
    sent = [0]

    async def endless() -> AsyncIterator[bytes]:
        while True:  # 6.4 MB/s for ever: only a cap ends the read (main read on, 20 s)
            yield b"x" * 65536
            await anyio.sleep(0.01)

    outcome, _ = _create_over_loopback(_served_answer(endless, sent), deadline=30)
    assert isinstance(outcome, InDoubt) and "over 1048576 bytes" in outcome.error
    assert sent[0] > 1048576


@pytest.mark.slow
def test_a_slow_drip_answer_ends_at_the_deadline_in_doubt() -> None:
    sent = [0]

    async def drip() -> AsyncIterator[bytes]:
        for _ in range(200):  # 1 byte each 0.2 s: each read is quick, the whole is not
            await anyio.sleep(0.2)
            yield b" "

    outcome, elapsed = _create_over_loopback(_served_answer(drip, sent), deadline=1.5)
    assert isinstance(outcome, InDoubt) and "within 1.5s" in outcome.error
    assert elapsed < 15


def test_a_lookup_drops_a_url_that_is_not_one() -> None:
    sessions = [
        {"session_id": "a", "tags": ["t"], "url": f"https://x/{SECRET}"},
        {"session_id": "b", "tags": ["t"], "url": "https://x/\x1b]0;pwned\x07"},
        {"session_id": "c", "tags": ["t"], "url": {"a": 1}},
        {"session_id": "d", "tags": ["t"], "url": "https://x/d"},
    ]

    async def go() -> list[object]:
        transport = answer(200, json={"sessions": sessions})
        async with httpx.AsyncClient(base_url="http://test", transport=transport) as http:
            found = await DevinClient(http, "k", Redactor([SECRET])).find_by_tag("t")
            return [s["url"] for s in found]

    assert anyio.run(go) == [None, None, None, "https://x/d"]
