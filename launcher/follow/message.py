"""`message`: the same follow-up to each selected session, at most once per entry and
text. The intent is recorded before the send; a send whose outcome was never recorded is
looked for in the session's messages before it is sent again."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from launcher.api.outcomes import ApiError, FollowAPI
from launcher.api.retry import RetryPolicy, call
from launcher.errors import AuthError, UsageError
from launcher.follow.ports import Ledger
from launcher.follow.targets import Target

CONCURRENCY = 8
MAX_TEXT_CHARS = 100_000
PREVIEW_CHARS = 200


def message_text(text: str | None, file: str | None) -> str:
    """The message given as TEXT or with --file F (exactly one), checked before anything."""
    if (text is None) == (file is None):
        raise UsageError("give the message as TEXT or with --file F (one of them)")
    if file is not None:
        try:
            with open(file, encoding="utf-8") as f:
                text = f.read(MAX_TEXT_CHARS + 1)
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read --file {file}: {exc}") from None
    assert text is not None
    if not text.strip():
        raise UsageError("the message is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise UsageError(f"the message is over {MAX_TEXT_CHARS} characters")
    return text


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class MessageOutcome:
    sent: list[Target] = field(default_factory=list)
    already: list[Target] = field(default_factory=list)  # sent by an earlier command
    failed: list[tuple[Target, str]] = field(default_factory=list)
    would: list[Target] = field(default_factory=list)  # --dry-run: those it would send to


def chosen(targets: Sequence[Target], status: str | None) -> list[Target]:
    """Created, not cancelled sessions; with `--status`, only those whose latest status is it."""
    return [
        t
        for t in targets
        if t.session_id and not t.cancelled and (status is None or t.status == status)
    ]


def unsent(targets: Sequence[Target], text: str) -> list[Target]:
    """The targets that have not had `text` yet, as far as the ledger knows."""
    slot = f"message:{digest(text)}"
    return [t for t in targets if (t.messages.get(slot) or (0, {}))[1].get("state") != "sent"]


def _has_message(session: Any, text: str) -> bool:
    messages = session.get("messages") if isinstance(session, dict) else None
    if not isinstance(messages, list):
        return False
    return any((m.get("message") if isinstance(m, dict) else m) == text for m in messages[:10_000])


async def send(
    api: FollowAPI,
    ledger: Ledger,
    targets: Sequence[Target],
    text: str,
    policy: RetryPolicy,
    redact: Callable[[str], str],
) -> MessageOutcome:
    outcome = MessageOutcome()
    key = digest(text)
    limiter = anyio.CapacityLimiter(CONCURRENCY)
    auth: list[str] = []
    preview = redact(text)[:PREVIEW_CHARS]  # redacted whole, then cut: no secret in halves

    async def one(target: Target) -> None:
        sid = target.session_id
        assert sid is not None
        prior = target.messages.get(f"message:{key}")
        if prior is not None and prior[1].get("state") == "sent":
            outcome.already.append(target)
            return
        async with limiter:
            try:
                if prior is not None:
                    # An earlier attempt's outcome is unknown: was it delivered?
                    session = await call(policy, api.get_session, sid)
                    if _has_message(session, text):
                        await ledger.append(
                            "message", target.subject, session_id=sid, digest=key, state="sent"
                        )
                        outcome.already.append(target)
                        return
                await ledger.append(
                    "message",
                    target.subject,
                    session_id=sid,
                    digest=key,
                    state="sending",
                    text=preview,
                )
                await api.send_message(sid, text)  # not retried: a message is not idempotent
            except ApiError as exc:
                if exc.auth:
                    auth.append(redact(str(exc)))
                error = redact(str(exc))
                await ledger.append(
                    "message",
                    target.subject,
                    session_id=sid,
                    digest=key,
                    state="failed",
                    error=error,
                )
                outcome.failed.append((target, error))
                return
        await ledger.append("message", target.subject, session_id=sid, digest=key, state="sent")
        target.woken = True
        outcome.sent.append(target)

    async with anyio.create_task_group() as tg:
        for target in targets:
            tg.start_soon(one, target)
    if auth:
        raise AuthError(f"the API rejected the credentials ({auth[0]})")
    return outcome
