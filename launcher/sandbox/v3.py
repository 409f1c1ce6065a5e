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

from launcher.api.openapi import v3_create_validator
from launcher.sandbox.book import NOT_FOUND, Answer
from launcher.sandbox.control import parse_message
from launcher.sandbox.life import BLOCKED, EXPIRED, FINISHED, STOPPED, WORKING
from launcher.sandbox.problems import check_body, problem, repeated
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
V3_KEYS = [[k] for k in V3_ONLY]  # the `loc[1:2]` of a problem with a v3-only field
FIRST_MAX, FIRST_DEFAULT = 200, 100
SINGLE = ("after", "first", "playbook_id", "schedule_id")  # plus EPOCH_FILTERS
ORIGINS = ("webapp", "slack", "teams", "api", "linear", "jira", "scheduled", "other")
BOOLEANS = {"true": True, "1": True, "yes": True, "on": True}
BOOLEANS |= {"false": False, "0": False, "no": False, "off": False}
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
                extras = "Extra inputs are not permitted"
                detail = [problem(["body", k], extras, "extra") for k in extra]
                return 422, {"detail": detail}
            # The v3-only fields are checked here, by the v3 document; the rest as on v1.
            wrong = [p for p in check_body(data, v3_create_validator()) if p["loc"][1:2] in V3_KEYS]
            if wrong:
                return 422, {"detail": wrong}
            raw = json.dumps({k: v for k, v in data.items() if k not in V3_ONLY}).encode()
        with sandbox.handling():
            # The guard has checked the service-user token; creation checks the key in it.
            token = (request.headers.get("authorization") or "").partition(" ")[2]
            plain = f"Bearer {token.removeprefix(TOKEN_PREFIX)}"
            outcome = sandbox.create(raw, plain, _base(request))
        if outcome.status != 200 or outcome.drop:
            return outcome.status or 502, outcome.body
        assert outcome.body is not None
        session = sandbox.book.sessions[outcome.body["session_id"]]
        return 200, v3_view(session, sandbox.now(), org)

    async def listing(request: Request, org: str) -> Answer:
        query = request.query_params
        bounds, problems = _epochs(query)
        start, first, bad = _window(query)
        bad += repeated(query, (*SINGLE, *EPOCH_FILTERS))
        bad += [
            problem(["query", "origins"], f"Input should be one of {', '.join(ORIGINS)}", "enum")
            for origin in query.getlist("origins")
            if origin not in ORIGINS
        ]
        if problems or bad:
            return 422, {"detail": problems + bad}
        tags, ids = set(query.getlist("tags")), set(query.getlist("session_ids"))
        now = sandbox.now()

        def within(s: Session) -> bool:
            created = s.created_at.timestamp()
            if not _between(created, bounds["created_after"], bounds["created_before"]):
                return False
            if bounds["updated_after"] is None and bounds["updated_before"] is None:
                return True
            updated = created + s.life.updated(now) - s.life.created
            return _between(updated, bounds["updated_after"], bounds["updated_before"])

        matched = [
            s
            for s in reversed(sandbox.book.sessions.values())  # newest first
            if (not tags or tags <= set(s.tags)) and (not ids or s.session_id in ids) and within(s)
        ]
        page = matched[start : start + first]
        return 200, _paged([v3_view(s, now, org) for s in page], start, first, len(matched))

    async def messages(request: Request, org: str) -> Answer:
        session = one(request)
        if session is None:
            return NOT_FOUND
        start, first, bad = _window(request.query_params)
        bad += repeated(request.query_params, ("after", "first"))
        if bad:
            return 422, {"detail": bad}
        said = session.conversation(sandbox.now())
        items = [_v3_message(m) for m in said[start : start + first]]
        return 200, _paged(items, start, first, len(said))

    async def get(request: Request, org: str) -> Answer:
        session = one(request)
        return NOT_FOUND if session is None else (200, v3_view(session, sandbox.now(), org))

    async def terminate(request: Request, org: str) -> Answer:
        session = one(request)
        if session is None:
            return NOT_FOUND
        query = request.query_params
        archive = BOOLEANS.get(query.get("archive", "false").lower())
        if archive is None or len(query.getlist("archive")) > 1:
            msg = "Input should be a valid boolean"
            return 422, {"detail": [problem(["query", "archive"], msg, "bool_parsing")]}
        status, body = sandbox.book.terminate(session.session_id, sandbox.now())
        if status != 200:
            return status, body
        if archive:
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


EPOCH_FILTERS = ("created_after", "created_before", "updated_after", "updated_before")


def _epochs(query: Any) -> tuple[dict[str, int | None], list[dict[str, Any]]]:
    """The documented epoch-second filters (integers), or a 422 item for each that is not."""
    bounds: dict[str, int | None] = {}
    problems = []
    for name in EPOCH_FILTERS:
        text = query.get(name)
        try:
            bounds[name] = int(text) if text is not None else None
        except ValueError:
            bounds[name] = None
            msg = "Input should be a valid integer"
            problems.append(problem(["query", name], msg, "int_parsing"))
    return bounds, problems


def _between(value: float, after: int | None, before: int | None) -> bool:
    return (after is None or value >= after) and (before is None or value <= before)


def _window(query: Any) -> tuple[int, int, list[dict[str, Any]]]:
    """`after` and `first` of a cursor page: (start index, page size, 422 items)."""
    try:
        first = int(query.get("first", FIRST_DEFAULT))
    except ValueError:
        first = 0
    bad = []
    if not 1 <= first <= FIRST_MAX:
        msg = f"Input should be between 1 and {FIRST_MAX}"
        bad.append(problem(["query", "first"], msg, "range"))
    start = 0
    if query.get("after"):  # an empty cursor is no cursor
        at = _index(query["after"])
        if at is None:
            bad.append(problem(["query", "after"], "Invalid cursor", "value_error"))
        else:
            start = at + 1
    return start, first, bad


def _paged(items: list[Any], start: int, first: int, total: int) -> dict[str, Any]:
    return {
        "items": items,
        "end_cursor": _cursor(start + len(items) - 1) if items else None,
        "has_next_page": start + first < total,
        "total": total,
    }


def _v3_message(said: dict[str, Any]) -> dict[str, Any]:
    """A v1-style message as v3's SessionMessage: epoch seconds, and who said it."""
    return {
        "created_at": int(datetime.fromisoformat(said["timestamp"]).timestamp()),
        "event_id": said["event_id"],
        "message": said["message"],
        "source": "devin" if said["type"] == "devin_message" else "user",
    }


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")
