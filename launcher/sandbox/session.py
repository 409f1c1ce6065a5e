"""One sandbox session: what its create request said, its life, its messages, and how
GET /v1/sessions shows it at a given instant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from launcher.sandbox.life import BLOCKED, EXPIRED, FINISHED, STOPPED, WORKING, Life
from launcher.sandbox.outputs import Outputs, partial

SANDBOX_USER_EMAIL = "sandbox-user@example.invalid"
PR_URL = "https://github.com/example/repo/pull/{}"
SETTLED_OUTPUT_SHARE = 0.5  # how much of the output an expired or stopped session got to


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
    life: Life
    outputs: Outputs | None  # None: no (usable) structured_output_schema
    pr_number: int
    messages: list[dict[str, Any]] = field(default_factory=list)  # user messages, past notes
    max_acu_limit: int | None = None
    acus_per_second: float = 0.1
    acu_capped: bool = False  # its work stopped at max_acu_limit (v3: usage_limit_exceeded)
    archived: bool = False

    def cap_acus(self) -> None:
        """Work stops where max_acu_limit is spent: the session then sleeps, as Devin's do."""
        if self.max_acu_limit is None:
            return
        life, most = self.life, self.max_acu_limit / self.acus_per_second
        if life.work_end - life.work_start > most:
            life.work_end = life.work_start + most
            life.outcome = EXPIRED
            self.acu_capped = True

    def acus(self, now: float) -> float:
        spent = self.life.worked(now) * self.acus_per_second
        if self.max_acu_limit is not None:
            spent = min(spent, float(self.max_acu_limit))
        return round(spent, 3)

    def pr_urls(self, status: str) -> list[str]:
        """Every pull request it opened: a second one for every third session."""
        if not self.life.shows_pr(status):
            return []
        extra = [PR_URL.format(self.pr_number + 100000)] if self.pr_number % 3 == 0 else []
        return [self.pr_url(), *extra]

    def when(self, mono: float) -> str:
        """A monotonic instant as the ISO time Devin would show."""
        return (self.created_at + timedelta(seconds=mono - self.life.created)).isoformat()

    def pr_url(self) -> str:
        return PR_URL.format(self.pr_number)

    def structured_output(self, status: str, now: float) -> Any:
        life = self.life
        if self.outputs is None or life.output == "none":
            return None
        final = self.outputs.valid
        if life.output == "invalid" and self.outputs.invalid is not None:
            final = self.outputs.invalid
        if status == WORKING:
            return partial(final, life.fraction(now))
        if status == FINISHED or (status == BLOCKED and life.shows_pr(status)):
            return final
        return partial(final, SETTLED_OUTPUT_SHARE)

    def devin_note(self, now: float) -> dict[str, Any] | None:
        """Devin's closing message for the latest work period, once it has settled."""
        status = self.life.status(now)
        pr = f" Pull request: {self.pr_url()}" if self.life.shows_pr(status) else ""
        text = {
            FINISHED: f"Done.{pr}",
            BLOCKED: f"I need your input to continue.{pr}",
            EXPIRED: "The session expired before the task was done.",
        }.get(status)
        if text is None or self.life.ended(now) is None:
            return None
        ended = self.life.ended(now)
        assert ended is not None
        return {
            "type": "devin_message",
            # One note per work period: the same id however often it is read.
            "event_id": self.event_id(f"devin-{self.life.wakes}"),
            "message": text,
            "timestamp": self.when(ended),
        }

    def event_id(self, suffix: str) -> str:
        """A message's `event_id`: stable, and unique within the sandbox."""
        return f"event-{self.session_id.removeprefix('devin-')}-{suffix}"

    def view(
        self, now: float, *, messages: bool = False, null_status_enum: bool = False
    ) -> dict[str, Any]:
        """The session as GET /v1/sessions (and, with `messages`, GET /v1/sessions/{id})
        shows it at `now`."""
        status = self.life.status(now)
        shown: dict[str, Any] = {
            "session_id": self.session_id,
            "status": status,
            "status_enum": None if null_status_enum else self._status_enum(status),
            "title": self.title,
            "tags": list(self.tags),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.when(self.life.updated(now)),
            "snapshot_id": self.snapshot_id,
            "playbook_id": self.playbook_id,
            "pull_request": {"url": self.pr_url()} if self.life.shows_pr(status) else None,
            "structured_output": self.structured_output(status, now),
            "requesting_user_email": SANDBOX_USER_EMAIL,
        }
        if messages:
            shown["messages"] = self.conversation(now)
        return shown

    def conversation(self, now: float) -> list[dict[str, Any]]:
        """Every message so far, oldest first, as GET /v1/sessions/{id} lists them: the
        prompt, Devin's progress messages (`sandbox:chatter=N`), the users' messages and
        Devin's closing notes. Each has an `event_id` of its own, the same at every read."""
        initial = {
            "type": "initial_user_message",
            "event_id": self.event_id("0"),
            "message": self.prompt,
            "timestamp": self.created_at.isoformat(),
            "username": SANDBOX_USER_EMAIL,
        }
        n = self.life.chatter
        chatter = [
            {"type": "devin_message", "event_id": self.event_id(f"chatter-{i}"),
             "message": f"Working on it: step {i} of {n}.", "timestamp": self.when(t)}
            for i, t in enumerate(self.life.chatter_times(now), 1)
        ]  # fmt: skip
        note = self.devin_note(now)
        later = sorted(
            [*chatter, *self.messages], key=lambda m: datetime.fromisoformat(m["timestamp"])
        )
        return [initial, *later, *([note] if note else [])]

    def _status_enum(self, status: str) -> str | None:
        # The documented wake path: a woken session works as `resumed`. The documented
        # enum has no value for a terminated session: null, and `status` says `stopped`.
        if status == STOPPED:
            return None
        return "resumed" if status == WORKING and self.life.wakes else status

    def add_message(self, text: str, now: float) -> None:
        """Record a user's message; the closing note of a settled period is kept first."""
        note = self.devin_note(now)
        if note is not None:
            self.messages.append(note)
        self.messages.append(
            {
                "type": "user_message",
                "event_id": self.event_id(f"user-{len(self.messages)}"),
                "message": text,
                "timestamp": self.when(now),
                "username": SANDBOX_USER_EMAIL,
            }
        )
