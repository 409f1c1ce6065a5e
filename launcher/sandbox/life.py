"""A sandbox session's life: how long it works, how it settles, and its status at any
instant, computed from the clock (no timer per session).

The draws for one session come from its own `random.Random`, seeded from the sandbox
seed and the request body, so a seed reproduces every life whatever order concurrent
requests arrive in. `sandbox:` tags on the session steer it (see `Directives`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

WORKING, FINISHED, BLOCKED, EXPIRED, STOPPED = (
    "working",
    "finished",
    "blocked",
    "expired",
    "stopped",
)
SETTLED = (FINISHED, BLOCKED, EXPIRED)
OUTPUT_MODES = ("valid", "invalid", "none")
DIRECTIVE_PREFIX = "sandbox:"
BLOCKED_PR_SHARE = 0.5  # Devin often blocks after opening its PR, often before
MAX_CHATTER = 1000  # progress messages one session may write (`sandbox:chatter=N`)


@dataclass(frozen=True)
class Rules:
    """The sandbox-wide settings a life is drawn from (a slice of SandboxConfig)."""

    work_seconds: float
    work_spread: float
    blocked_share: float
    expired_share: float
    invalid_output_share: float

    def duration(self, rng: random.Random) -> float:
        spread = rng.uniform(-self.work_spread, self.work_spread) if self.work_spread else 0.0
        return max(0.0, self.work_seconds + spread)


@dataclass(frozen=True)
class Directives:
    """What `sandbox:` tags ask for: `sandbox:work=SECONDS`, `sandbox:end=finished|blocked|
    expired`, `sandbox:output=valid|invalid|none`, `sandbox:pr=yes|no`,
    `sandbox:chatter=N` (N progress messages while it first works). A malformed or
    unknown one is ignored, as Devin would ignore the tag."""

    work: float | None = None
    end: str | None = None
    output: str | None = None
    pr: bool | None = None
    chatter: int | None = None

    @classmethod
    def from_tags(cls, tags: Iterable[str]) -> Directives:
        """The directives among `tags`; of two valid ones for the same thing, the last."""
        found: dict[str, Any] = {}  # name → value, checked by _directive
        for tag in tags:
            if not tag.startswith(DIRECTIVE_PREFIX):
                continue
            name, _, text = tag[len(DIRECTIVE_PREFIX) :].partition("=")
            name = name.strip()
            value = _directive(name, text.strip())
            if value is not None:
                found[name] = value
        return cls(**found)


def _directive(name: str, text: str) -> float | str | bool | None:
    """The value of one directive; None when malformed or unknown."""
    if name == "work":
        return _seconds(text)
    if name == "end":
        return text if text in SETTLED else None
    if name == "output":
        return text if text in OUTPUT_MODES else None
    if name == "pr":
        return {"yes": True, "no": False}.get(text)
    if name == "chatter":
        return int(text) if text.isdigit() and int(text) <= MAX_CHATTER else None
    return None


def _seconds(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and 0 <= value < math.inf else None


class Life:
    """One session's timeline, in monotonic seconds. Mutated only by the sandbox's loop."""

    def __init__(self, rules: Rules, directives: Directives, seed: str, now: float) -> None:
        rng = random.Random(seed)
        self.seed = seed
        # Always four draws in this order, so that a directive leaves the others as they were.
        duration, outcome_draw, output_draw, pr_draw = (
            rules.duration(rng),
            *(rng.random() for _ in range(3)),
        )
        if outcome_draw < rules.blocked_share:
            drawn = BLOCKED
        elif outcome_draw < rules.blocked_share + rules.expired_share:
            drawn = EXPIRED
        else:
            drawn = FINISHED
        self.created = now
        self.work_start = now
        self.work_end = now + (directives.work if directives.work is not None else duration)
        self.outcome = directives.end or drawn
        invalid = output_draw < rules.invalid_output_share
        self.output = directives.output or ("invalid" if invalid else "valid")
        self.pr: bool | None = directives.pr  # None: the default for the status
        self.pr_when_blocked = pr_draw < BLOCKED_PR_SHARE
        self.chatter = directives.chatter or 0
        self.first_span = self.work_end - now  # the first work period, which chatter spans
        self.worked_before = 0.0  # seconds worked in earlier periods
        self.changed = now  # last change other than the scheduled settling
        self.terminated_at: float | None = None
        self.final_status: str | None = None  # frozen at termination
        self.wakes = 0

    # -- reading -------------------------------------------------------------------

    def status(self, now: float) -> str:
        if self.final_status is not None:
            return self.final_status
        return WORKING if now < self.work_end else self.outcome

    def fraction(self, now: float) -> float:
        """How far the current work period has gone (1 once it is over)."""
        span = self.work_end - self.work_start
        return 1.0 if span <= 0 else max(0.0, min(1.0, (now - self.work_start) / span))

    def updated(self, now: float) -> float:
        settled = self.work_end if self.work_end <= now and self.final_status is None else 0.0
        return max(self.changed, settled)

    def ended(self, now: float) -> float | None:
        """When the latest work period ended; None while working."""
        return self.work_end if self.work_end <= now else None

    def worked(self, now: float) -> float:
        """Seconds spent working, over every period so far."""
        return self.worked_before + max(0.0, min(now, self.work_end) - self.work_start)

    def chatter_times(self, now: float) -> list[float]:
        """When each progress message written so far was written: evenly over the first
        work period, none after a termination."""
        until = min(now, self.terminated_at if self.terminated_at is not None else now)
        step = self.first_span / (self.chatter + 1)
        times = (self.created + (i + 1) * step for i in range(self.chatter))
        return [t for t in times if t <= until]

    def shows_pr(self, status: str) -> bool:
        if status not in (FINISHED, BLOCKED):
            return False
        if self.pr is not None:
            return self.pr
        return status == FINISHED or self.pr_when_blocked

    def slot_until(self, settled_holds_slot: bool) -> float:
        """Until when this session holds a concurrent-session slot."""
        if self.terminated_at is not None:
            return self.terminated_at
        if settled_holds_slot and self.outcome != EXPIRED:
            return math.inf
        return self.work_end

    def exited(self, now: float, settled_holds_slot: bool) -> bool:
        """Whether DELETE answers 422: terminated, expired, or finished and holding nothing."""
        status = self.status(now)
        if self.terminated_at is not None or status == EXPIRED:
            return True
        return status == FINISHED and not settled_holds_slot

    # -- changes -------------------------------------------------------------------

    def work_for(self, now: float, seconds: float, outcome: str) -> None:
        """A new work period from now (a wake-up), or a new end for the current one."""
        if now >= self.work_end:  # settled: a new period starts
            self.worked_before = self.worked(now)
            self.work_start = now
        self.work_end = now + seconds
        self.outcome = outcome
        self.changed = now

    def settle(self, now: float, status: str) -> None:
        self.work_end = min(self.work_end, now)
        self.outcome = status
        self.changed = now

    def wake(self, rules: Rules, now: float) -> None:
        """A message to a settled session: it works again, then finishes (a person
        answered what it was waiting for)."""
        self.wakes += 1
        duration = rules.duration(random.Random(f"{self.seed}:wake{self.wakes}"))
        self.work_for(now, duration, FINISHED)

    def terminate(self, now: float) -> None:
        status = self.status(now)
        self.final_status = STOPPED if status == WORKING else status
        self.work_end = min(self.work_end, now)
        self.terminated_at = now
        self.changed = now
