"""The session's own words (`launcher log`, `results --messages`): each selected session's
conversation read through the API, as values, bounded in count and size and redacted
before anything shows them.

v1 returns a session's messages with the session (`GET /v1/sessions/{id}`), oldest
first. v3 lists them on a route of their own, oldest first, in cursor pages
(`messages_page`): the session is read for its status, then the pages, at most
MAX_PAGES of them, keeping the latest MAX_MESSAGES.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio

from launcher.api.outcomes import ApiError, FollowAPI
from launcher.api.retry import RetryPolicy, call
from launcher.errors import AuthError
from launcher.follow.targets import Target

MAX_MESSAGES = 1_000  # per session: the latest ones are kept
MAX_MESSAGE_CHARS = 20_000  # per message, once redacted: a pasted log must not flood a terminal
CONCURRENCY = 8
# v3: pages read per session at most (200 messages each); a longer conversation shows its
# first MAX_PAGES pages' latest messages and says the newer ones were not read.
MAX_PAGES = 25

Speaker = Literal["user", "devin", "other"]
_SPEAKER: dict[str, Speaker] = {
    "initial_user_message": "user",
    "user_message": "user",
    "devin_message": "devin",
}


@dataclass(frozen=True)
class Subject:
    """A session to read: the entry it was made for, and its id."""

    entry: str
    name: str
    session_id: str


@dataclass(frozen=True)
class Said:
    """One message: who said it (`type` as the API wrote it), when, and its text, cut to
    MAX_MESSAGE_CHARS (`cut`: how many characters were left out)."""

    speaker: Speaker
    type: str
    timestamp: str
    text: str
    cut: int = 0


@dataclass
class Conversation:
    subject: Subject
    status: str | None = None
    messages: list[Said] = field(default_factory=list)
    skipped: int = 0  # older messages left out (over MAX_MESSAGES)
    error: str | None = None  # why it could not be read
    newer_unread: bool = False  # v3: more pages than MAX_PAGES, the newest not read

    @property
    def last_from_devin(self) -> Said | None:
        return next((m for m in reversed(self.messages) if m.speaker == "devin"), None)


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def conversation_of(session: Any, redact: Callable[[str], str]) -> tuple[list[Said], int, str]:
    """The messages of a GET /v1/sessions/{id} answer, redacted and bounded, how many
    older ones were left out, and the session's status."""
    if not isinstance(session, dict):
        return [], 0, ""
    raw = session.get("messages")
    raw = raw if isinstance(raw, list) else []
    skipped = max(0, len(raw) - MAX_MESSAGES)
    said: list[Said] = []
    for item in raw[skipped:]:
        if not isinstance(item, dict):
            continue
        kind = _text(item.get("type"), 64) or "message"
        # Redact the whole text before cutting it, so no secret is split across the cut.
        message = item.get("message")
        text = redact(message if isinstance(message, str) else "")
        cut = max(0, len(text) - MAX_MESSAGE_CHARS)
        said.append(
            Said(
                _SPEAKER.get(kind, "other"),
                kind,
                _text(item.get("timestamp"), 64),
                text[:MAX_MESSAGE_CHARS],
                cut,
            )
        )
    return said, skipped, _text(session.get("status_enum") or session.get("status"), 64)


async def read_conversations(
    api: FollowAPI,
    subjects: Sequence[Subject],
    redact: Callable[[str], str],
    policy: RetryPolicy | None = None,
) -> list[Conversation]:
    """Each subject's conversation, in the subjects' order; a session that cannot be read
    has its `error` set (credentials rejected stops everything: AuthError)."""
    policy = policy or RetryPolicy()
    out = [Conversation(s) for s in subjects]
    limiter = anyio.CapacityLimiter(CONCURRENCY)
    auth: list[str] = []

    async def one(conv: Conversation) -> None:
        async with limiter:
            try:
                session = await call(policy, api.get_session, conv.subject.session_id)
                if session is not None and getattr(api, "pages_messages", False):
                    session = await _with_pages(api, policy, conv, session)
            except ApiError as exc:
                conv.error = redact(str(exc))
                if exc.auth:
                    auth.append(conv.error)
                return
        if session is None:
            conv.error = "the API does not know this session"
            return
        conv.messages, skipped, conv.status = conversation_of(session, redact)
        conv.skipped += skipped

    async with anyio.create_task_group() as tg:
        for conv in out:
            tg.start_soon(one, conv)
    if auth:
        raise AuthError(f"the API rejected the credentials ({auth[0]})")
    return out


async def _with_pages(api: Any, policy: RetryPolicy, conv: Conversation, session: Any) -> Any:
    """`session` with the messages read from the v3 pages: the latest MAX_MESSAGES of at
    most MAX_PAGES pages (`conv.skipped` counts the older ones left out)."""
    kept: deque[Any] = deque(maxlen=MAX_MESSAGES)
    seen, cursor = 0, None
    for page in range(MAX_PAGES):
        items, cursor = await call(
            policy, api.messages_page, conv.subject.session_id, cursor, page == 0
        )
        seen += len(items)
        kept.extend(items)
        if cursor is None:
            break
    conv.newer_unread = cursor is not None
    conv.skipped = seen - len(kept)
    return {**session, "messages": list(kept)} if isinstance(session, dict) else session


def subjects_of_targets(targets: Sequence[Target]) -> tuple[list[Subject], int]:
    """The manifest entries' sessions, in manifest order, and how many entries have none."""
    subjects = [
        Subject(t.entry.entry_id, t.entry.name, t.session_id) for t in targets if t.session_id
    ]
    return subjects, len(targets) - len(subjects)
