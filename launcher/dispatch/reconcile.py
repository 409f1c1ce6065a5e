"""Reconciliation: after an answer that leaves it unknown whether a session was created,
look the entry up by its tag and record what the API says, or that it is still in doubt."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal

import anyio

from launcher.api.outcomes import Created, LookupFailed, SessionsAPI
from launcher.dispatch.pacing import Pace
from launcher.dispatch.recorder import Recorder
from launcher.dispatch.results import EntryResult
from launcher.dispatch.settings import RunSettings
from launcher.ledger.state import EntryState, KeyRecord

LOOKUP_ATTEMPTS = 3  # failed lookups before an entry is left in doubt

# found: recorded created; absent: safe to send; unknown: recorded in doubt.
Lookup = Literal["found", "absent", "unknown"]


class Reconciler:
    """Looks entries up by tag, sharing the dispatcher's slots and pace."""

    def __init__(
        self,
        client: SessionsAPI,
        recorder: Recorder,
        slots: anyio.CapacityLimiter,
        pace: Pace,
        delay: float,
        settings: RunSettings,
    ) -> None:
        self._settings = settings
        self._client = client
        self._recorder = recorder
        self._slots = slots
        self._pace = pace
        self._delay = delay

    def _known(self, key: str) -> list[str]:
        return self._recorder.ledger.state.known_sessions(key)

    def _first_sent(self, result: EntryResult) -> datetime | None:
        """When the entry was first sent: by an earlier run (its ledger), else by this one."""
        ts = self._recorder.ledger.state.first_sent(result.entry.key)
        earlier = parse_ts(ts) if ts else None
        times = [t for t in (earlier, result.first_sent) if t is not None]
        return min(times) if times else None

    async def resume(
        self,
        result: EntryResult,
        prior: KeyRecord | None,
        sleep: Callable[[float], Awaitable[None]],
    ) -> Lookup:
        """What an earlier run left behind: "absent" when the entry may be sent. `sleep` is
        the run's stoppable wait."""
        if prior is None:
            return "absent"
        longest = self._settings.max_wait
        if prior.retry_at is not None:
            # An earlier run was told to wait: the server's Retry-After still holds, but no
            # longer than an in-run wait may (the lock is held meanwhile).
            wait = seconds_until(prior.retry_at, 0.0)
            if wait > longest:
                return self._not_now(
                    result,
                    f"the server asked an earlier run to wait until {prior.retry_at}, "
                    f"{wait:.0f}s from now, more than --max-wait {longest:g}s; not sent",
                )
            await sleep(wait)
        if prior.outcome not in ("sending", "in_doubt"):
            return "absent"
        # An earlier run may have created it. A request it left in flight may still be on
        # the server until that run's timeout: an idempotent request is resent after it (the
        # API returns the session if it exists), any other is looked up by its tag, and
        # "absent" is trusted only after it.
        wait = 0.0
        if prior.outcome == "sending":
            wait = seconds_until(prior.ts, prior.timeout or self._settings.timeout)
        idempotent = result.idempotent(self._settings.idempotency)
        if wait > longest and idempotent:
            return self._not_now(result, _in_flight(wait, longest))
        if idempotent:
            await sleep(wait)
            return "absent"
        result.error = prior.error or "an earlier run stopped with this request in flight"
        return await self.reconcile(result, time.monotonic() + wait)

    def _not_now(self, result: EntryResult, why: str) -> Lookup:
        """Not sent in this run, the ledger left as it is (its wait still holds for the
        next run); the run's report says why."""
        result.outcome, result.error = EntryState.FAILED, why
        self._recorder.progress.failed(result)
        return "unknown"

    async def reconcile(self, result: EntryResult, trust_after: float) -> Lookup:
        """Look the entry up by its tag and record what was found, if anything.

        "absent" is trusted only once `trust_after` (monotonic) has passed: until then the
        server may still be creating it. The waits here are not cut short by a stop: an
        early answer could be wrong, and a second signal or the drain deadline cancels them.
        """
        entry = result.entry
        tag = entry.tag_of(result.rerun)
        if tag is None:
            await self._recorder.in_doubt(
                result,
                f"{result.error}; cannot look it up: the entry has 50 tags, no room "
                "for the reconciliation tag",
            )
            return "unknown"
        await anyio.sleep(self._delay)
        since = self._first_sent(result)
        failures, last_error = 0, "lookup failed"
        while failures < LOOKUP_ATTEMPTS:
            try:
                async with self._slots:
                    async with self._pace.start(answered=False):
                        pass
                    found = await self._client.find_by_tag(
                        tag, since=since, known=[*self._known(entry.key), *result.known]
                    )
            except LookupFailed as exc:
                failures += 1
                last_error = str(exc)
                await anyio.sleep(self._delay * failures)
                continue
            if not found:
                remaining = trust_after - time.monotonic()
                if remaining <= 0:
                    return "absent"
                if remaining > self._settings.max_wait:  # an earlier run's enormous timeout
                    return self._not_now(result, _in_flight(remaining, self._settings.max_wait))
                await anyio.sleep(remaining)  # ask again once the request cannot be pending
                trust_after = 0.0
                continue
            if len(found) > 1:
                ids = ", ".join(str(f["session_id"]) for f in found)
                self._recorder.warn(
                    f"warning: {len(found)} sessions carry the tag of {entry.entry_id} "
                    f"(possible duplicate sessions): {ids}"
                )
            session = found[0]
            result.reconciled = True
            url = session.get("url")
            created = Created(
                session_id=str(session["session_id"]),
                url=url if isinstance(url, str) and url else None,
                is_new_session=True,
            )
            await self._recorder.created(result, created)
            return "found"
        await self._recorder.in_doubt(result, f"{result.error}; then {last_error}")
        return "unknown"


def _in_flight(wait: float, longest: float) -> str:
    return (
        f"an earlier run's request may be in flight for {wait:.0f}s more (its --timeout), "
        f"more than --max-wait {longest:g}s; not sent: run again after it"
    )


def parse_ts(ts: str) -> datetime | None:
    """A ledger timestamp as an aware datetime, None when unreadable."""
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def seconds_until(ts: str, after: float) -> float:
    """Seconds from now until `after` seconds past the ledger timestamp `ts`."""
    then = parse_ts(ts)
    if then is None:
        return after
    return max(0.0, then.timestamp() + after - datetime.now(UTC).timestamp())
