"""The sandbox's routes past creation: Devin's v1 list, get, terminate, message and tags
(plus the singular legacy paths), and the test-only per-session control route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from launcher.sandbox.book import NOT_FOUND, Answer
from launcher.sandbox.control import parse_control, parse_message, parse_tags
from launcher.sandbox.problems import repeated
from launcher.sandbox.state import UNAUTHORIZED, SandboxState

DEFAULT_LIMIT = 100
Handler = Callable[[Request], Awaitable[Response]]


def session_routes(
    sandbox: SandboxState, answer_later: Callable[[], Awaitable[None]]
) -> list[Route]:
    """Routes over the sandbox's sessions; each one counted in the stats as `counter`."""

    def guarded(counter: str, work: Callable[[Request], Awaitable[Answer]]) -> Handler:
        async def handle(request: Request) -> Response:
            sandbox.count(counter)
            if not sandbox.authorized(request.headers.get("authorization")):
                return JSONResponse(UNAUTHORIZED, 401)
            status, body = await work(request)
            await answer_later()
            return JSONResponse(body, status)

        return handle

    def session_id(request: Request) -> str:
        return str(request.path_params["session_id"])

    async def list_sessions(request: Request) -> Answer:
        query = request.query_params
        limit = _int_param(query.get("limit"), DEFAULT_LIMIT)
        offset = _int_param(query.get("offset"), 0)
        skip = _int_param(query.get("skip"), 0)
        problems = [
            {
                "loc": ["query", name],
                "msg": f"Input should be an integer >= {low}",
                "type": "int_parsing" if value is None else "greater_than_equal",
            }
            for name, value, low in (("limit", limit, 1), ("offset", offset, 0), ("skip", skip, 0))
            if value is None or value < low
        ]
        problems += repeated(query, ("limit", "offset", "skip", "user_email"))
        if problems:
            return 422, {"detail": problems}
        assert limit is not None and offset is not None
        # `skip`, where given, is how many to pass over, as `offset` is (the reference
        # lists both and says no more); user_email is accepted and ignored: every
        # sandbox session has the same user.
        start = skip if query.get("skip") is not None else offset
        assert start is not None
        rows = sandbox.book.page(limit, start, query.getlist("tags"), sandbox.now())
        return 200, rows if sandbox.config.list_shape == "bare" else {"sessions": rows}

    async def get_session(request: Request) -> Answer:
        found = sandbox.book.get(session_id(request), sandbox.now())
        return NOT_FOUND if found is None else (200, found)

    async def terminate(request: Request) -> Answer:
        return sandbox.book.terminate(session_id(request), sandbox.now())

    async def message(request: Request) -> Answer:
        text, problems = parse_message(await request.body())
        if problems:
            return 422, {"detail": problems}
        return sandbox.book.message(session_id(request), text, sandbox.now())

    async def retag(request: Request) -> Answer:
        tags, problems = parse_tags(await request.body())
        if problems:
            return 422, {"detail": problems}
        return sandbox.book.retag(session_id(request), tags, sandbox.now())

    async def control(request: Request) -> Response:
        # Under /_sandbox like stats: no auth, no latency, not part of Devin's surface.
        sandbox.count("controls")
        ask, problems = parse_control(await request.body())
        if problems:
            return JSONResponse({"detail": problems}, 422)
        status, body = sandbox.book.control(session_id(request), ask, sandbox.now())
        return JSONResponse(body, status)

    one = "/v1/sessions/{session_id}"
    legacy = "/v1/session/{session_id}"  # the singular path older clients use
    routes = [Route("/v1/sessions", guarded("list_gets", list_sessions), methods=["GET"])]
    for path in (one, legacy):
        routes += [
            Route(path, guarded("single_gets", get_session), methods=["GET"]),
            Route(path, guarded("deletes", terminate), methods=["DELETE"]),
            Route(f"{path}/message", guarded("messages", message), methods=["POST"]),
            Route(f"{path}/tags", guarded("tag_updates", retag), methods=["PUT"]),
        ]
    routes.append(Route("/_sandbox/sessions/{session_id}", control, methods=["POST"]))
    return routes


def _int_param(text: str | None, default: int) -> int | None:
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        return None
