"""The sandbox's API v3 side, on the same port as v1: organisation-scoped paths (`/v3` and
`/v3beta1`), service-user tokens (`cog_…`), cursor pages, v3 statuses (suspended and
resuming included), `acus_consumed` that grows while a session works and stops at its
`max_acu_limit`, and every pull request in `pull_requests[]`."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from launcher.sandbox.book import NOT_FOUND, Answer
from launcher.sandbox.control import parse_message
from launcher.sandbox.life import BLOCKED, EXPIRED, FINISHED, STOPPED, WORKING
from launcher.sandbox.session import Session
from launcher.sandbox.state import UNAUTHORIZED, SandboxState

TOKEN_PREFIX = "cog_"
V1_ONLY = ("idempotent", "snapshot_id", "unlisted")
V3_ONLY = (
    "repos",
    "attachment_urls",
    "session_links",
    "bypass_approval",
    "create_as_user_id",
    "child_playbook_id",
    "advanced_mode",
)
FIRST_MAX, FIRST_DEFAULT = 200, 100
RESUMING_SECONDS = 1.0  # a woken session shows `resuming` this long
Handler = Callable[[Request], Awaitable[Response]]


def v3_view(session: Session, now: float, org_id: str) -> dict[str, Any]:
    """The session as the API v3 shows it at `now`."""
    life = session.life
    status = life.status(now)
    if status == WORKING:
        resuming = life.wakes and now - life.work_start < RESUMING_SECONDS
        v3, detail = ("resuming", None) if resuming else ("running", "working")
    elif status == FINISHED:
        v3, detail = "running", "finished"
    elif status == BLOCKED:
        v3, detail = "running", "waiting_for_user"
    elif status == EXPIRED:
        why = "usage_limit_exceeded" if session.acu_capped else "inactivity"
        v3, detail = "suspended", why
    else:  # STOPPED, or a status a control set
        v3, detail = ("exit", None) if status == STOPPED else ("error", "error")
    prs = [{"pr_url": url, "pr_state": "open"} for url in session.pr_urls(status)]
    return {
        "session_id": session.session_id,
        "url": session.url,
        "org_id": org_id,
        "status": v3,
        "status_detail": detail,
        "title": session.title,
        "tags": list(session.tags),
        "created_at": int(session.created_at.timestamp()),
        "updated_at": int(session.created_at.timestamp() + life.updated(now) - life.created),
        "acus_consumed": session.acus(now),
        "pull_requests": prs,
        "structured_output": session.structured_output(status, now),
        "user_id": "sandbox-user",
        "is_archived": session.archived,
        "parent_session_id": None,
        "child_session_ids": [],
    }


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"i:{index}".encode()).decode()


def _index(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        return int(text[2:]) if text.startswith("i:") else None
    except (ValueError, UnicodeDecodeError):
        return None


def v3_routes(sandbox: SandboxState, answer_later: Callable[[], Awaitable[None]]) -> list[Route]:
    """The v3 session routes, under both `/v3` and `/v3beta1`."""

    def guarded(counter: str, work: Callable[[Request, str], Awaitable[Answer]]) -> Handler:
        async def handle(request: Request) -> Response:
            if counter:
                sandbox.count(counter)
            auth = request.headers.get("authorization") or ""
            token = auth.partition(" ")[2]
            # A service-user token: cog_ then the sandbox's key (or the key itself).
            plain = f"Bearer {token[len(TOKEN_PREFIX) :]}"
            known = sandbox.authorized(auth) or sandbox.authorized(plain)
            if not token.startswith(TOKEN_PREFIX) or not known:
                return JSONResponse(UNAUTHORIZED, 401)
            status, body = await work(request, str(request.path_params["org_id"]))
            await answer_later()
            return JSONResponse(body, status)

        return handle

    def one(request: Request) -> Session | None:
        return sandbox.book.sessions.get(str(request.path_params["session_id"]))

    async def create(request: Request, org: str) -> Answer:
        raw = await request.body()
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if isinstance(data, dict):
            extra = [k for k in V1_ONLY if k in data]
            if extra:
                detail = [
                    {"loc": ["body", k], "msg": "Extra inputs are not permitted", "type": "extra"}
                    for k in extra
                ]
                return 422, {"detail": detail}
            raw = json.dumps({k: v for k, v in data.items() if k not in V3_ONLY}).encode()
        with sandbox.handling():
            outcome = sandbox.create(raw, request.headers.get("authorization"), _base(request))
        if outcome.status != 200 or outcome.drop:
            return outcome.status or 502, outcome.body
        assert outcome.body is not None
        session = sandbox.book.sessions[outcome.body["session_id"]]
        return 200, v3_view(session, sandbox.now(), org)

    async def listing(request: Request, org: str) -> Answer:
        query = request.query_params
        start, first, refused = _window(query)
        if refused is not None:
            return refused
        tags, ids = set(query.getlist("tags")), set(query.getlist("session_ids"))
        after = _epoch(query.get("created_after"))
        now = sandbox.now()
        matched = [
            s
            for s in reversed(sandbox.book.sessions.values())  # newest first
            if (not tags or tags <= set(s.tags))
            and (not ids or s.session_id in ids)
            and (after is None or s.created_at.timestamp() >= after)
        ]
        return 200, _page([v3_view(s, now, org) for s in matched], start, first)

    async def messages(request: Request, org: str) -> Answer:
        session = one(request)
        if session is None:
            return NOT_FOUND
        start, first, refused = _window(request.query_params)
        if refused is not None:
            return refused
        said = [
            _said(session.session_id, i, m)
            for i, m in enumerate(session.conversation(sandbox.now()))
        ]
        return 200, _page(said, start, first)

    async def get(request: Request, org: str) -> Answer:
        session = one(request)
        return NOT_FOUND if session is None else (200, v3_view(session, sandbox.now(), org))

    async def terminate(request: Request, org: str) -> Answer:
        session = one(request)
        if session is None:
            return NOT_FOUND
        status, body = sandbox.book.terminate(session.session_id, sandbox.now())
        if status != 200:
            return status, body
        if request.query_params.get("archive") == "true":
            session.archived = True
        return 200, v3_view(session, sandbox.now(), org)

    async def message(request: Request, org: str) -> Answer:
        text, problems = parse_message(await request.body())
        if problems:
            return 422, {"detail": problems}
        session = one(request)
        if session is None:
            return NOT_FOUND
        status, body = sandbox.book.resume(session.session_id, text, sandbox.now())
        return (200, v3_view(session, sandbox.now(), org)) if status == 200 else (status, body)

    async def archive(request: Request, org: str) -> Answer:
        session = one(request)
        if session is None:
            return NOT_FOUND
        session.archived = True
        return 200, v3_view(session, sandbox.now(), org)

    routes = []
    for version in ("v3", "v3beta1"):
        base = f"/{version}/organizations/{{org_id}}/sessions"
        item = base + "/{session_id}"
        routes += [
            Route(base, guarded("", create), methods=["POST"]),
            Route(base, guarded("list_gets", listing), methods=["GET"]),
            Route(item, guarded("single_gets", get), methods=["GET"]),
            Route(item, guarded("deletes", terminate), methods=["DELETE"]),
            Route(item + "/messages", guarded("messages", message), methods=["POST"]),
            Route(item + "/messages", guarded("message_gets", messages), methods=["GET"]),
            Route(item + "/archive", guarded("archives", archive), methods=["POST"]),
        ]
    return routes


def _window(query: Any) -> tuple[int, int, Answer | None]:
    """(index of the first item, page size, None) from a page's `after` and `first`, or
    a 422 answer for a `first` out of 1-200 or a cursor the sandbox did not give."""
    try:
        first = int(query.get("first", FIRST_DEFAULT))
    except ValueError:
        first = 0
    if not 1 <= first <= FIRST_MAX:
        msg = f"Input should be between 1 and {FIRST_MAX}"
        return 0, 0, (422, {"detail": [{"loc": ["query", "first"], "msg": msg, "type": "range"}]})
    if "after" not in query:
        return 0, first, None
    at = _index(query["after"])
    if at is None:
        detail = [{"loc": ["query", "after"], "msg": "Invalid cursor", "type": "value"}]
        return 0, 0, (422, {"detail": detail})
    return at + 1, first, None


def _page(items: list[dict[str, Any]], start: int, first: int) -> dict[str, Any]:
    page = items[start : start + first]
    return {
        "items": page,
        "end_cursor": _cursor(start + len(page) - 1) if page else None,
        "has_next_page": start + first < len(items),
        "total": len(items),
    }


def _said(session_id: str, index: int, message: dict[str, Any]) -> dict[str, Any]:
    """One message as v3's list shows it: who wrote it (`devin` or `user`), when (epoch
    seconds), and an event id of its own."""
    when = datetime.fromisoformat(str(message["timestamp"])).timestamp()
    return {
        "event_id": f"event-{session_id.removeprefix('devin-')}-{index}",
        "source": "devin" if message.get("type") == "devin_message" else "user",
        "message": message["message"],
        "created_at": int(when),
    }


def _epoch(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")
