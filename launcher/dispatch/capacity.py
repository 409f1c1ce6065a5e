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

    def refused(self, outcome: AtLimit) -> str | None:
        """Note a refusal; the reason to stop starting entries, unless deferring."""
        self.reached = True
        self.limit = outcome.limit or self.limit
        if self.defer:
            return None
        of = f" of {outcome.limit}" if outcome.limit else ""
        return f"the organisation is at its concurrent-session limit{of}"
