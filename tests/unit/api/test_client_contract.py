"""The client speaks the documents in schemas/: every request it makes (path, query, JSON
body) is an operation of the v1 or v3 document, and every answer it read from the real
sandbox conforms to that operation's schema, so what it parses is what Devin documents.
Each call goes through the launcher's one connection (`launcher.api.connection`); only
the transport is wrapped, to record the exchange."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest

from launcher.api.address import Asked
from launcher.api.connection import Connection, resolve
from launcher.api.outcomes import Created
from launcher.follow.status import normalise
from launcher.sandbox.handle import SandboxHandle
from tests.support.contract import query_problems, request_problems, response_problems

KEY = "apk_client_contract_KEY"


class Recorder(httpx.AsyncBaseTransport):
    """The real transport, with each request and its answer kept."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.seen: list[tuple[httpx.Request, httpx.Response]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        self.seen.append(
            (request, httpx.Response(response.status_code, headers=response.headers, content=body))
        )
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    async def aclose(self) -> None:
        await self.inner.aclose()


def problems(generation: str, seen: list[tuple[httpx.Request, httpx.Response]]) -> list[str]:
    found: list[str] = []
    for request, response in seen:
        method, path = request.method, request.url.path
        body = json.loads(request.content) if request.content else None
        found += request_problems(generation, method, path, body)
        found += query_problems(generation, method, path, dict(request.url.params))
        answer = response.json() if response.content else None
        kind = response.headers.get("content-type", "")
        found += response_problems(generation, method, path, response.status_code, answer, kind)
    return found


def exchange(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch, api: str, work: Any
) -> tuple[Any, list[tuple[httpx.Request, httpx.Response]]]:
    recorder = Recorder()

    def recorded(self: Connection, timeout: float, *, concurrency: int | None = None) -> Any:
        return httpx.AsyncClient(base_url=self.base_url, transport=recorder, timeout=timeout)

    monkeypatch.setattr(Connection, "open_http", recorded)
    key = f"cog_{KEY}" if api == "v3" else KEY
    environ = {"DEVIN_API_KEY": key, "DEVIN_ORG_ID": "org-contract"}
    connection, _ = resolve(Asked(base_url=sandbox.base_url), environ)
    assert connection.generation == api

    async def go() -> Any:
        async with connection.client(10.0) as client:
            return await work(client)

    return anyio.run(go), recorder.seen


BODY = {
    "prompt": "Upgrade acme/api",
    "title": "acme/api",
    "tags": ["contract", "batch:1"],
    "max_acu_limit": 4,
    "session_secrets": [{"key": "TOKEN", "value": "s3cret", "sensitive": True}],
    "structured_output_schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
    "knowledge_ids": [],
}


@pytest.mark.slow
@pytest.mark.parametrize("api", ["v1", "v3"])
def test_what_the_client_sends_and_reads_is_documented(
    make_sandbox: Any, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    sandbox = make_sandbox(api_key=KEY)
    since = datetime.now(UTC) - timedelta(minutes=1)

    async def work(client: Any) -> dict[str, Any]:
        created = await client.create_session(
            {**BODY, **({"idempotent": True} if api == "v1" else {})}
        )
        assert isinstance(created, Created)
        sid = created.session_id
        other = await client.create_session({**BODY, "prompt": "another"})
        found = await client.find_by_tag("batch:1", since=since)
        listed = await (
            client.list_by_ids([sid]) if api == "v3" else client.list_sessions("contract", 10, 0)
        )
        one = await client.get_session(sid)
        await client.send_message(sid, "also a changelog")
        pages = await client.messages_page(sid, None) if client.pages_messages else None
        ended = [
            await client.delete_session(other.session_id),
            await client.delete_session(other.session_id),
        ]
        return {
            "sid": sid,
            "found": found,
            "listed": listed,
            "one": one,
            "pages": pages,
            "ended": ended,
        }

    got, seen = exchange(sandbox, monkeypatch, api, work)
    assert problems(api, seen) == []
    assert len(seen) >= 8 and {r.url.path for r, _ in seen} >= {
        "/v1/sessions" if api == "v1" else "/v3/organizations/org-contract/sessions"
    }
    assert len(got["found"]) == 2 and got["ended"] == ["terminated", "already exited"]
    seen_row = normalise(got["one"])  # the client's row, read as the follow-through reads it
    assert seen_row is not None and seen_row.session_id == got["sid"]
    assert seen_row.status == "working"
    if api == "v3":
        said, _ = got["pages"]
        assert [m["message"] for m in said] == [BODY["prompt"], "also a changelog"]
