"""The two narrow doors follow-through goes through: the sessions API and the ledger.

`launcher.client.DevinClient` and `launcher.ledger.LedgerWriter` satisfy these as they are;
tests and benchmarks may pass anything else that does.
"""

from __future__ import annotations

from typing import Any, Protocol

from launcher.entry import Entry


class SessionsApi(Protocol):
    """Raises `launcher.client.ApiError` when a call gets no usable answer."""

    async def list_sessions(self, tag: str, limit: int, offset: int) -> Any: ...
    async def get_session(self, session_id: str) -> Any: ...
    async def delete_session(self, session_id: str) -> str: ...
    async def send_message(self, session_id: str, text: str) -> None: ...


class Recorder(Protocol):
    """Appends one durable ledger event (returns once it is on disk)."""

    async def append(self, event: str, entry: Entry, **fields: Any) -> None: ...
