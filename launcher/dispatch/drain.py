"""The one signal policy of a run (`run`, `run --wait`, `rerun`): the first SIGINT or
SIGTERM drains (nothing new starts; what the caller asks is done), the second aborts (the
task group is cancelled, cutting the requests in flight)."""

from __future__ import annotations

import signal
from collections.abc import Callable

import anyio
from anyio.abc import TaskGroup

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Drain:
    """Counts the signals; `on_first(name)` drains, the second cancels `group`."""

    def __init__(self, on_first: Callable[[str], None], log: Callable[[str], None]) -> None:
        self._on_first = on_first
        self._log = log
        self.count = 0

    async def watch(self, group: TaskGroup) -> None:
        with anyio.open_signal_receiver(*SIGNALS) as signals:
            async for signum in signals:
                self.count += 1
                name = signal.Signals(signum).name
                if self.count > 1:
                    self._log(f"second {name}: aborting the requests in flight")
                    group.cancel_scope.cancel()
                    return
                self._on_first(name)
