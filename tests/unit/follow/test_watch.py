"""Watching sessions to their end: settled entries cost nothing, each change is recorded
once, and a server that keeps failing is given up on at the timeout."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

import anyio
import pytest

from launcher.entry import Entry
from launcher.follow.targets import Target
from launcher.follow.watch import WatchSettings, watch
from launcher.output.follow import WatchReporter
from tests.support.followkit import FAST, FakeApi, entry, target


class ListRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    async def append(self, event: str, e: Entry, **fields: Any) -> None:
        self.events.append((event, e.name, fields))

    async def append_all(self, events: Iterable[tuple[str, Entry, dict[str, Any]]]) -> None:
        for event, e, fields in events:
            await self.append(event, e, **fields)


def _watch(api: FakeApi, targets: list[Target], timeout: float | None) -> Any:

    recorder = ListRecorder()
    settings = WatchSettings(poll_interval=0.05, timeout=timeout, retry=FAST)
    reporter = WatchReporter(io.StringIO(), io.StringIO(), str, live=False)

    async def go() -> Any:
        return await watch(api, recorder, targets, {"t": len(targets)}, settings, reporter, str)

    return anyio.run(go), recorder


@pytest.mark.slow
def test_watch_gives_up_at_timeout_while_the_server_keeps_failing() -> None:
    api = FakeApi({})
    api.fail_next = 10**6
    targets = [Target(entry(f"w{i}"), session_id=f"s{i}", batch="t") for i in range(3)]
    outcome, recorder = _watch(api, targets, timeout=0.5)
    assert outcome.timed_out and not outcome.all_ended_well(True) and not recorder.events
    assert targets[0].verdict(True, True).reason == "--wait-timeout passed while not seen yet"


def test_watch_over_settled_entries_sends_nothing() -> None:
    api = FakeApi({})
    targets = [target("finished"), target("expired")]
    outcome, recorder = _watch(api, targets, timeout=None)
    assert outcome.polls == 0 and not api.lists and not api.gets and not recorder.events


def test_watch_records_each_change_once() -> None:
    rows = [{"session_id": f"s{i}", "status_enum": "finished"} for i in range(3)]
    api = FakeApi({"t": rows})
    targets = [Target(entry(f"w{i}", None), session_id=f"s{i}", batch="t") for i in range(3)]
    outcome, recorder = _watch(api, targets, timeout=None)
    assert outcome.all_ended_well(False) and outcome.polls == 1
    assert sorted(name for _, name, _ in recorder.events) == ["w0", "w1", "w2"]
    assert all(
        f["status_enum"] == "finished" and f["output_valid"] is None for _, _, f in recorder.events
    )
