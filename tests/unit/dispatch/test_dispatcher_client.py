"""Runner behaviours that need an API the sandbox cannot play: a session that becomes
visible only some time after a 504. Unit tests through httpx.MockTransport; the same
paths run end to end against the real sandbox in test_run*.py."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import anyio
import httpx
import pytest

from launcher.api.client import DevinClient, Redactor
from launcher.dispatch.dispatcher import Dispatcher
from launcher.dispatch.ending import Interrupted
from launcher.dispatch.results import EntryResult
from launcher.dispatch.settings import RunSettings
from launcher.entry import Entry
from launcher.ledger.read import read_state
from launcher.ledger.writer import LedgerWriter
from launcher.output.progress import RunProgress


class SlowListingAPI:
    """POST answers 504 but creates the session, which is listed only after `visible_after`."""

    def __init__(self, visible_after: float) -> None:
        self.visible_after = visible_after
        self.created_at: float | None = None
        self.tag: str | None = None
        self.lookups: list[float] = []
        self.posts = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        now = time.monotonic()
        if request.method == "POST":
            self.posts += 1
            self.created_at = now
            tags = json.loads(request.content)["tags"]
            self.tag = next(t for t in tags if t.startswith("launcher-key:"))
            return httpx.Response(504, text="gateway timeout")
        self.lookups.append(now)
        visible = self.created_at is not None and now - self.created_at >= self.visible_after
        sessions = [{"session_id": "devin-1", "tags": [self.tag]}] if visible else []
        return httpx.Response(200, json={"sessions": sessions})


def _run(tmp_path: Path, api: SlowListingAPI, stop_after: float) -> tuple[EntryResult, Path]:
    entry = Entry(name="e", file="m.yaml", path="m.yaml", line=1, request={"prompt": "p"})
    result = EntryResult(entry)
    ledger = tmp_path / "l.jsonl"
    settings = RunSettings(base_url="http://127.0.0.1", reconcile_delay=0.5, timeout=1.0)

    async def go() -> None:
        transport = httpx.MockTransport(api)
        async with httpx.AsyncClient(base_url="http://api", transport=transport) as http:
            with LedgerWriter.open(ledger, "run-1") as writer:
                progress = RunProgress(
                    1, "text", "never", Redactor([]), io.StringIO(), io.StringIO()
                )
                d = Dispatcher(settings, DevinClient(http, "k", Redactor([])), writer, {}, progress)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(d.run, [result])
                    await anyio.sleep(stop_after)
                    d.stop(Interrupted("SIGTERM"))

    anyio.run(go)
    return result, ledger


@pytest.mark.slow
def test_a_stop_does_not_make_a_reconciliation_lookup_early(tmp_path: Path) -> None:
    # The session shows up 0.8 s after the 504; the stop comes 0.1 s after it.
    api = SlowListingAPI(visible_after=0.8)
    result, ledger = _run(tmp_path, api, stop_after=0.1)
    assert api.created_at is not None and api.lookups
    assert api.lookups[0] - api.created_at >= 0.5  # waited the full reconcile delay
    assert result.outcome == "created" and result.reconciled  # found, once visible
    assert [r.outcome for r in read_state(ledger).records()] == ["created"]
    assert api.posts == 1  # never resent
    # Nothing says "failed": that would let the next run resend it without a lookup.
    assert '"event":"failed"' not in ledger.read_text()
