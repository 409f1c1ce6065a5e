"""A batch's ACU budget (`run --max-acus N`): what the batch has committed is the ACUs its
settled sessions consumed plus the `max_acu_limit` of those still working (or what they
consumed, if more); an entry starts only while that plus its own limit stays within N."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from launcher.dispatch.results import EntryResult
from launcher.entry import Entry
from launcher.errors import UsageError
from launcher.follow.targets import Target


def limit_of(target: Target) -> float:
    limit = target.entry.request.get("max_acu_limit")
    return float(limit) if isinstance(limit, int | float) and not isinstance(limit, bool) else 0.0


@dataclass
class Budget:
    total: float
    recheck: float  # seconds before an entry held back by the budget asks again
    reserved: dict[str, float] = field(default_factory=dict)  # starts in flight: their limit
    stopped: bool = False  # the budget left entries unstarted

    def committed(self, targets: Sequence[Target]) -> float:
        """ACUs consumed or still to be, at most, by the batch's sessions and starts.
        Where the API reports no consumption (v1), a session counts at its limit."""
        total = sum(self.reserved.values())
        for target in targets:
            if target.session_id is None:
                continue
            limit, used = limit_of(target), target.acus_consumed
            if target.active:
                total += max(limit, used or 0.0)
            else:
                total += used if used is not None else limit
        return total


def budget_note(budget: Budget, results: Sequence[EntryResult]) -> str | None:
    """What the run says when the budget stopped it: the entries it left unstarted."""
    if not budget.stopped:
        return None
    left = [r.entry.entry_id for r in results if r.outcome == "pending" and not r.session_id]
    shown = ", ".join(left[:10]) + (f" and {len(left) - 10} more" if len(left) > 10 else "")
    return (
        f"the ACU budget (--max-acus {budget.total:g}) stopped the batch: {len(left)} "
        f"entr{'y' if len(left) == 1 else 'ies'} left unstarted: {shown}; raise --max-acus "
        "or run again with the same ledger to start them"
    )


def spent_line(targets: Sequence[Target], generation: str) -> str:
    """The batch's ACUs as the API reported them: per session in `results`, in total here.
    v1 reports none."""
    if generation != "v3":
        return "ACUs: not reported (the API v1 does not report them)"
    used = [t.acus_consumed for t in targets if t.session_id and t.acus_consumed is not None]
    return (
        f"ACUs: {sum(used):g} consumed by {len(used)} session{'s' * (len(used) != 1)} "
        "(each in `launcher results`, field acus_consumed)"
    )


def check_budgeted(entries: Sequence[Entry]) -> None:
    """`run --max-acus`: under a budget every entry says what it may spend (a
    `max_acu_limit`); a usage error names those that do not."""
    missing = [e.entry_id for e in entries if not e.request.get("max_acu_limit")]
    if missing:
        shown = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        raise UsageError(
            f"--max-acus needs a max_acu_limit on every entry, to know what a session may "
            f"spend; {shown} {'has' if len(missing) == 1 else 'have'} none: set "
            "max_acu_limit (in defaults: for all)"
        )
