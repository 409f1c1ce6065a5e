"""Attachments at send time: each file uploaded once per content and API, however many
entries name it and however many runs there are, its URL then written into each entry's
request.

The ledger records each upload (`attachment` events: the content's sha256 and the URL), so
a later run uses the URL it recorded instead of uploading again. A file is read again
when it is uploaded, and must still have the content it was checked with: the entry's
dispatch key holds that content's hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import anyio

from launcher.api.outcomes import ApiError
from launcher.api.retry import RetryPolicy, call
from launcher.entry import Attachment, Entry
from launcher.ledger.writer import LedgerWriter
from launcher.manifest.discover import SourceError, read_regular
from launcher.manifest.nearby import MAX_ATTACHMENT_BYTES

# An upload that fails for a while (no answer, a throttle, a server error) is tried 3 times,
# as every call beside create is retried (`launcher.api.retry`).
RETRY = RetryPolicy(attempts=3, initial=1.0, longest=30.0)


@runtime_checkable
class Uploader(Protocol):
    """What uploading asks of the API (`launcher.api.followclient.FollowClient`)."""

    @property
    def generation(self) -> str: ...

    async def upload_attachment(self, name: str, content: bytes) -> str: ...


class UploadFailed(Exception):
    """An attachment could not be uploaded: its entry is not sent. `status` is the HTTP
    status of the last answer, when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class _Upload:
    """The ledger's subject for an upload: no entry, the content's hash as its key."""

    attachment: Attachment

    @property
    def entry_id(self) -> str:
        return f"attachment:{self.attachment.path}"

    @property
    def name(self) -> str:
        return self.attachment.name

    @property
    def key(self) -> str:
        return self.attachment.sha256[:32]

    @property
    def content(self) -> str:
        return self.attachment.sha256[:32]


class Uploads:
    """The run's uploads: one per content, shared by every entry that names it; entries
    that wait for the same content wait for its one upload."""

    def __init__(self, client: Uploader, writer: LedgerWriter) -> None:
        self._client = client
        self._writer = writer
        self._urls: dict[str, str] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._failed: dict[str, UploadFailed] = {}  # one failed upload fails its other users
        self.count = 0  # uploads this run made

    async def attach(self, entry: Entry) -> Entry:
        """`entry` with its attachments' URLs in its request (same key); UploadFailed."""
        if not entry.attachments:
            return entry
        urls = {a.sha256: await self._url(a) for a in entry.attachments}
        return entry.attached(urls, urls_field=self._client.generation == "v3")

    async def _url(self, attachment: Attachment) -> str:
        sha = attachment.sha256
        lock = self._locks.setdefault(sha, anyio.Lock())
        async with lock:
            if sha in self._failed:
                raise self._failed[sha]
            url = self._urls.get(sha) or self._writer.state.uploaded(sha, self._writer.api)
            if url is None:
                try:
                    url = await self._upload(attachment)
                except UploadFailed as exc:
                    self._failed[sha] = exc
                    raise
                await self._writer.append(
                    "attachment", _Upload(attachment), sha256=sha, url=url, bytes=attachment.size
                )
                self.count += 1
            self._urls[sha] = url
            return url

    async def _upload(self, attachment: Attachment) -> str:
        try:
            content = read_regular(attachment.path, MAX_ATTACHMENT_BYTES, "an attachment")
        except SourceError as exc:
            raise UploadFailed(f"attachment {attachment.path}: {exc}") from None
        if hashlib.sha256(content).hexdigest() != attachment.sha256:
            raise UploadFailed(
                f"attachment {attachment.path} changed since the manifests were checked; "
                "run again to send its new content"
            )
        try:
            url: str = await call(RETRY, self._client.upload_attachment, attachment.name, content)
        except ApiError as exc:
            raise UploadFailed(f"attachment {attachment.path}: {exc}", exc.status) from None
        return url
