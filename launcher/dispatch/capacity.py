"""What a run learned of the organisation's concurrent-session limit from its capacity
429s (`api.outcomes.AtLimit`), and whether such a refusal stops new starts."""

from __future__ import annotations

from dataclasses import dataclass

from launcher.api.outcomes import AtLimit


@dataclass
class Capacity:
    defer: bool = False  # a scheduler puts refused entries back in its queue: no stop
    reached: bool = False  # a create was refused at the limit
    limit: int | None = None  # the limit, once a refusal has said it

    def refused(self, outcome: AtLimit) -> bool:
        """Note a refusal; whether it stops new starts (not when a scheduler defers)."""
        self.reached = True
        self.limit = outcome.limit or self.limit
        return not self.defer
