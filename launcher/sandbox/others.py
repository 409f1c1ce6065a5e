"""Other teams' sessions: a busy organisation's listing, for the duplicate check's tests.

Sessions the launcher did not create, already finished, each with a tag of its own: some
there before the sandbox started (one a minute back in time) and some created right after
each of ours, as a busy organisation would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from launcher.sandbox.book import SessionBook
from launcher.sandbox.life import FINISHED, Directives, Life
from launcher.sandbox.session import Session

OTHER_TAG = "other-team"


def add_others(book: SessionBook, count: int, now: float, *, spread: bool) -> None:
    """Add `count` finished sessions of other teams; `spread`: created one a minute apart
    up to now (older first), else all just now."""
    wall = datetime.now(UTC)
    for i in range(count):
        n = len(book) + 1
        session_id = f"devin-other-{n:06d}"
        created = wall - timedelta(minutes=count - i) if spread else wall
        life = Life(book.rules, Directives.from_tags(()), f"other:{n}", now)
        life.settle(now, FINISHED)
        session = Session(
            session_id=session_id,
            url=f"https://example.invalid/sessions/{session_id}",
            title=f"Another team's task {n}",
            prompt=f"Another team's task {n}",
            tags=[OTHER_TAG, f"{OTHER_TAG}-{n}"],
            snapshot_id=None,
            playbook_id=None,
            created_at=created,
            life=life,
            outputs=None,
            pr_number=n,
        )
        book.add(session, now)
        book.others += 1
