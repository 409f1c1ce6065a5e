"""Closing a connection without answering, which plain ASGI cannot express.

ASGI has no "abort": if an app returns or raises before starting a response, uvicorn
answers 500 itself. So the sandbox runs uvicorn with `DroppingH11Protocol`, uvicorn's
own h11 protocol plus one thing: each request's scope carries, under
`scope["extensions"][ABORT_EXTENSION]`, a callable that aborts this connection's
transport. `DropConnection` is the starlette response that calls it and then waits for
uvicorn to notice the disconnect, so uvicorn neither logs nor sends anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

ABORT_EXTENSION = "launcher.sandbox.abort"
_DISCONNECT_WAIT = 5.0  # seconds; uvicorn reports the loss on the next loop turn


class DroppingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, exposing `transport.abort` to the app (pass as `http=`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # H11Protocol hands `self.app` to each request cycle; wrapping it is the one
        # seam that needs no copy of uvicorn's request parsing.
        inner = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})[ABORT_EXTENSION] = self._abort
            await inner(scope, receive, send)

        self.app = app

    def _abort(self) -> None:
        # abort(), not close(): nothing buffered may leave, and the peer sees the
        # connection end with no status line at all.
        self.transport.abort()


class DropConnection(Response):
    """A 'response' that sends nothing and closes the connection."""

    def __init__(self) -> None:
        super().__init__(status_code=500)  # never sent; Response wants a status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        abort: Callable[[], None] | None = scope.get("extensions", {}).get(ABORT_EXTENSION)
        if abort is None:
            raise RuntimeError(
                "dropping a connection needs the sandbox's uvicorn protocol "
                "(launcher.sandbox.drop.DroppingH11Protocol)"
            )
        abort()
        # Returning before uvicorn has seen the disconnect would make it log "returned
        # without starting response" and try to write a 500 to the dead transport.
        with anyio.move_on_after(_DISCONNECT_WAIT):
            while (await receive())["type"] != "http.disconnect":
                pass
