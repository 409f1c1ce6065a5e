"""`cancel`: terminate the selected entries' sessions that are still active (DELETE; a
422 "already exited" is not an error) and record each as `cancelled`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import anyio

from launcher.api.outcomes import ApiError, FollowAPI
from launcher.api.retry import RetryPolicy, call
from launcher.errors import AuthError
from launcher.follow.ports import Ledger
from launcher.follow.status import FINAL
from launcher.follow.targets import Target

CONCURRENCY = 8


@dataclass
class CancelOutcome:
    terminated: list[Target] = field(default_factory=list)
    already_exited: list[Target] = field(default_factory=list)
    failed: list[tuple[Target, str]] = field(default_factory=list)
    would: list[Target] = field(default_factory=list)  # --dry-run: those it would terminate


def to_cancel(targets: Sequence[Target]) -> list[Target]:
    """Sessions still holding a slot: not cancelled and not known to have ended for good
    (blocked ones are included: they wait for a person and keep their slot)."""
    return [
        t for t in targets if t.session_id and not t.cancelled and (t.status or "") not in FINAL
    ]


async def cancel(
    api: FollowAPI,
    ledger: Ledger,
    targets: Sequence[Target],
    policy: RetryPolicy,
    redact: Callable[[str], str],
) -> CancelOutcome:
    outcome = CancelOutcome()
    limiter = anyio.CapacityLimiter(CONCURRENCY)
    auth: list[str] = []

    async def one(target: Target) -> None:
        assert target.session_id is not None
        async with limiter:
            try:
                detail = await call(policy, api.delete_session, target.session_id)
            except ApiError as exc:
                if exc.auth:
                    auth.append(redact(str(exc)))
                outcome.failed.append((target, redact(str(exc))))
                return
        await ledger.append(
            "cancelled", target.subject, session_id=target.session_id, detail=detail
        )
        target.cancelled = True
        (outcome.terminated if detail == "terminated" else outcome.already_exited).append(target)

    async with anyio.create_task_group() as tg:
        for target in to_cancel(targets):
            tg.start_soon(one, target)
    if auth:
        raise AuthError(f"the API rejected the credentials ({auth[0]})")
    return outcome
