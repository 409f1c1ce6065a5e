"""The slot scheduler against a fake organisation: a limit, sessions that settle after a
number of polls, other people's sessions, settled sessions that keep their slot.

Time is counted in polls, not seconds: every poll ages each session by one tick, and the
intervals are a few milliseconds, so nothing here depends on how loaded the machine is.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import anyio
import pytest

from launcher.follow.slots import (
    AtCapacity,
    Done,
    Retry,
    SlotScheduler,
    SlotSettings,
    Started,
    StartResult,
)

FAST = SlotSettings(poll_interval=0.002, probe_interval=0.05, stuck_after=0.05)


@dataclass
class FakeOrg:
    """An organisation with `limit` slots. A session works for `ticks` polls, then
    settles; with `settled_holds`, it keeps its slot until terminated."""

    limit: int
    ticks: int = 3
    others: int = 0  # slots held by sessions the run did not start
    says_limit: bool = True  # whether the 429 message names N
    settled_holds: bool = False
    tick: int = 0
    born: dict[str, int] = field(default_factory=dict)
    settled: set[str] = field(default_factory=set)
    terminated: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)  # every start, in order
    created: list[str] = field(default_factory=list)
    refusals: int = 0
    most_working: int = 0

    def working(self) -> int:
        return len(set(self.born) - self.settled)

    def holding(self) -> int:
        held = self.settled - self.terminated if self.settled_holds else set()
        return self.working() + len(held) + self.others

    async def start(self, item: str) -> StartResult:
        self.calls.append(item)
        await anyio.sleep(0)
        if self.holding() >= self.limit:
            self.refusals += 1
            return AtCapacity(self.limit if self.says_limit else None)
        self.born[item] = self.tick
        self.created.append(item)
        self.most_working = max(self.most_working, self.working())
        return Started(item)

    async def poll(self, ids: Collection[str]) -> Collection[str]:
        self.tick += 1
        for sid, born in self.born.items():
            if self.tick - born >= self.ticks:
                self.settled.add(sid)
        return [i for i in ids if i in self.settled]

    async def terminate(self, session_id: str) -> bool:
        self.terminated.add(session_id)
        return True


def items(n: int) -> list[str]:
    return [f"e{i:02d}" for i in range(n)]


def run(sched: SlotScheduler[str], limit_seconds: float = 20.0) -> bool:
    """Runs the scheduler; False when it had not finished after `limit_seconds`."""

    async def go() -> bool:
        with anyio.move_on_after(limit_seconds):
            await sched.run()
            return True
        return False

    return anyio.run(go)


def test_keeps_at_most_the_limit_working_and_learns_it() -> None:
    org = FakeOrg(limit=3)
    messages: list[str] = []
    sched = SlotScheduler(items(9), org.start, org.poll, FAST, notify=messages.append)
    assert run(sched)
    assert org.created == items(9)  # all of them, in manifest order
    assert org.most_working == 3
    assert sched.limit == 3 and sched.snapshot().limit == 3
    assert 1 <= org.refusals <= 4  # a handful while finding the limit, not one per entry
    assert org.refusals == sched.snapshot().capacity_429s
    assert "the organisation's concurrent-session limit is 3" in messages


def test_without_a_number_the_limit_is_how_many_of_ours_work() -> None:
    org = FakeOrg(limit=4, says_limit=False)
    sched = SlotScheduler(items(12), org.start, org.poll, FAST)
    assert run(sched)
    assert org.created == items(12) and org.most_working == 4
    assert sched.limit == 4


def test_max_active_below_the_limit_never_meets_it() -> None:
    org = FakeOrg(limit=5)
    settings = SlotSettings(max_active=2, poll_interval=0.002)
    sched = SlotScheduler(items(8), org.start, org.poll, settings)
    assert run(sched)
    assert org.created == items(8)
    assert org.most_working == 2 and org.refusals == 0
    assert sched.limit is None and sched.cap == 2


def test_a_slot_refills_at_the_poll_that_shows_a_session_settled() -> None:
    org = FakeOrg(limit=2, ticks=2)
    settings = SlotSettings(max_active=2, poll_interval=0.002)
    sched = SlotScheduler(items(6), org.start, org.poll, settings)
    assert run(sched)
    # Two at a time, each pair two polls long: every pair starts at the poll that freed
    # the slots, so six entries take three pairs of two ticks.
    assert [org.born[i] for i in items(6)] == [0, 0, 2, 2, 4, 4]


def test_a_capacity_429_puts_the_entry_back_at_its_place_without_an_attempt() -> None:
    org = FakeOrg(limit=2, others=1)
    attempts: dict[str, int] = {}

    async def start(item: str) -> StartResult:
        result = await org.start(item)
        if not isinstance(result, AtCapacity):
            attempts[item] = attempts.get(item, 0) + 1
        return result

    async def poll(ids: Collection[str]) -> Collection[str]:
        if org.tick == 4:
            org.others = 0  # someone else's session ended
        return await org.poll(ids)

    settings = SlotSettings(max_active=2, poll_interval=0.002, probe_interval=0.01)
    sched = SlotScheduler(items(5), start, poll, settings)
    assert run(sched)
    assert org.refusals >= 1
    assert org.created == items(5)  # e01, refused first, still starts before e02
    assert set(attempts.values()) == {1}  # the refusal spent nothing


def test_a_retry_does_not_jump_ahead_of_entries_never_tried() -> None:
    org = FakeOrg(limit=5, ticks=1)
    failed_once: set[str] = set()

    async def start(item: str) -> StartResult:
        if item == "e00" and item not in failed_once:
            failed_once.add(item)
            org.calls.append(item)
            return Retry(0.0)
        return await org.start(item)

    settings = SlotSettings(max_active=1, poll_interval=0.002)
    assert run(SlotScheduler(items(4), start, org.poll, settings))
    assert org.calls == ["e00", "e01", "e02", "e03", "e00"]


def test_entries_given_up_hold_no_slot() -> None:
    org = FakeOrg(limit=1)

    async def start(item: str) -> StartResult:
        if item in ("e00", "e01"):
            return Done()
        return await org.start(item)

    assert run(SlotScheduler(items(4), start, org.poll, SlotSettings(poll_interval=0.002)))
    assert org.created == ["e02", "e03"]


def test_one_stuck_start_cannot_hold_the_queue() -> None:
    org = FakeOrg(limit=10, ticks=1)
    release = anyio.Event()
    created_while_stuck: list[str] = []

    async def start(item: str) -> StartResult:
        if item == "e00":
            await release.wait()  # a start stuck in backoff or a slow lookup
            return await org.start(item)
        result = await org.start(item)
        if item == "e03":
            created_while_stuck.extend(org.created)
            release.set()
        return result

    settings = SlotSettings(max_active=1, poll_interval=0.002, stuck_after=0.02)
    assert run(SlotScheduler(items(4), start, org.poll, settings))
    assert created_while_stuck == ["e01", "e02", "e03"]
    assert sorted(org.created) == items(4)


@pytest.mark.slow
def test_slots_held_by_others_are_probed_every_few_moments_not_spun_on() -> None:
    org = FakeOrg(limit=2, others=2)
    messages: list[str] = []
    settings = SlotSettings(poll_interval=0.002, probe_interval=0.05)
    sched = SlotScheduler(items(3), org.start, org.poll, settings, notify=messages.append)

    async def go() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(sched.run)
            await anyio.sleep(0.5)
            refusals_while_full = org.refusals
            org.others = 0
            with anyio.fail_after(20):
                while org.created != items(3):
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        # 0.5 s at one probe per 0.05 s: about ten, where a spin would make thousands.
        assert 2 <= refusals_while_full <= 25

    anyio.run(go)
    stuck = [m for m in messages if "sessions this run did not start hold every slot" in m]
    assert len(stuck) == 1  # said once, not at every probe
    assert "probing again every 0.05s" in stuck[0]


@pytest.mark.slow
def test_settled_sessions_holding_slots_say_why_the_run_is_stuck() -> None:
    org = FakeOrg(limit=2, settled_holds=True)
    messages: list[str] = []
    sched = SlotScheduler(items(4), org.start, org.poll, FAST, notify=messages.append)
    assert not run(sched, limit_seconds=0.5)  # cannot finish: nothing frees the slots
    assert org.created == ["e00", "e01"]
    assert sched.stuck is not None and "--terminate-settled" in sched.stuck
    assert "2 of them have settled but may still hold slots" in sched.stuck
    assert sched.stuck in messages
    assert sched.snapshot().stuck == sched.stuck


def test_terminate_settled_frees_the_slots() -> None:
    org = FakeOrg(limit=2, settled_holds=True)
    sched = SlotScheduler(items(6), org.start, org.poll, FAST, on_settled=org.terminate)
    assert run(sched)
    assert org.created == items(6) and org.terminated == set(items(6))
    assert org.refusals == 0 or sched.limit == 2
    assert sched.stuck is None


def test_nothing_to_do_returns_at_once() -> None:
    org = FakeOrg(limit=1)
    assert run(SlotScheduler([], org.start, org.poll, FAST), limit_seconds=1)
    assert org.calls == []


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"max_active": 0}, "--max-active must be at least 1"),
        ({"poll_interval": 0}, "--poll-interval must be a positive number of seconds"),
        ({"probe_interval": -1}, "--probe-interval must be a positive number of seconds"),
        ({"probe_interval": float("nan")}, "--probe-interval must be a positive number"),
    ],
)
def test_settings_check_themselves(kwargs: dict[str, float], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        SlotSettings(**kwargs)  # type: ignore[arg-type]


def test_stop_starts_nothing_more_and_returns_without_waiting_for_sessions() -> None:
    org = FakeOrg(limit=2, ticks=10_000)  # sessions that never settle in this test
    sched = SlotScheduler(items(6), org.start, org.poll, FAST)

    async def go() -> None:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(sched.run)
                while len(org.created) < 2:
                    await anyio.sleep(0.005)
                sched.stop()

    anyio.run(go)
    assert org.created == ["e00", "e01"]
    assert sched.snapshot().most_working == 2 and sched.snapshot().queued >= 4
