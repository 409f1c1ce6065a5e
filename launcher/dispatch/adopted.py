"""Whose session an idempotent create was answered with. Devin is reported to match
idempotent requests on the prompt alone: an entry may be given the session of another
entry of this run, or one created long before. Either is followed as the entry's, and
said once, naming the other entry or the session's age."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from launcher.api.lookup import CLOCK_SKEW, created_at
from launcher.api.outcomes import LookupFailed, SessionsAPI
from launcher.dispatch.results import EntryResult
from launcher.entry import RERUN_SUFFIX, TAG_PREFIX
from launcher.ledger.state import LedgerState


class Adoptions:
    """The sessions this run was answered with, and the words for an adopted one."""

    def __init__(self, client: SessionsAPI, state: LedgerState, keys: Iterable[tuple[str, str]]):
        self._client = client
        self._state = state
        self._entries: Mapping[str, str] = dict(keys)  # dispatch key -> entry id, this run
        self._mine: dict[str, str] = {}  # session id -> the first entry id it was given to
        self._started = datetime.now(UTC)

    async def explain(self, result: EntryResult) -> str | None:
        """Note the session `result` got; for one adopted from another entry or from
        before this run, the warning to show."""
        sid, me = result.session_id, result.entry.entry_id
        if sid is None:
            return None
        earlier = self._mine.setdefault(sid, me)
        if result.outcome != "adopted":
            return None
        why = "(Devin matches idempotent requests on the prompt): both follow one session"
        if earlier != me:
            return f"warning: {me} was answered with the session of {earlier} {why}"
        held = self._state.held_by(sid)
        if held is not None and held.entry != me:
            return (
                f"warning: {me} was answered with the session of {held.entry} (recorded "
                f"{held.ts}) {why}"
            )
        return await self._from_elsewhere(result, sid, why)

    async def _from_elsewhere(self, result: EntryResult, sid: str, why: str) -> str | None:
        me = result.entry.entry_id
        try:
            session = await self._client.lookup_session(sid)
        except LookupFailed:
            session = None
        when = created_at(session) if session is not None else None
        tags = session.get("tags") if session is not None else None
        for tag in tags if isinstance(tags, list) else ():
            if isinstance(tag, str) and tag.startswith(TAG_PREFIX):
                key = tag[len(TAG_PREFIX) :].partition(RERUN_SUFFIX)[0]
                owner = self._entries.get(key)
                if owner == me and (when is None or when >= self._started - CLOCK_SKEW):
                    return None  # its own session, from an earlier attempt of this run
                if owner is not None and owner != me:
                    return f"warning: {me} was answered with the session of {owner} {why}"
        age = f"created {_age(when)} ago, " if when is not None else ""
        return (
            f"warning: {me} was answered with session {sid}, {age}before this run "
            "(Devin matches idempotent requests on the prompt): it is followed as this entry's"
        )


def _age(when: datetime) -> str:
    seconds = max(0.0, (datetime.now(UTC) - when).total_seconds())
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if unit == 'day' and n > 1 else ''}"
    return f"{int(seconds)} s"
