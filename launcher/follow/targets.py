"""The watched entries: each selected manifest entry joined with what the ledger says of
its session (created or not, latest status, cancelled, messages), and updated by polls."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from launcher.entry import Entry, canonical_json
from launcher.follow.outputcheck import check_output
from launcher.follow.status import (
    SETTLED,
    Observation,
    Verdict,
    pr_url_of,
    redact_json,
    verdict,
)
from launcher.ledger.events import Subject
from launcher.ledger.state import EntryState, KeyRecord, LedgerState

_NOT_CREATED = {
    EntryState.FAILED: "failed to create",
    EntryState.IN_DOUBT: "creation in doubt",
    EntryState.PENDING: "creation interrupted; `launcher run` again resolves it",
}


@dataclass
class Target:
    """One entry and the last known state of its session."""

    entry: Entry
    record: KeyRecord | None = None  # the ledger's record of the session followed
    changed: bool = False  # the manifest entry changed since that session was sent
    session_id: str | None = None
    url: str | None = None
    batch: str | None = None
    rank: int | None = None  # its place in its batch's newest-first listing (0: newest)
    create_error: str | None = None  # why there is no session
    status: str | None = None
    structured_output: Any = None
    pull_request_url: str | None = None
    pull_requests: list[str] = field(default_factory=list)
    acus_consumed: float | None = None  # where the API reports it (v3)
    output_valid: bool | None = None
    output_errors: list[dict[str, str]] = field(default_factory=list)
    cancelled: bool = False
    woken: bool = False  # a message was sent after the latest status: watch it again
    problem: str | None = None  # why the last poll could not use its answer, if it could not
    messages: dict[str, tuple[int, Mapping[str, Any]]] = field(default_factory=dict)
    # The last observation as the server sent it: a poll showing the same again changes
    # nothing, and is dismissed without redacting, validating or re-encoding its output.
    _last_seen: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> str:
        """The dispatch key its session was sent under (the entry's own, unless changed)."""
        return self.record.key if self.record is not None else self.entry.key

    @property
    def subject(self) -> Subject:
        """What its ledger lines are about: the record of the session it follows."""
        return self.record if self.record is not None else self.entry

    @property
    def state(self) -> str:
        """The one state the entry is counted in, everywhere: `cancelled`, its session's
        latest status (`unseen` before the first poll), or `not created`."""
        if self.session_id is None:
            return "not created"
        if self.cancelled:
            return "cancelled"
        return self.status or "unseen"

    @property
    def schema(self) -> Any:
        return self.entry.request.get("structured_output_schema")

    @property
    def active(self) -> bool:
        """Still to be polled by `watch`."""
        if self.session_id is None or self.cancelled:
            return False
        return self.woken or self.status not in SETTLED

    def verdict(self, blocked_ok: bool, timed_out: bool = False) -> Verdict:
        return verdict(
            self.status,
            created=self.session_id is not None,
            not_created_reason=self.create_error or "not created",
            cancelled=self.cancelled,
            has_schema=isinstance(self.schema, dict),
            output_valid=self.output_valid,
            output_errors=self.output_errors,
            blocked_ok=blocked_ok,
            timed_out=timed_out,
        )

    def observe(self, seen: Observation, redact: Callable[[str], str]) -> dict[str, Any] | None:
        """Take a poll's observation; the `status` event's fields if anything changed."""
        raw = (
            seen.status,
            seen.output_text,
            seen.pull_requests,
            seen.output_dropped,
            seen.acus,
        )
        if raw == self._last_seen and not self.woken:
            return None
        self._last_seen = raw
        valid: bool | None = None
        errors: list[dict[str, str]] = []
        if seen.status in ("finished", "blocked") and isinstance(self.schema, dict):
            # Checked as the session wrote it; only what is kept and shown is redacted.
            valid, errors = check_output(self.schema, seen.structured_output, seen.output_dropped)
            errors = [{k: redact(v) for k, v in e.items()} for e in errors]
        output = redact_json(seen.structured_output, redact)
        pr_url = redact(seen.pull_request_url) if seen.pull_request_url else None
        prs = [redact(url) for url in seen.pull_requests]
        new = (seen.status, canonical_json(output), prs, seen.acus)
        old = (
            self.status,
            canonical_json(self.structured_output),
            self.pull_requests,
            self.acus_consumed,
        )
        if new == old and valid == self.output_valid and not self.woken:
            return None
        self.status, self.structured_output, self.pull_request_url = seen.status, output, pr_url
        self.pull_requests, self.acus_consumed = prs, seen.acus
        self.output_valid, self.output_errors, self.woken = valid, errors, False
        fields: dict[str, Any] = {
            "session_id": seen.session_id,
            "status_enum": seen.status,
            "pull_request_url": pr_url,
            "output_valid": valid,
            "output_errors": errors,
        }
        if output is not None:
            fields["structured_output"] = output
        if len(prs) > 1:
            fields["pull_requests"] = prs
        if seen.acus is not None:
            fields["acus_consumed"] = seen.acus
        return fields


def build_targets(entries: Sequence[Entry], state: LedgerState) -> list[Target]:
    """A Target per entry, in manifest order, from the ledger as folded."""
    ranks = newest_first_ranks(state)
    return [target_of(entry, state.get(entry.key), state, ranks) for entry in entries]


def target_of(
    entry: Entry, record: KeyRecord | None, state: LedgerState, ranks: Mapping[str, int]
) -> Target:
    """The Target of `entry` following the session `record` holds (if it holds one)."""
    target = Target(entry, record, changed=record is not None and record.key != entry.key)
    if record is None:
        target.create_error = "never sent; `launcher run` sends it"
    elif not record.state.has_session:
        why = _NOT_CREATED[record.state]
        if record.at_capacity:
            why = "waiting for a slot (the organisation was at its concurrent-session limit)"
        if record.void:
            why = "never created (the API address was wrong)"
        target.create_error = f"{why}: {record.error}" if record.error else why
    else:
        target.session_id, target.url, target.batch = (
            record.session_id,
            record.url,
            record.batch,
        )
        target.rank = ranks.get(record.key)
        _apply_follow(target, state.follow(record.key))
    return target


def _apply_follow(target: Target, follow: dict[str, tuple[int, Mapping[str, Any]]]) -> None:
    status_at = -1
    if "status" in follow:
        status_at, ev = follow["status"]
        target.status = ev.get("status_enum") or "unknown"
        target.structured_output = ev.get("structured_output")
        target.pull_request_url = pr_url_of(ev.get("pull_request_url"))  # an older ledger's
        prs = ev.get("pull_requests")
        target.pull_requests = (
            [u for p in prs if (u := pr_url_of(p))]
            if isinstance(prs, list)
            else ([target.pull_request_url] if target.pull_request_url else [])
        )
        acus = ev.get("acus_consumed")
        target.acus_consumed = acus if isinstance(acus, int | float) else None
        target.output_valid = ev.get("output_valid")
        target.output_errors = [e for e in ev.get("output_errors", []) if isinstance(e, dict)]
    if "cancelled" in follow:
        target.cancelled = True
    target.messages = {k: v for k, v in follow.items() if k.startswith("message:")}
    target.woken = any(
        i > status_at and ev.get("state") == "sent" for i, ev in target.messages.values()
    )


def newest_first_ranks(state: LedgerState) -> dict[str, int]:
    """key -> its session's place in its batch's newest-first listing (Devin lists newest
    first), estimated from the ledger's order of first attempts."""
    by_batch: dict[str, list[str]] = {}
    for r in state.records():  # in the order each key was first sent
        if r.outcome == "created" and r.batch:
            by_batch.setdefault(r.batch, []).append(r.key)
    return {k: len(keys) - 1 - i for keys in by_batch.values() for i, k in enumerate(keys)}


def expected_per_batch(state: LedgerState) -> Counter[str]:
    """How many created sessions the ledger records under each batch tag."""
    return Counter(r.batch for r in state.records() if r.outcome == "created" and r.batch)


def state_counts(targets: Sequence[Target]) -> Counter[str]:
    """How many entries are in each state: every entry counted once."""
    return Counter(t.state for t in targets)
