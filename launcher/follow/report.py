"""A batch report as values: one row per entry (status, PR, output, ACUs, error, when its
session was created and when it settled) and the counts, from the manifests' entries and
the ledger alone. `launcher.output.report` renders it as HTML or Markdown."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from launcher.follow.results import record_of
from launcher.follow.status import SETTLED
from launcher.follow.targets import Target
from launcher.ledger.state import LedgerState

MAX_TEXT = 4000  # characters of one output, error or title shown; the ledger keeps it all


@dataclass(frozen=True)
class ReportRow:
    """One entry as the report shows it. Every string is as recorded: the renderer
    escapes; `pr_link`/`session_link` are set only for http(s) URLs."""

    entry: str
    name: str
    title: str
    status: str
    ended_well: bool
    reason: str | None
    session_id: str | None
    session_url: str | None
    session_link: str | None
    pr_url: str | None
    pr_link: str | None
    output_valid: bool | None
    output: Any
    output_errors: list[dict[str, str]]
    acus: float | None
    error: str | None
    matrix: Mapping[str, Any]
    created_at: datetime | None
    settled_at: datetime | None

    @property
    def duration(self) -> float | None:
        """Seconds from created to settled, when both are known."""
        if self.created_at is None or self.settled_at is None:
            return None
        return max(0.0, (self.settled_at - self.created_at).total_seconds())


@dataclass(frozen=True)
class BatchReport:
    rows: list[ReportRow]
    ledgers: list[str]
    generated_at: datetime

    @property
    def counts(self) -> dict[str, int]:
        """Entries by status, most common first (ties by name)."""
        counted = Counter(r.status for r in self.rows)
        return dict(sorted(counted.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def ended_well(self) -> int:
        return sum(r.ended_well for r in self.rows)

    @property
    def acus(self) -> float | None:
        known = [r.acus for r in self.rows if r.acus is not None]
        return sum(known) if known else None

    @property
    def span(self) -> tuple[datetime, datetime] | None:
        """From the first session created to the last settled (or now, if some still work)."""
        starts = [r.created_at for r in self.rows if r.created_at is not None]
        if not starts:
            return None
        ends = [r.settled_at or self.generated_at for r in self.rows if r.created_at]
        return min(starts), max(max(ends), min(starts))


def web_link(url: str | None) -> str | None:
    """`url` when it is an absolute http(s) URL a browser may follow, else None (a
    `javascript:` or `data:` URL from a server is shown as text, never linked)."""
    if not url or len(url) > 2000 or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def parse_ts(text: Any) -> datetime | None:
    """A ledger timestamp (`2026-11-29T08:30:00.000Z`) as an aware datetime, or None."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _clip(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def _acus(event: Mapping[str, Any] | None) -> float | None:
    value = (event or {}).get("acus_consumed")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0 <= value < 1e9 else None


def row_of(target: Target, state: LedgerState) -> ReportRow:
    record = record_of(target)
    ledger = state.get(target.entry.key)
    follow = state.follow(target.entry.key)
    status_event = follow["status"][1] if "status" in follow else None
    created_at = parse_ts(ledger.ts) if ledger is not None and target.session_id else None
    settled_at = None
    if status_event is not None and target.status in SETTLED:
        settled_at = parse_ts(status_event.get("ts"))
    verdict = target.verdict(blocked_ok=False)
    title = target.entry.request.get("title")
    return ReportRow(
        entry=record["entry"],
        name=record["name"],
        title=_clip(title if isinstance(title, str) else "") or "",
        status=str(record["status"] or "unknown"),
        ended_well=verdict.ended_well,
        reason=_clip(verdict.reason),
        session_id=target.session_id,
        session_url=target.url,
        session_link=web_link(target.url),
        pr_url=target.pull_request_url,
        pr_link=web_link(target.pull_request_url),
        output_valid=target.output_valid,
        output=target.structured_output,
        output_errors=list(target.output_errors),
        acus=_acus(status_event),
        error=_clip(target.create_error),
        matrix=dict(target.entry.matrix),
        created_at=created_at,
        settled_at=settled_at,
    )


def build_report(
    targets: Sequence[Target], state: LedgerState, ledgers: Sequence[str], now: datetime
) -> BatchReport:
    return BatchReport([row_of(t, state) for t in targets], list(ledgers), now)
