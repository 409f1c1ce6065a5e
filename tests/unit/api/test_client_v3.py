"""The client's v3 branches, over httpx.MockTransport (the sandbox proves the whole path):
organisation-scoped paths, v1-only fields left out of create, the lookup bounded by
created_after, and rows read with every pull request."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

import anyio
import httpx

from launcher.api.followclient import FollowClient
from launcher.api.outcomes import ApiError, Created
from launcher.api.redact import Redactor

SINCE = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
V3_FIELDS = {
    "repos": ["acme/api"],
    "attachment_urls": ["https://files.example/a.txt"],
    "session_links": ["https://app.devin.ai/sessions/abc"],
    "bypass_approval": True,
    "create_as_user_id": "user-1",
    "child_playbook_id": "playbook-1",
    "advanced_mode": "batch",
}


def _client(seen: list[httpx.Request], answer: Any) -> tuple[httpx.AsyncClient, FollowClient]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    http = httpx.AsyncClient(base_url="https://api.example", transport=httpx.MockTransport(handler))
    return http, FollowClient(http, "cog_k_12345678", Redactor([]), generation="v3", org="org-1")


def test_create_goes_to_the_organisation_without_v1_only_fields() -> None:
    seen: list[httpx.Request] = []

    async def go() -> Any:
        http, client = _client(seen, {"session_id": "devin-1", "url": "https://x/s/1"})
        async with http:
            body = {"prompt": "p", "idempotent": True, "tags": ["t"], **V3_FIELDS}
            return await client.create_session(body)

    outcome = anyio.run(go)
    assert outcome == Created("devin-1", "https://x/s/1", None)
    assert seen[0].url.path == "/v3/organizations/org-1/sessions"
    # the v3-only fields are sent as written
    assert json.loads(seen[0].content) == {"prompt": "p", "tags": ["t"], **V3_FIELDS}


def test_the_lookup_is_bounded_by_created_after() -> None:
    seen: list[httpx.Request] = []
    row = {"session_id": "devin-1", "url": "https://x/s/1", "tags": ["t"], "created_at": 1}

    async def go() -> Any:
        http, client = _client(seen, {"items": [row], "has_next_page": False})
        async with http:
            return await client.find_by_tag("t", since=SINCE)

    found = anyio.run(go)
    assert [s["session_id"] for s in found] == ["devin-1"]
    query = seen[0].url.params
    assert query["tags"] == "t" and query["first"] == "100"
    assert int(query["created_after"]) == int(SINCE.timestamp()) - 600  # less the clock skew


def test_a_poll_lists_exactly_the_watched_ids_and_reads_every_pr() -> None:
    seen: list[httpx.Request] = []
    item = {
        "session_id": "devin-1",
        "status": "suspended",
        "status_detail": "out_of_credits",
        "pull_requests": [{"pr_url": "https://g/p/1"}, {"pr_url": "https://g/p/2"}],
    }

    async def go() -> Any:
        http, client = _client(seen, {"items": [item], "end_cursor": "c", "has_next_page": False})
        async with http:
            return await client.list_by_ids(["devin-1", "devin-2"])

    rows, after = anyio.run(go)
    assert after is None
    assert rows[0]["status_enum"] == "out_of_credits"
    assert [p["url"] for p in rows[0]["pull_requests"]] == ["https://g/p/1", "https://g/p/2"]
    assert seen[0].url.params.get_list("session_ids") == ["devin-1", "devin-2"]
    assert seen[0].url.params["first"] == "200"


def test_an_upload_is_multipart_and_its_url_is_checked_on_both_apis() -> None:
    seen: list[httpx.Request] = []

    def upload(generation: Literal["v1", "v3"], answer: httpx.Response) -> Any:
        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return answer

        async def go() -> Any:
            transport = httpx.MockTransport(handler)
            async with httpx.AsyncClient(base_url="https://api.example", transport=transport) as h:
                client = FollowClient(h, "k_12345678", Redactor([]), generation=generation, org="o")
                try:
                    return await client.upload_attachment("a.log", b"line\n")
                except ApiError as exc:
                    return exc

        return anyio.run(go)

    v1 = upload("v1", httpx.Response(200, text="https://files.example/u/a.log"))
    assert v1 == "https://files.example/u/a.log"
    assert seen[-1].url.path == "/v1/attachments"
    assert b'name="file"; filename="a.log"' in seen[-1].content and b"line\n" in seen[-1].content
    assert (
        upload("v1", httpx.Response(200, json="https://files.example/q"))
        == "https://files.example/q"
    )
    v3 = upload("v3", httpx.Response(200, json={"attachment_id": "1", "url": "https://f/x"}))
    assert v3 == "https://f/x" and seen[-1].url.path == "/v3/organizations/o/attachments"
    bad = upload("v1", httpx.Response(200, text='https://f/"injected'))
    assert isinstance(bad, ApiError) and "not an http(s) URL" in str(bad)
    refused = upload("v1", httpx.Response(401, json={"detail": "no"}))
    assert isinstance(refused, ApiError) and refused.status == 401
