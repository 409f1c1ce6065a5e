"""The sandbox's HTTP edges: a cap on request bodies (413), and the `Allow` header of a
405 naming every method the path answers, not only those of the first route matched."""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Devin publishes 64 KiB for an output schema (checked on create, 422) and no cap on a
# whole body. A session secret's value alone may be 64 KiB, so the body cap is larger:
# what it guards against is a client (or a fuzzer) streaming without end.
MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE = {"detail": f"Request body too large (at most {MAX_BODY_BYTES:,} bytes)"}


class _TooLarge(Exception):
    """Raised inside the app when a chunked body passes the cap."""


class BodyCap:
    """413 for a body over MAX_BODY_BYTES: at once when Content-Length says so, else as
    soon as the chunks read pass it (before the handler sees any of it). Attachment
    uploads are left to their route."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].endswith("/attachments"):
            # An upload is a file, not a request: its route has a cap of its own.
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _send_too_large(send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await _send_too_large(send)


async def _send_too_large(send: Send) -> None:
    body = json.dumps(TOO_LARGE).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def allowed_methods(routes: Iterable[BaseRoute], path: str) -> str:
    """Every method some route answers at `path`, for a 405's `Allow` header."""
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(path):
            methods |= route.methods
    return ", ".join(sorted(methods))
