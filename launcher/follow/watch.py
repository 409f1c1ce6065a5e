"""The watch loop: poll the active targets until every one has settled or --timeout
passes, recording each change as a `status` event and telling the reporter."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import anyio

from launcher.api.outcomes import ApiError, FollowAPI
from launcher.api.retry import RetryPolicy
from launcher.errors import AuthError
from launcher.follow.poll import Memo, PollResult, jittered, poll_once
from launcher.follow.ports import Ledger, WatchProgress
from launcher.follow.targets import Target

LONGEST_BACKOFF = 300.0  # seconds: the most a failing poll pushes the next one back


@dataclass(frozen=True)
class WatchSettings:
    poll_interval: float = 20.0
    timeout: float | None = None  # seconds; None: until every entry has settled
    blocked_ok: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if self.poll_interval <= 0:
            raise ValueError("--poll-interval must be a positive number of seconds")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError("--timeout must be a positive number of seconds")


@dataclass
class WatchOutcome:
    targets: list[Target]
    timed_out: bool
    polls: int
    requests: int

    def all_ended_well(self, blocked_ok: bool) -> bool:
        return all(t.verdict(blocked_ok, self.timed_out).ended_well for t in self.targets)


async def refresh(
    api: FollowAPI,
    ledger: Ledger,
    targets: Sequence[Target],
    expected: Mapping[str, int],
    policy: RetryPolicy,
    redact: Callable[[str], str],
    on_change: Callable[[Target], None] = lambda t: None,
    on_problem: Callable[[str], None] = lambda m: None,
    memo: Memo | None = None,
    *,
    settled_too: bool = False,
) -> PollResult:
    """One poll over the active targets (`settled_too`: every session not cancelled, as a
    settled one may have moved on since, e.g. gone to sleep); every change is recorded
    before it is shown. A session whose answer could not be used keeps its last known
    state; `on_problem` hears of it once (until the problem changes)."""
    # Two entries may share one session (idempotent requests with one prompt): each is
    # followed, the session asked for once.
    active: dict[str, list[Target]] = {}
    for t in targets:
        if t.session_id and (t.active or (settled_too and not t.cancelled)):
            active.setdefault(t.session_id, []).append(t)
    try:
        watched = {s: group[0].batch for s, group in active.items()}
        ranks = {s: group[0].rank for s, group in active.items() if group[0].rank is not None}
        result = await poll_once(api, watched, expected, policy, ranks, memo)
    except ApiError as exc:
        if exc.auth:
            raise AuthError(f"the API rejected the credentials ({redact(str(exc))})") from None
        raise
    changed = []
    for sid, group in active.items():
        problem = result.problems.get(sid)
        for target in group:
            if problem != target.problem:
                target.problem = problem
                if problem is not None:
                    on_problem(f"warning: session {sid} ({target.entry.entry_id}): {problem}")
        seen = result.seen.get(sid)
        for target in group:
            fields = None if seen is None else target.observe(seen, redact)
            if fields is not None:
                changed.append((target, fields))
    # Written one after the other, then one fsync covers them all.
    await ledger.append_all(("status", target.subject, fields) for target, fields in changed)
    for target, _ in changed:
        on_change(target)
    return result


async def watch(
    api: FollowAPI,
    ledger: Ledger,
    targets: list[Target],
    expected: Mapping[str, int],
    settings: WatchSettings,
    reporter: WatchProgress,
    redact: Callable[[str], str],
    outcome: WatchOutcome | None = None,
) -> WatchOutcome:
    """Poll until no target is active or the timeout passes; the first poll is at once.
    `outcome`, when given, is filled as it goes (so a caller that cuts it short has it)."""
    deadline = None if settings.timeout is None else time.monotonic() + settings.timeout
    if outcome is None:
        outcome = WatchOutcome(targets, timed_out=False, polls=0, requests=0)
    interval = settings.poll_interval
    reporter.start(
        active=sum(t.active for t in targets),
        settled=sum(bool(t.session_id) and not t.active for t in targets),
        not_created=sum(t.session_id is None for t in targets),
    )

    def on_change(target: Target) -> None:
        reporter.change(target)
        reporter.tick(targets)

    memo: Memo = {}
    while any(t.active for t in targets):
        if deadline is not None and time.monotonic() >= deadline:
            outcome.timed_out = True
            break
        left = math.inf if deadline is None else deadline - time.monotonic()
        try:
            # A poll retrying a struggling server must not outlive --timeout either.
            with anyio.move_on_after(left):
                result = await refresh(
                    api,
                    ledger,
                    targets,
                    expected,
                    settings.retry,
                    redact,
                    on_change,
                    reporter.log,
                    memo,
                )
                outcome.requests += result.lists + result.gets
                interval = settings.poll_interval
        except ApiError as exc:
            interval = min(max(interval, settings.poll_interval) * 2, LONGEST_BACKOFF)
            reporter.log(f"warning: poll failed ({exc}); next in {interval:.0f}s")
        outcome.polls += 1
        reporter.tick(targets, force=True)
        if not any(t.active for t in targets):
            break
        wait = jittered(interval)
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - time.monotonic()))
        await _sleep_ticking(wait, reporter, targets)
    return outcome


async def _sleep_ticking(seconds: float, reporter: WatchProgress, targets: list[Target]) -> None:
    """Sleep, redrawing the live line (its elapsed time) once a second."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        await anyio.sleep(min(1.0, left))
        reporter.tick(targets)
