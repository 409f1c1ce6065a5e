"""The client against hostile answers (MockTransport, one branch each): ids without a letter
or digit are no session, deep or unreadable bodies are values, never exceptions."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from launcher.api.client import Redactor
from launcher.api.followclient import FollowClient
from launcher.api.outcomes import ApiError, InDoubt, LookupFailed

DEEP = b'{"detail":' + b"[" * 5000 + b"]" * 5000 + b"}"


def _run(handler: Any, call: Any) -> Any:
    async def go() -> Any:
        transport = httpx.MockTransport(handler)
        async with httpx.AsyncClient(base_url="http://test", transport=transport) as http:
            return await call(FollowClient(http, "apk_key_123", Redactor(["apk_key_123"])))

    return anyio.run(go)


@pytest.mark.parametrize("sid", [".", "..", "-", "...", "/"])
def test_a_created_session_id_without_letter_or_digit_is_in_doubt(sid: str) -> None:
    body = {"session_id": sid, "url": "https://x/y", "is_new_session": True}
    outcome = _run(
        lambda r: httpx.Response(200, json=body), lambda c: c.create_session({"prompt": "p"})
    )
    assert isinstance(outcome, InDoubt)
    assert "no letter or digit" in outcome.error


def test_a_looked_up_session_id_without_letter_or_digit_is_refused() -> None:
    rows = {"sessions": [{"session_id": "..", "tags": ["t"]}]}
    with pytest.raises(LookupFailed):
        _run(lambda r: httpx.Response(200, json=rows), lambda c: c.find_by_tag("t"))


@pytest.mark.parametrize("status", [200, 400, 500])
def test_deep_bodies_are_answers_not_recursion_errors(status: int) -> None:
    handler = lambda r: httpx.Response(status, content=DEEP)  # noqa: E731
    outcome = _run(handler, lambda c: c.create_session({"prompt": "p"}))
    assert outcome.__class__.__name__ in ("InDoubt", "Final")
    with pytest.raises(ApiError) as caught:
        _run(handler, lambda c: c.get_session("devin-1"))
    if status == 200:
        assert caught.value.unreadable and "nested deeper than 64 levels" in str(caught.value)
    with pytest.raises(LookupFailed):
        _run(handler, lambda c: c.find_by_tag("t"))


def test_a_follow_answer_over_1_mib_is_unreadable_not_a_retry() -> None:
    big = b'{"x":"' + b"a" * (2 << 20) + b'"}'
    with pytest.raises(ApiError) as caught:
        _run(lambda r: httpx.Response(200, content=big), lambda c: c.get_session("devin-1"))
    assert caught.value.unreadable and not caught.value.transient
    assert "1,048,576 bytes" in str(caught.value)
