"""The narrow doors follow-through goes through besides the API (`api.outcomes.FollowAPI`):
the ledger it appends to, and what `watch` and a scheduled run show while they work.

`launcher.ledger.writer.LedgerWriter`, `launcher.output.follow.WatchReporter` and
`launcher.output.progress.RunProgress` satisfy these as they are; tests and benchmarks may
pass anything else that does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from launcher.dispatch.recorder import Progress
from launcher.ledger.events import Subject

if TYPE_CHECKING:
    from launcher.follow.slots import SlotSnapshot
    from launcher.follow.targets import Target


class Ledger(Protocol):
    """Appends durable ledger events (each call returns once they are on disk)."""

    async def append(self, event: Any, entry: Subject, **fields: Any) -> None: ...
    async def append_all(self, events: Iterable[tuple[Any, Subject, dict[str, Any]]]) -> None: ...


class Unrecorded:
    """A ledger that records nothing: for a watch that follows read-only (another process
    holds the ledger) and for previews. It counts what it was not told to keep."""

    def __init__(self) -> None:
        self.dropped = 0

    async def append(self, event: Any, entry: Subject, **fields: Any) -> None:
        self.dropped += 1

    async def append_all(self, events: Iterable[tuple[Any, Subject, dict[str, Any]]]) -> None:
        self.dropped += sum(1 for _ in events)


class WatchProgress(Protocol):
    """What `watch` tells the user while it polls (rendered by `launcher.output`)."""

    def log(self, message: str) -> None: ...
    def start(self, active: int, settled: int, not_created: int) -> None: ...
    def change(self, target: Target) -> None: ...
    def tick(self, targets: Sequence[Target], force: bool = False) -> None: ...


class SlotsProgress(Progress, Protocol):
    """A run's live line that also shows the slots (`run --wait`, `--max-active`)."""

    def attach_slots(self, snapshot: Callable[[], SlotSnapshot]) -> None: ...
    def finish(self) -> None: ...
