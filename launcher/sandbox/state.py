"""What the sandbox remembers and decides about requests: auth, rate limit, capacity,
fault draws, creations and statistics (the sessions themselves live in book.py).

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from launcher.sandbox.book import SessionBook
from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.life import Directives, Life
from launcher.sandbox.others import add_others
from launcher.sandbox.outputs import outputs_for
from launcher.sandbox.problems import check_body, parse_json
from launcher.sandbox.ratelimit import TokenBucket, retry_after_seconds
from launcher.sandbox.session import Session

CAPACITY_DETAIL = "You exceeded your concurrent session limit of {}"  # Devin's wording
DROPPED = 0  # the status logged for a request whose connection was closed unanswered
EARLY_TOLERANCE = 0.05  # seconds; loopback and scheduling jitter, not impatience
TITLE_LENGTH = 80
REQUEST_COUNTS = (
    "list_gets",
    "single_gets",
    "messages",
    "message_gets",
    "tag_updates",
    "deletes",
    "controls",
    "uploads",
)
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
        self.book = SessionBook(self.config, now)
        add_others(self.book, self.config.other_sessions, now, spread=True)
        self._idempotent: dict[str, str] = {}  # idempotency match (idem_key) → session id
        self._created_digests: Counter[str] = Counter()
        # Each life is drawn from (salt, body, how many such bodies came before): a seed
        # reproduces them all, whatever order concurrent requests arrive in.
        self._salt = str(self.config.seed) if self.config.seed is not None else uuid.uuid4().hex
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
        self.capacity_limited = 0
        self.counts: Counter[str] = Counter()  # list_gets, single_gets, messages, deletes…

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

        The order of checks is auth, rate limit, body, capacity, faults: a wrong key costs
        no token, and a refused or invalid request never draws from the fault stream.
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
        elif self._needs_slot(data, digest) and self.book.at_capacity(now):
            # Devin's capacity 429: no Retry-After, since it clears when sessions end.
            self.capacity_limited += 1
            limit = self.config.concurrent_limit
            outcome = Outcome(429, {"detail": CAPACITY_DETAIL.format(limit)})
        else:
            outcome, session = self._create_or_fault(data, digest, base_url)
            if outcome.status == 503:  # a 503's Retry-After binds the client like a 429's
                due = now + self.config.latency_ms / 1000 + float(outcome.headers["Retry-After"])
                self._retry_not_before[digest] = max(due, self._retry_not_before.get(digest, 0.0))

        self._record(now, outcome, digest, data, session)
        return outcome

    def _needs_slot(self, data: dict[str, Any], digest: str) -> bool:
        """An idempotent request answered with its existing session starts nothing."""
        return not (
            data.get("idempotent") is True and self._idem_key(data, digest) in self._idempotent
        )

    def _idem_key(self, data: dict[str, Any], digest: str) -> str:
        """What makes two idempotent requests one session: their prompt, as public reports
        say Devin matches (an older, even finished, session is returned), or their whole
        body (`--idempotent-match body`)."""
        if self.config.idempotent_match == "body":
            return digest
        return "prompt:" + str(data.get("prompt"))

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
        match = self._idem_key(data, digest)
        if idempotent and match in self._idempotent:
            return self.book.sessions[self._idempotent[match]], False
        if not idempotent and digest in self._created_digests:
            self.duplicate_bodies += 1
        session_id = f"devin-{uuid.uuid4().hex}"
        prompt: str = data["prompt"]
        tags = list(data.get("tags") or [])
        now = self._clock()
        seed = f"{self._salt}:{digest}:{self._created_digests[digest]}"
        life = Life(self.book.rules, Directives.from_tags(tags), seed, now)
        session = Session(
            session_id=session_id,
            url=f"{base_url}/sessions/{session_id}",
            title=data.get("title") or (prompt.strip().splitlines() or [""])[0][:TITLE_LENGTH],
            prompt=prompt,
            tags=tags,
            snapshot_id=data.get("snapshot_id"),
            playbook_id=data.get("playbook_id"),
            created_at=datetime.now(UTC),
            life=life,
            outputs=outputs_for(data.get("structured_output_schema")),
            pr_number=len(self.book) + 1,
            max_acu_limit=_acu_limit(data.get("max_acu_limit")),
            acus_per_second=self.config.acus_per_second,
        )
        session.cap_acus()
        self.book.add(session, now)
        add_others(self.book, self.config.others_per_create, now, spread=False)
        self._created_digests[digest] += 1
        if idempotent:
            self._idempotent[match] = session_id
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

    def now(self) -> float:
        return self._clock()

    def count(self, what: str) -> None:
        """One more request of a kind the stats count (list_gets, single_gets, …)."""
        self.counts[what] += 1

    def stats(self) -> dict[str, Any]:
        now = self._clock()
        return {
            "requests": self.requests,
            "sessions": len(self.book),
            "duplicate_bodies": self.duplicate_bodies,
            "status_counts": dict(sorted(self._status_counts.items())),
            "rate_limited": self.rate_limited,
            "max_in_flight": self.max_in_flight,
            "in_flight": self.in_flight,
            "early_retries": self.early_retries,
            "dropped": self.dropped,
            "unavailable": self.unavailable,
            "failed": self.failed,
            "capacity_limited": self.capacity_limited,
            **{name: self.counts[name] for name in REQUEST_COUNTS},
            **self.book.counts(now),
            "lives": self.book.lives(now),
            # every session's ACUs so far (the API v3 reports them per session)
            "acus_consumed": round(sum(s.acus(now) for s in self.book.sessions.values()), 3),
        }

    def requests_log(self) -> list[dict[str, Any]]:
        return [dict(entry) for entry in self._log]


def _acu_limit(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
