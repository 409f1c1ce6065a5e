"""Counting sessions that hold something (being at work, a concurrent-session slot) until
a known time, at any instant, without a timer per session.

Each holder has an end time (infinity: until released); a heap of end times is pruned
lazily when counted, so a count costs O(log n) per holder that ended since the last one.
"""

from __future__ import annotations

import heapq
import math


class Occupancy:
    """Holders by id, each until a monotonic time; `peak` is the most ever counted at once."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self.peak = 0

    def hold(self, holder: str, until: float, now: float) -> None:
        """`holder` holds from `now` until `until` (replacing any earlier end)."""
        if until <= now:
            self.release(holder)
            return
        self._until[holder] = until
        if until != math.inf:  # never popped: kept off the heap
            heapq.heappush(self._heap, (until, holder))
        # Counts only rise when something starts holding, so checking here finds the peak.
        self.peak = max(self.peak, self.count(now))

    def release(self, holder: str) -> None:
        self._until.pop(holder, None)  # its heap entry, if any, is skipped when popped

    def count(self, now: float) -> int:
        heap = self._heap
        while heap and heap[0][0] <= now:
            until, holder = heapq.heappop(heap)
            if self._until.get(holder) == until:  # not a stale entry of a re-held holder
                del self._until[holder]
        return len(self._until)
