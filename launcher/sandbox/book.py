"""The sandbox's sessions: kept in creation order, looked up, listed, messaged, re-tagged,
terminated and steered, with the counts of sessions working and slots held."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.control import Control
from launcher.sandbox.life import EXPIRED, WORKING, Rules
from launcher.sandbox.occupancy import Occupancy
from launcher.sandbox.problems import problem
from launcher.sandbox.session import Session

Answer = tuple[int, Any]  # HTTP status, JSON body

NOT_FOUND: Answer = (404, {"detail": "Session not found"})


def refused(msg: str) -> Answer:
    """A 422 about the session's state, as a FastAPI `detail` list (the documented shape
    of every 422), located at the session id of the path."""
    return 422, {"detail": [problem(["path", "session_id"], msg)]}


def rules_of(config: SandboxConfig) -> Rules:
    return Rules(
        work_seconds=config.work_seconds,
        work_spread=config.work_spread,
        blocked_share=config.blocked_share,
        expired_share=config.expired_share,
        invalid_output_share=config.invalid_output_share,
    )


class SessionBook:
    """Every session of one sandbox. Used from its event loop only, so it needs no locks."""

    def __init__(self, config: SandboxConfig, started: float) -> None:
        self.config = config
        self.rules = rules_of(config)
        self.started = started
        self.sessions: dict[str, Session] = {}  # in creation order
        self.working = Occupancy()
        self.slots = Occupancy()
        self.terminated = 0
        self.others = 0  # other teams' sessions (sandbox/others.py)

    def __len__(self) -> int:
        return len(self.sessions)

    def add(self, session: Session, now: float) -> None:
        self.sessions[session.session_id] = session
        self._sync(session, now)

    def at_capacity(self, now: float) -> bool:
        limit = self.config.concurrent_limit
        return limit is not None and self.slots.count(now) >= limit

    def _sync(self, session: Session, now: float) -> None:
        """Bring the occupancy counts in line with the session's (changed) life."""
        life, sid = session.life, session.session_id
        if life.status(now) == WORKING:
            self.working.hold(sid, life.work_end, now)
        else:
            self.working.release(sid)
        self.slots.hold(sid, life.slot_until(self.config.settled_holds_slot), now)

    # -- reads ---------------------------------------------------------------------

    def view(self, session: Session, now: float, *, messages: bool = False) -> dict[str, Any]:
        null = self.config.null_status_enum
        return session.view(now, messages=messages, null_status_enum=null)

    def page(
        self, limit: int, offset: int, tags: Sequence[str], now: float
    ) -> list[dict[str, Any]]:
        """Newest first; a session matches when it carries every tag asked for."""
        rows: list[dict[str, Any]] = []
        wanted = set() if self.config.list_ignores_tags else set(tags)
        skip = offset
        for session in reversed(self.sessions.values()):
            if wanted and not wanted.issubset(session.tags):
                continue
            if skip:
                skip -= 1
                continue
            rows.append(self.view(session, now))
            if len(rows) >= limit:
                break
        return rows

    def get(self, session_id: str, now: float) -> dict[str, Any] | None:
        session = self.sessions.get(session_id)
        return None if session is None else self.view(session, now, messages=True)

    # -- changes -------------------------------------------------------------------

    def terminate(self, session_id: str, now: float) -> Answer:
        session = self.sessions.get(session_id)
        if session is None:
            return NOT_FOUND
        if session.life.exited(now, self.config.settled_holds_slot):
            status = session.life.status(now)
            return refused(f"Session has already exited (status: {status})")
        session.life.terminate(now)
        self.terminated += 1
        self._sync(session, now)
        return 200, {"detail": "Session terminated successfully"}

    def message(self, session_id: str, text: str, now: float) -> Answer:
        session = self.sessions.get(session_id)
        if session is None:
            return NOT_FOUND
        life = session.life
        status = life.status(now)
        if life.terminated_at is not None or status == EXPIRED:
            shown = "terminated" if life.terminated_at is not None else status
            return refused(f"Session cannot receive messages (status: {shown})")
        session.add_message(text, now)
        if status == WORKING:
            return 200, None
        life.wake(self.rules, now)
        self._sync(session, now)
        return 200, {"detail": f"Session was {status}; it is working again"}

    def resume(self, session_id: str, text: str, now: float) -> Answer:
        """v3: a message wakes a sleeping (v1: expired) session too, unless its
        max_acu_limit is spent."""
        session = self.sessions.get(session_id)
        if session is None:
            return NOT_FOUND
        life = session.life
        if life.status(now) != EXPIRED or life.terminated_at is not None or session.acu_capped:
            return self.message(session_id, text, now)
        session.add_message(text, now)
        life.wake(self.rules, now)
        self._sync(session, now)
        return 200, {"detail": "Session was suspended; it is resuming"}

    def retag(self, session_id: str, tags: list[str], now: float) -> Answer:
        session = self.sessions.get(session_id)
        if session is None:
            return NOT_FOUND
        session.tags = list(tags)
        return 200, {"detail": "Tags updated successfully"}

    def control(self, session_id: str, ask: Control, now: float) -> Answer:
        """POST /_sandbox/sessions/{id}: steer one session's life (tests only)."""
        session = self.sessions.get(session_id)
        if session is None:
            return NOT_FOUND
        life = session.life
        if life.terminated_at is not None:
            return refused("Session is terminated; nothing about it can change")
        if ask.output is not None:
            life.output = ask.output
        if ask.pr is not None:
            life.pr = ask.pr
        if ask.end is not None:
            life.outcome = ask.end
        if ask.status is not None and ask.status != WORKING:
            life.settle(now, ask.status)
        elif ask.status == WORKING or ask.remaining is not None:
            seconds = ask.remaining if ask.remaining is not None else self.rules.work_seconds
            # A settled session woken this way settles as `end` said, else as it was drawn.
            life.work_for(now, seconds, life.outcome)
        life.changed = now
        self._sync(session, now)
        return 200, self.view(session, now, messages=True)

    # -- statistics ----------------------------------------------------------------

    def counts(self, now: float) -> dict[str, Any]:
        return {
            "working": self.working.count(now),
            "max_working": self.working.peak,
            "slots_held": self.slots.count(now),
            "max_slots_held": self.slots.peak,
            "terminated": self.terminated,
            "other_sessions": self.others,
        }

    def lives(self, now: float) -> list[dict[str, Any]]:
        """Each session's timeline in seconds since the sandbox started (creation order):
        enough to compute slot utilisation. `ended`/`released` are null while ongoing."""
        holds = self.config.settled_holds_slot
        rows = []
        for session in self.sessions.values():
            life = session.life
            ended = life.ended(now)
            released = life.slot_until(holds)
            rows.append(
                {
                    "session_id": session.session_id,
                    "status": life.status(now),
                    "started": round(life.created - self.started, 6),
                    "ended": None if ended is None else round(ended - self.started, 6),
                    "released": round(released - self.started, 6) if released <= now else None,
                    "worked": round(life.worked(now), 6),
                }
            )
        return rows
