"""What the sandbox remembers and decides: sessions, rate limit, fault draws, statistics.

No HTTP here: `create` turns a request's raw body and Authorization header into an
`Outcome`, and app.py only translates between that and starlette.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.problems import check_body, parse_json
from launcher.sandbox.ratelimit import TokenBucket, retry_after_seconds

SANDBOX_USER_EMAIL = "sandbox-user@example.invalid"
DROPPED = 0  # the status logged for a request whose connection was closed unanswered
EARLY_TOLERANCE = 0.05  # seconds; loopback and scheduling jitter, not impatience
TITLE_LENGTH = 80
UNAUTHORIZED = {"detail": "Invalid or missing API key (Authorization: Bearer)"}  # no key echoed


@dataclass(frozen=True)
class Outcome:
    """The answer to one POST /v1/sessions. `status == DROPPED`: close, send nothing."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def drop(self) -> bool:
        return self.status == DROPPED


@dataclass
class Session:
    session_id: str
    url: str
    title: str
    prompt: str
    tags: list[str]
    snapshot_id: str | None
    playbook_id: str | None
    created_at: datetime
    created_mono: float

    def view(self, now: float, finish_after: float, *, messages: bool = False) -> dict[str, Any]:
        """The session as GET /v1/sessions shows it; the status is worked out at read time."""
        finished = now - self.created_mono >= finish_after
        status = "finished" if finished else "working"
        updated = self.created_at + timedelta(seconds=finish_after) if finished else self.created_at
        shown: dict[str, Any] = {
            "session_id": self.session_id,
            "status": status,
            "status_enum": status,
            "title": self.title,
            "tags": list(self.tags),
            "created_at": self.created_at.isoformat(),
            "updated_at": updated.isoformat(),
            "snapshot_id": self.snapshot_id,
            "playbook_id": self.playbook_id,
            "pull_request": None,
            "structured_output": None,
            "requesting_user_email": SANDBOX_USER_EMAIL,
        }
        if messages:
            shown["messages"] = [
                {
                    "type": "initial_user_message",
                    "message": self.prompt,
                    "timestamp": self.created_at.isoformat(),
                    "username": SANDBOX_USER_EMAIL,
                }
            ]
        return shown


def body_digest(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


def canonical_json(data: Any) -> bytes:
    """One byte string per JSON value, whatever the key order or spacing it came in."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class SandboxState:
    """All of one sandbox's memory. Used from its event loop only, so it needs no locks."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        now = self._clock()
        self.started = now
        self.sessions: dict[str, Session] = {}  # in creation order
        self._idempotent: dict[str, str] = {}  # body digest → session id
        self._created_digests: set[str] = set()
        self._retry_not_before: dict[str, float] = {}  # body digest → when a retry is due
        rate = self.config.rate
        self._bucket = TokenBucket(rate, self.config.burst, now) if rate is not None else None
        self._rng = random.Random(self.config.seed)  # one stream: the same seed, same faults
        self._log: list[dict[str, Any]] = []
        self._status_counts: Counter[str] = Counter()
        self.requests = 0
        self.duplicate_bodies = 0
        self.rate_limited = 0
        self.early_retries = 0
        self.dropped = 0
        self.failed = 0
        self.unavailable = 0
        self.in_flight = 0
        self.max_in_flight = 0

    # -- requests ------------------------------------------------------------------

    @contextmanager
    def handling(self) -> Iterator[None]:
        """Counts a POST as in flight from its arrival until its answer is ready."""
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1

    def authorized(self, authorization: str | None) -> bool:
        if self.config.api_key is None:
            return True
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(token.strip().encode(), self.config.api_key.encode())

    def create(self, raw: bytes, authorization: str | None, base_url: str) -> Outcome:
        """Decide the answer to POST /v1/sessions and record everything the stats show.

        The order of checks is auth, rate limit, body, faults: a wrong key costs no
        token, and a refused or invalid request never draws from the fault stream.
        """
        now = self._clock()
        self.requests += 1
        data, bad_json = parse_json(raw)
        digest = body_digest(raw if bad_json else canonical_json(data))
        due = self._retry_not_before.get(digest)
        if due is not None and now < due - EARLY_TOLERANCE:
            self.early_retries += 1

        session: Session | None = None
        if not self.authorized(authorization):
            outcome = Outcome(401, dict(UNAUTHORIZED))
        elif self._bucket is not None and (wait := self._bucket.take(now)) is not None:
            seconds = retry_after_seconds(wait, self.config.retry_after)
            # The client counts from when it reads the 429, which the latency delays.
            due = now + self.config.latency_ms / 1000 + seconds
            self._retry_not_before[digest] = max(due, self._retry_not_before.get(digest, 0.0))
            self.rate_limited += 1
            outcome = Outcome(429, {"detail": "Rate limit exceeded"}, {"Retry-After": str(seconds)})
        elif problems := ([bad_json] if bad_json else check_body(data)):
            outcome = Outcome(422, {"detail": problems})
        else:
            outcome, session = self._create_or_fault(data, digest, base_url)
            if outcome.status == 503:  # a 503's Retry-After binds the client like a 429's
                due = now + self.config.latency_ms / 1000 + float(outcome.headers["Retry-After"])
                self._retry_not_before[digest] = max(due, self._retry_not_before.get(digest, 0.0))

        self._record(now, outcome, digest, data, session)
        return outcome

    def _create_or_fault(
        self, data: dict[str, Any], digest: str, base_url: str
    ) -> tuple[Outcome, Session | None]:
        draw = self._rng.random()
        cfg = self.config
        if draw < cfg.fail_rate:
            self.failed += 1
            return Outcome(500, {"detail": "Internal Server Error (sandbox fault injection)"}), None
        # After the 500 and drop ranges, so adding 503s leaves seeded sequences as they were.
        if 0 <= draw - cfg.fail_rate - cfg.drop_rate < cfg.unavailable_rate:
            self.unavailable += 1
            seconds = str(retry_after_seconds(0.0, cfg.retry_after) or 1)
            detail = {"detail": "Service Unavailable (sandbox fault injection)"}
            return Outcome(503, detail, {"Retry-After": seconds}), None
        session, is_new = self._create(data, digest, base_url)
        if draw < self.config.fail_rate + self.config.drop_rate:
            self.dropped += 1
            return Outcome(DROPPED), session
        body: dict[str, Any] = {"session_id": session.session_id, "url": session.url}
        if data.get("idempotent") is True:
            body["is_new_session"] = is_new
        return Outcome(200, body), session

    def _create(self, data: dict[str, Any], digest: str, base_url: str) -> tuple[Session, bool]:
        idempotent = data.get("idempotent") is True
        # Devin matches idempotent requests on the prompt; equal bodies is our stand-in,
        # stricter, so a twin found here would be found by Devin too.
        if idempotent and digest in self._idempotent:
            return self.sessions[self._idempotent[digest]], False
        if not idempotent and digest in self._created_digests:
            self.duplicate_bodies += 1
        session_id = f"devin-{uuid.uuid4().hex}"
        prompt: str = data["prompt"]
        session = Session(
            session_id=session_id,
            url=f"{base_url}/sessions/{session_id}",
            title=data.get("title") or (prompt.strip().splitlines() or [""])[0][:TITLE_LENGTH],
            prompt=prompt,
            tags=list(data.get("tags") or []),
            snapshot_id=data.get("snapshot_id"),
            playbook_id=data.get("playbook_id"),
            created_at=datetime.now(timezone.utc),
            created_mono=self._clock(),
        )
        self.sessions[session_id] = session
        self._created_digests.add(digest)
        if idempotent:
            self._idempotent[digest] = session_id
        return session, True

    def _record(
        self, now: float, outcome: Outcome, digest: str, data: Any, session: Session | None
    ) -> None:
        if not outcome.drop:  # a dropped request got no status; it counts under `dropped`
            self._status_counts[str(outcome.status)] += 1
        fields = data if isinstance(data, dict) else {}
        tags = fields.get("tags")
        self._log.append(
            {
                "t": round(now - self.started, 6),
                "status": outcome.status,
                "body_sha": digest,
                "idempotent": fields.get("idempotent") is True,
                "tags": [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
                "session_id": session.session_id if session else None,
            }
        )

    # -- reads ---------------------------------------------------------------------

    def list_sessions(self, limit: int, offset: int, tags: Sequence[str]) -> list[dict[str, Any]]:
        """Newest first; a session matches when it carries every tag asked for."""
        wanted = set(tags)
        now = self._clock()
        matching = [s for s in reversed(self.sessions.values()) if wanted <= set(s.tags)]
        return [s.view(now, self.config.finish_after) for s in matching[offset : offset + limit]]

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        session = self.sessions.get(session_id)
        if session is None:
            return None
        return session.view(self._clock(), self.config.finish_after, messages=True)

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "sessions": len(self.sessions),
            "duplicate_bodies": self.duplicate_bodies,
            "status_counts": dict(sorted(self._status_counts.items())),
            "rate_limited": self.rate_limited,
            "max_in_flight": self.max_in_flight,
            "in_flight": self.in_flight,
            "early_retries": self.early_retries,
            "dropped": self.dropped,
            "unavailable": self.unavailable,
            "failed": self.failed,
        }

    def requests_log(self) -> list[dict[str, Any]]:
        return [dict(entry) for entry in self._log]
