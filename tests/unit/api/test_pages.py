"""List pages read once: a page the server sends again byte for byte is what it was read as
before (the same objects, so a quiet poll recognises every row at a glance); any other
page, an error, or another request is read anew. Over httpx.MockTransport: the sandbox
proves the whole path (`tests/e2e/test_follow.py`)."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from launcher.api.followclient import FollowClient
from launcher.api.outcomes import ApiError
from launcher.api.redact import Redactor

ROW = {"session_id": "devin-1", "status_enum": "working", "tags": ["b"]}


def _client(
    answers: list[httpx.Response], seen: list[httpx.Request], generation: Any = "v1"
) -> tuple[httpx.AsyncClient, FollowClient]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    http = httpx.AsyncClient(
        base_url="https://api.example/gateway/", transport=httpx.MockTransport(handler)
    )
    key = "cog_k_12345678" if generation == "v3" else "apk_k_12345678"
    return http, FollowClient(http, key, Redactor([]), generation=generation, org="org-1")


def test_the_same_bytes_again_are_the_same_page_and_other_bytes_a_new_one() -> None:
    same = httpx.Response(200, json={"sessions": [ROW]})
    changed = {"sessions": [{**ROW, "status_enum": "finished"}]}
    answers = [same, httpx.Response(200, content=same.content), httpx.Response(200, json=changed)]
    seen: list[httpx.Request] = []

    async def go() -> list[Any]:
        http, client = _client(answers, seen)
        async with http:
            return [await client.list_sessions("launcher-batch:a b", 100, 0) for _ in range(3)]

    first, second, third = anyio.run(go)
    assert first == {"sessions": [ROW]} and second is first  # not read again
    assert third == changed and third is not first
    # Every request went out, each to the URL httpx builds from the base URL and query.
    assert [str(r.url) for r in seen] == [
        "https://api.example/gateway/v1/sessions?tags=launcher-batch%3Aa+b&limit=100&offset=0"
    ] * 3


def test_another_page_or_an_error_is_never_taken_for_a_page_read_before() -> None:
    page = httpx.Response(200, json={"sessions": [ROW]})
    answers = [
        page,
        httpx.Response(200, content=page.content),  # the same bytes, for another offset
        httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "slow down"}),
        httpx.Response(200, content=b'{"sessions": [' * 100 + b"]}" * 100),
    ]
    seen: list[httpx.Request] = []

    async def go() -> list[Any]:
        http, client = _client(answers, seen)
        got: list[Any] = []
        async with http:
            got.append(await client.list_sessions("b", 100, 0))
            got.append(await client.list_sessions("b", 100, 100))
            for _ in range(2):
                with pytest.raises(ApiError) as caught:
                    await client.list_sessions("b", 100, 0)
                got.append(caught.value)
        return got

    first, other, throttled, deep = anyio.run(go)
    assert other == first and other is not first  # another request: read on its own
    assert (throttled.status, throttled.retry_after, throttled.transient) == (429, 2.0, True)
    assert deep.unreadable and "nested deeper than 64 levels" in str(deep)
    assert [r.url.params["offset"] for r in seen] == ["0", "100", "0", "0"]


def test_a_v3_page_is_kept_as_its_rows_and_cursor() -> None:
    page = httpx.Response(200, json={"items": [{"session_id": "devin-1", "status": "running"}]})
    answers = [page, httpx.Response(200, content=page.content)]
    seen: list[httpx.Request] = []

    async def go() -> list[Any]:
        http, client = _client(answers, seen, "v3")
        async with http:
            return [await client.list_by_ids(["devin-1"]) for _ in range(2)]

    (rows, cursor), again = anyio.run(go)
    assert again[0] is rows and cursor is None and rows[0]["session_id"] == "devin-1"
    assert seen[0].url.path == "/gateway/v3/organizations/org-1/sessions"
    assert seen[1].url == seen[0].url
