"""The slot scheduler: keeps at most min(--max-active, the learned limit) of a run's
sessions working, starting entries in manifest order and refilling a slot as soon as a
poll shows one of ours settled. Pure anyio logic: starting and polling are callbacks.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import anyio

T = TypeVar("T")

DEFAULT_PROBE_INTERVAL = 180.0  # seconds between capacity probes when others hold slots
DEFAULT_STUCK_AFTER = 60.0  # a start taking longer than this stops holding a slot


# --- what a start can come to ------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """A session of ours exists (created, adopted, or found): it holds a slot until settled."""

    session_id: str


@dataclass(frozen=True)
class AtCapacity:
    """The organisation is at its concurrent-session limit; the entry was not started."""

    limit: int | None = None


@dataclass(frozen=True)
class Retry:
    """A real attempt failed and may be tried again after `delay` seconds."""

    delay: float = 0.0


@dataclass(frozen=True)
class Done:
    """Nothing to hold a slot for: failed for good, in doubt, or stopped."""


StartResult = Started | AtCapacity | Retry | Done


@dataclass(frozen=True)
class SlotSettings:
    max_active: int | None = None  # --max-active; None: only the organisation's limit
    poll_interval: float = 20.0
    probe_interval: float = DEFAULT_PROBE_INTERVAL
    stuck_after: float = DEFAULT_STUCK_AFTER

    def __post_init__(self) -> None:
        if self.max_active is not None and self.max_active < 1:
            raise ValueError(f"--max-active must be at least 1, got {self.max_active}")
        for name in ("poll_interval", "probe_interval", "stuck_after"):
            if not getattr(self, name) > 0:  # NaN too
                flag = "--" + name.replace("_", "-")
                raise ValueError(
                    f"{flag} must be a positive number of seconds, got {getattr(self, name):g}"
                )


@dataclass(frozen=True)
class SlotSnapshot:
    """What the progress line and the summary show."""

    limit: int | None  # the organisation's limit as learned (None: not met yet)
    cap: int | None  # how many of ours may work now (None: no bound known)
    working: int  # our sessions not yet seen settled
    most_working: int
    starting: int
    queued: int
    capacity_429s: int
    stuck: str | None  # why nothing can progress, while that lasts


@dataclass
class _Queue(Generic[T]):
    """Never-tried entries (and entries put back by a capacity 429) by manifest index;
    retries, by due time, only once no never-tried entry is waiting."""

    items: Sequence[T]
    fresh: list[int] = field(default_factory=list)
    retries: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.fresh = list(range(len(self.items)))  # already a heap

    def put_back(self, index: int) -> None:
        heapq.heappush(self.fresh, index)

    def retry(self, index: int, due: float) -> None:
        heapq.heappush(self.retries, (due, index))

    def pop(self, now: float) -> int | None:
        if self.fresh:
            return heapq.heappop(self.fresh)
        if self.retries and self.retries[0][0] <= now:
            return heapq.heappop(self.retries)[1]
        return None

    def next_due(self) -> float:
        return self.retries[0][0] if self.retries and not self.fresh else math.inf

    def __len__(self) -> int:
        return len(self.fresh) + len(self.retries)


class Room:
    """What the run knows of the organisation's capacity: the limit it learned, how many
    of ours there is room for now, and when to probe for more."""

    def __init__(self, probe_interval: float) -> None:
        self.limit: int | None = None
        self.refusals = 0
        self._room: int | None = None  # ours the organisation has room for; None: unknown
        self._probing = False  # a probe start is out: if it succeeds, the room is unknown
        self._answered = 0  # starts that came back with anything but a capacity 429
        self._probe_interval = probe_interval
        self.probe_at = math.inf

    def cap(self, max_active: int | None) -> int | None:
        bounds = [b for b in (max_active, self.limit, self._room) if b is not None]
        return min(bounds) if bounds else None

    def ramp_full(self, starting: int) -> bool:
        """No bound known yet: a slow start (1, 2, 4... in flight) finds the limit with a
        handful of capacity 429s instead of one per entry."""
        return starting >= max(1, self._answered)

    def tick(self, now: float) -> None:
        if now >= self.probe_at:
            self.probe_at = math.inf
            if self._room is not None:
                self._room, self._probing = self._room + 1, True

    def answered(self, ours: int, started: bool) -> None:
        self._answered += 1
        if not started:
            return
        if self._probing:  # capacity came back: find out how much, from the top
            self._room, self._probing = None, False
        elif self._room is not None:
            self._room = max(self._room, ours)

    def refused(self, ours: int, limit: int | None, now: float) -> int | None:
        """A capacity 429 with `ours` working; the limit if this one taught it."""
        self.refusals += 1
        self._room, self._probing = ours, False
        self.probe_at = now + self._probe_interval
        learned = limit if limit is not None else (ours or None)
        if learned is None or learned == self.limit:
            return None
        self.limit = learned
        return learned


def stuck_reason(held: int, terminating: bool, probe_interval: float) -> str:
    """Why nothing progresses when the limit is reached and none of ours works."""
    probe = f"probing again every {probe_interval:g}s"
    start = "at the concurrent-session limit with none of this run's sessions working: "
    if held and not terminating:
        return (
            f"{start}{held} of them have settled but may still hold slots (Devin counts "
            f"finished and blocked sessions until they are terminated); pass "
            f"--terminate-settled or terminate them; {probe}"
        )
    return f"{start}sessions this run did not start hold every slot; {probe}"


class SlotScheduler(Generic[T]):
    """Starts `items` through `start`, polls ours through `poll` (which returns the ids
    among those given that have settled), and calls `on_settled` for each settled one
    (`--terminate-settled`; it returns whether the slot is now free for sure)."""

    def __init__(
        self,
        items: Sequence[T],
        start: Callable[[T], Awaitable[StartResult]],
        poll: Callable[[Collection[str]], Awaitable[Collection[str]]],
        settings: SlotSettings,
        *,
        on_settled: Callable[[str], Awaitable[bool]] | None = None,
        notify: Callable[[str], None] = lambda message: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._queue = _Queue(items)
        self._start_fn, self._poll_fn, self._on_settled = start, poll, on_settled
        self.settings, self._notify, self._clock = settings, notify, clock
        self.room = Room(settings.probe_interval)
        self._ours: set[str] = set()  # started, not yet seen settled
        self._held: set[str] = set()  # settled, not terminated: may still hold a slot
        self._starting: dict[int, float] = {}  # index -> when its start began
        self._changed = anyio.Event()
        self.most_working = 0  # the most of ours seen working at once
        self._stopping = self._keep_watching = False
        self.stuck: str | None = None

    # --- what others read ---------------------------------------------------------------

    @property
    def limit(self) -> int | None:
        return self.room.limit

    @property
    def cap(self) -> int | None:
        return self.room.cap(self.settings.max_active)

    def snapshot(self) -> SlotSnapshot:
        return SlotSnapshot(
            self.limit,
            self.cap,
            len(self._ours),
            self.most_working,
            len(self._starting),
            len(self._queue),
            self.room.refusals,
            self.stuck,
        )

    # --- the loop -----------------------------------------------------------------------

    def stop(self, *, keep_watching: bool = False) -> None:
        """Start nothing more; `run` returns once the starts in flight have come back,
        and, with `keep_watching`, once ours have settled too."""
        self._stopping, self._keep_watching = True, keep_watching
        self._wake()

    def _busy(self) -> bool:
        if self._stopping:
            return bool(self._starting) or (self._keep_watching and bool(self._ours))
        return bool(self._queue or self._starting or self._ours)

    async def run(self) -> None:
        """Returns once every item has been started (or given up) and all of ours settled."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._poll_loop)
            while self._busy():
                now = self._clock()
                self.room.tick(now)
                while (index := self._next(now)) is not None:
                    self._starting[index] = now
                    tg.start_soon(self._start, index)
                await self._wait(self._next_timer(now) - now)
            tg.cancel_scope.cancel()

    def _holding(self, now: float) -> int:
        """Slots ours hold: sessions not seen settled, and starts not yet stuck."""
        stuck_before = now - self.settings.stuck_after
        return len(self._ours) + sum(1 for t in self._starting.values() if t > stuck_before)

    def _next(self, now: float) -> int | None:
        if self._stopping:
            return None
        cap = self.cap
        if cap is not None and self._holding(now) >= cap:
            return None
        if cap is None and self.room.ramp_full(len(self._starting)):
            return None
        return self._queue.pop(now)

    def _next_timer(self, now: float) -> float:
        stuck = [t + self.settings.stuck_after for t in self._starting.values()]
        return min([self._queue.next_due(), self.room.probe_at, *(s for s in stuck if s > now)])

    async def _wait(self, seconds: float) -> None:
        with anyio.move_on_after(max(0.0, seconds)):
            await self._changed.wait()
        self._changed = anyio.Event()

    def _wake(self) -> None:
        self._changed.set()

    # --- one start ----------------------------------------------------------------------

    async def _start(self, index: int) -> None:
        try:
            result = await self._start_fn(self._queue.items[index])
        finally:
            self._starting.pop(index, None)
            self._wake()
        now = self._clock()
        if isinstance(result, AtCapacity):
            self._queue.put_back(index)  # at its place: this was no attempt
            learned = self.room.refused(len(self._ours), result.limit, now)
            if learned is not None:
                self._notify(f"the organisation's concurrent-session limit is {learned}")
            if not self._ours:
                self._say_stuck()
            return
        if isinstance(result, Started):
            self._ours.add(result.session_id)
            self.most_working = max(self.most_working, len(self._ours))
            self.stuck = None
        elif isinstance(result, Retry):
            self._queue.retry(index, now + result.delay)
        self.room.answered(len(self._ours), isinstance(result, Started))

    def _say_stuck(self) -> None:
        why = stuck_reason(
            len(self._held), self._on_settled is not None, self.settings.probe_interval
        )
        if why != self.stuck:
            self.stuck = why
            self._notify(why)

    # --- polling ------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        while True:
            await anyio.sleep(self.settings.poll_interval)
            if not self._ours:
                continue
            settled = set(await self._poll_fn(frozenset(self._ours))) & self._ours
            for session_id in sorted(settled):
                self._ours.discard(session_id)
                freed = self._on_settled is not None and await self._on_settled(session_id)
                if not freed:
                    self._held.add(session_id)
            if settled:
                self.stuck = None
                self._wake()
