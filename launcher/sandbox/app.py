"""The sandbox's starlette app: Devin v1 session routes, plus /_sandbox/* for tests.

Each handler reads the request, asks `SandboxState` (creation) or its `SessionBook`
(everything after, routes.py) for the answer and sends it after the configured latency.
"""

from __future__ import annotations

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from launcher.sandbox.attachments import attachment_routes
from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.drop import DropConnection
from launcher.sandbox.limits import BodyCap, allowed_methods
from launcher.sandbox.routes import session_routes
from launcher.sandbox.state import UNAUTHORIZED, SandboxState
from launcher.sandbox.v3 import v3_routes


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

    async def session_page(request: Request) -> Response:
        # The `url` a creation returns points here, so that a clicked link says
        # something better than 404. No auth: a browser sends no bearer token.
        session = sandbox.book.get(request.path_params["session_id"], sandbox.now())
        if session is None:
            return PlainTextResponse("No such sandbox session.\n", 404)
        return PlainTextResponse(
            f"{session['session_id']}: {session['status']}\n{session['title']}\n\n"
            "This is a launcher sandbox session: no Devin ran, no ACU was spent.\n"
        )

    async def stats(request: Request) -> Response:
        return JSONResponse(sandbox.stats())

    async def requests_log(request: Request) -> Response:
        return JSONResponse(sandbox.requests_log())

    async def reset(request: Request) -> Response:
        sandbox.reset()
        return JSONResponse(sandbox.stats())

    routes = [
        Route("/v1/sessions", create_session, methods=["POST"]),
        *session_routes(sandbox, answer_later),
        *v3_routes(sandbox, answer_later),
        *attachment_routes(sandbox, answer_later),
        Route("/sessions/{session_id}", session_page, methods=["GET"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/requests", requests_log, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        # FastAPI's shape for unknown paths and wrong methods, instead of plain text. A
        # path served by several routes (one per method) would name only the first
        # route's methods in `Allow`: a 405 names them all.
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(routes, request.url.path)
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=headers)

    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error},
        middleware=[
            Middleware(TrustedHostMiddleware, allowed_hosts=config.allowed_hosts),
            Middleware(BodyCap),
            Middleware(_ControlNeedsToken, sandbox=sandbox),
        ],
    )
    app.state.sandbox = sandbox
    return app


class _ControlNeedsToken:
    """/_sandbox/* (stats, request log, reset, steering a session) needs the bearer token
    as the API routes do: a reset by anyone could end a run's sessions under it."""

    def __init__(self, app: ASGIApp, sandbox: SandboxState) -> None:
        self.app, self.sandbox = app, sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/_sandbox/"):
            header = dict(scope["headers"]).get(b"authorization")
            if not self.sandbox.authorized(header.decode("latin-1") if header else None):
                await JSONResponse(UNAUTHORIZED, 401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")
