"""The sandbox's starlette app: Devin v1 session routes, plus /_sandbox/* for tests.

Each handler reads the request, asks `SandboxState` for the answer and sends it after
the configured latency; all decisions and bookkeeping live in state.py.
"""

from __future__ import annotations

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.drop import DropConnection
from launcher.sandbox.state import UNAUTHORIZED, SandboxState

DEFAULT_LIMIT = 100


def create_app(config: SandboxConfig, state: SandboxState | None = None) -> Starlette:
    """A sandbox app; its memory is `state` (a fresh one by default), also at app.state.sandbox."""
    sandbox = state if state is not None else SandboxState(config)
    latency = config.latency_ms / 1000

    async def answer_later() -> None:
        if latency:
            await anyio.sleep(latency)

    def unauthorized() -> JSONResponse:
        return JSONResponse(UNAUTHORIZED, 401)

    async def create_session(request: Request) -> Response:
        with sandbox.handling():
            raw = await request.body()
            outcome = sandbox.create(raw, request.headers.get("authorization"), _base_url(request))
            await answer_later()
        if outcome.drop:
            return DropConnection()
        return JSONResponse(outcome.body, outcome.status, headers=outcome.headers)

    async def list_sessions(request: Request) -> Response:
        if not sandbox.authorized(request.headers.get("authorization")):
            return unauthorized()
        query = request.query_params
        limit, offset = (
            _int_param(query.get("limit"), DEFAULT_LIMIT),
            _int_param(query.get("offset"), 0),
        )
        problems = [
            {
                "loc": ["query", name],
                "msg": f"Input should be an integer >= {low}",
                "type": "int_parsing" if value is None else "greater_than_equal",
            }
            for name, value, low in (("limit", limit, 1), ("offset", offset, 0))
            if value is None or value < low
        ]
        await answer_later()
        if problems:
            return JSONResponse({"detail": problems}, 422)
        assert limit is not None and offset is not None
        # user_email is accepted and ignored: every sandbox session has the same user.
        sessions = sandbox.list_sessions(limit, offset, query.getlist("tags"))
        return JSONResponse({"sessions": sessions})

    async def get_session(request: Request) -> Response:
        if not sandbox.authorized(request.headers.get("authorization")):
            return unauthorized()
        session = sandbox.get_session(request.path_params["session_id"])
        await answer_later()
        if session is None:
            return JSONResponse({"detail": "Session not found"}, 404)
        return JSONResponse(session)

    async def session_page(request: Request) -> Response:
        # The `url` a creation returns points here, so that a clicked link says
        # something better than 404. No auth: a browser sends no bearer token.
        session = sandbox.get_session(request.path_params["session_id"])
        if session is None:
            return PlainTextResponse("No such sandbox session.\n", 404)
        return PlainTextResponse(
            f"{session['session_id']}: {session['status_enum']}\n{session['title']}\n\n"
            "This is a launcher sandbox session: no Devin ran, no ACU was spent.\n"
        )

    async def stats(request: Request) -> Response:
        return JSONResponse(sandbox.stats())

    async def requests_log(request: Request) -> Response:
        return JSONResponse(sandbox.requests_log())

    async def reset(request: Request) -> Response:
        sandbox.reset()
        return JSONResponse(sandbox.stats())

    async def http_error(request: Request, exc: Exception) -> Response:
        # FastAPI's shape for unknown paths and wrong methods, instead of plain text.
        assert isinstance(exc, HTTPException)
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)

    app = Starlette(
        routes=[
            Route("/v1/sessions", create_session, methods=["POST"]),
            Route("/v1/sessions", list_sessions, methods=["GET"]),
            Route("/v1/sessions/{session_id}", get_session, methods=["GET"]),
            Route("/sessions/{session_id}", session_page, methods=["GET"]),
            Route("/_sandbox/stats", stats, methods=["GET"]),
            Route("/_sandbox/requests", requests_log, methods=["GET"]),
            Route("/_sandbox/reset", reset, methods=["POST"]),
        ],
        exception_handlers={HTTPException: http_error},
    )
    app.state.sandbox = sandbox
    return app


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _int_param(text: str | None, default: int) -> int | None:
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        return None
