"""The sandbox's attachment uploads: `POST /v1/attachments` (the URL as text) and
`POST /v3/organizations/{org_id}/attachments` (`{attachment_id, name, url}`), a multipart
form with one `file`; the URL it answers serves the file back. Every upload is counted
(`uploads` in the stats), so a test sees how many a run made."""

from __future__ import annotations

import email.parser
import email.policy
import uuid
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from launcher.sandbox.state import UNAUTHORIZED, SandboxState

MAX_UPLOAD_BYTES = 16 * 1024 * 1024  # a body past this is refused (413), unread
MAX_STORED_BYTES = 64 * 1024 * 1024  # all uploads kept: past this the oldest are dropped
COG = "cog_"


def _form_file(content_type: str, body: bytes) -> tuple[str, bytes] | None:
    """The `file` part of a multipart/form-data body: (its filename, its content)."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            content = part.get_payload(decode=True)
            name = part.get_filename() or "file"
            return (name, content) if isinstance(content, bytes) else None
    return None


def attachment_routes(
    sandbox: SandboxState, answer_later: Callable[[], Awaitable[None]]
) -> list[Route]:
    """The upload routes of both APIs, and the route their URLs point to."""
    stored: dict[str, tuple[str, bytes]] = {}

    def allowed(request: Request, v3: bool) -> bool:
        auth = request.headers.get("authorization") or ""
        if not v3:
            return sandbox.authorized(auth)
        token = auth.partition(" ")[2]
        plain = f"Bearer {token.removeprefix(COG)}"
        return token.startswith(COG) and (sandbox.authorized(auth) or sandbox.authorized(plain))

    async def read(request: Request) -> bytes | None:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_UPLOAD_BYTES:
                return None
        return bytes(body)

    async def upload(request: Request) -> Response:
        v3 = "org_id" in request.path_params
        sandbox.count("uploads")
        if not allowed(request, v3):
            return JSONResponse(UNAUTHORIZED, 401)
        body = await read(request)
        if body is None:
            return JSONResponse({"detail": "the file is too large"}, 413)
        found = _form_file(request.headers.get("content-type", ""), body)
        if found is None:
            problem = {"loc": ["body", "file"], "msg": "Field required", "type": "missing"}
            return JSONResponse({"detail": [problem]}, 422)
        name, content = found
        while stored and sum(len(c) for _, c in stored.values()) + len(content) > MAX_STORED_BYTES:
            stored.pop(next(iter(stored)))
        key = uuid.uuid4().hex
        stored[key] = (name, content)
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:100] or "file"
        url = f"{str(request.base_url).rstrip('/')}/attachments/{key}/{safe}"
        await answer_later()
        if v3:
            return JSONResponse({"attachment_id": key, "name": name, "url": url})
        return PlainTextResponse(url)

    async def download(request: Request) -> Response:
        # The URL a session reads: no auth, as the session page (a test may open it).
        found = stored.get(str(request.path_params["key"]))
        if found is None:
            return JSONResponse({"detail": "Not Found"}, 404)
        return Response(found[1], media_type="application/octet-stream")

    routes = [
        Route("/v1/attachments", upload, methods=["POST"]),
        Route("/attachments/{key}/{name}", download, methods=["GET"]),
    ]
    for version in ("v3", "v3beta1"):
        routes.append(
            Route(f"/{version}/organizations/{{org_id}}/attachments", upload, methods=["POST"])
        )
    return routes
