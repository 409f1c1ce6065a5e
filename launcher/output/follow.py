"""What follow-through shows: `watch`'s live line on a terminal (one plain line per change
otherwise) and its summary, picked once by name (text, json); what `cancel` and `message`
did. Rendering only; decides nothing."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any

from launcher.follow.results import record_of
from launcher.follow.slots import SlotSnapshot
from launcher.follow.targets import Target, state_counts
from launcher.output.board import Board
from launcher.output.console import Console
from launcher.output.json_report import envelope
from launcher.text import printable

if TYPE_CHECKING:
    from rich.console import RenderableType

REDRAW_EVERY = 0.5
HEARTBEAT = 300.0  # seconds between heartbeat lines off a terminal (--heartbeat)


class WatchReporter:
    """Text: on a terminal, the live table; else one stamped line per change (never a
    repeat) and a heartbeat of counts; then the summary. Through the one console."""

    command = "watch"  # what the JSON envelope names: `run` for run --wait

    def __init__(
        self,
        out: IO[str],
        err: IO[str],
        redact: Callable[[str], str],
        live: bool | None = None,
        *,
        console: Console | None = None,
        board: Board | None = None,
        heartbeat: float | None = HEARTBEAT,
    ) -> None:
        self.console = console or Console(out, err, live=live)
        self.out, self.err = self.console.out, self.console.err
        self.redact = redact
        self.board = board or Board()
        self.heartbeat = heartbeat or None
        self.started = time.monotonic()
        self._beat = self.started
        self._drawn = 0.0

    @property
    def live(self) -> bool:
        return self.console.interactive

    def _safe(self, text: str, limit: int = 500) -> str:
        return printable(self.redact(text), limit)

    def log(self, message: str) -> None:
        self.console.log(self.redact(message))

    def start(self, active: int, settled: int, not_created: int) -> None:
        parts = [f"watching {active} session{'s' * (active != 1)}"]
        if settled:
            parts.append(f"{settled} already settled")
        if not_created:
            parts.append(f"{not_created} never created")
        self.log(", ".join(parts))
        self.console.show(self._view)

    def _view(self) -> RenderableType:
        width, height = self.console.size
        return self.board.render(width, height, "launcher: watch · ")

    def change(self, target: Target) -> None:
        line = self._update(target)
        if line is not None and not self.live:
            self.console.line(line + _changed(target))

    def _update(self, target: Target) -> str | None:
        return self.board.update(
            target.entry.entry_id,
            self._safe(target.status or "?", 40),
            target.url,
            self._safe(target.pull_request_url) if target.pull_request_url else None,
            target.output_valid,
            settled=not target.active,
        )

    def tick(self, targets: Sequence[Target], force: bool = False) -> None:
        now = time.monotonic()
        if self.live:
            if force or now - self._drawn >= REDRAW_EVERY:
                self._drawn = now
                for target in targets:  # sessions this watch has not seen change yet
                    if target.session_id and target.entry.entry_id not in self.board.rows:
                        self._update(target)
                self.console.show(self._view)
                self.console.refresh()
        elif self.heartbeat is not None and now - self._beat >= self.heartbeat:
            self._beat = now
            self.log(self.board.heartbeat())

    def summary(
        self,
        targets: Sequence[Target],
        blocked_ok: bool,
        timed_out: bool,
        polls: int | None,
        requests: int | None,
        exit_code: int | None = None,
    ) -> None:
        """Every entry that did not end well, with why and its session; then the counts."""
        self.console.stop()
        for t in targets:
            v = t.verdict(blocked_ok, timed_out)
            if not v.ended_well:
                reason = self._safe(v.reason or "", 300)
                self.console.line(
                    f"not well  {t.entry.entry_id}  {reason}  {t.url or ''}{_changed(t)}"
                )
        well = sum(t.verdict(blocked_ok, timed_out).ended_well for t in targets)
        counts = state_counts(targets)  # each entry once, in one state
        shown = ", ".join(f"{n} {self._safe(s, 40)}" for s, n in sorted(counts.items()))
        self.console.line(
            f"{well} of {len(targets)} ended well ({shown})"
            + ("; --wait-timeout passed" if timed_out else "")
        )
        if polls is not None:  # a scheduled run polls as slots need, and does not count
            self.log(f"{polls} poll{'s' * (polls != 1)}, {requests} API requests")


class JsonWatchReporter(WatchReporter):
    """JSON: nothing on stdout until one document with every entry and its verdict, in the
    envelope every command's JSON has (`command`, `ok`, `exit_code`, `error` on failure).
    ASCII only, as the other JSON documents: no byte from the server acts on a terminal."""

    def change(self, target: Target) -> None:
        if self.live:  # the table on stderr; stdout waits for the one document
            super().change(target)

    def summary(
        self,
        targets: Sequence[Target],
        blocked_ok: bool,
        timed_out: bool,
        polls: int | None,
        requests: int | None,
        exit_code: int | None = None,
    ) -> None:
        self.console.stop()
        doc = summary_document(targets, blocked_ok, timed_out, polls, requests, exit_code)
        code = doc.pop("exit_code")
        self.out.write(envelope(self.command, code, doc))
        self.out.flush()


def summary_document(
    targets: Sequence[Target],
    blocked_ok: bool,
    timed_out: bool,
    polls: int | None,
    requests: int | None,
    exit_code: int | None = None,
) -> dict[str, Any]:
    """The end of a watch (or `run --wait`): every entry and its verdict, the counts, and
    `error` when it did not end well (the envelope's keys are the caller's)."""
    verdicts = [t.verdict(blocked_ok, timed_out) for t in targets]
    well = sum(v.ended_well for v in verdicts)
    code = (0 if well == len(targets) else 1) if exit_code is None else exit_code
    doc: dict[str, Any] = {
        "exit_code": code,
        "ended_well": well,
        "did_not_end_well": len(targets) - well,
        "timed_out": timed_out,
        "polls": polls,
        "requests": requests,
        "entries": [
            {**record_of(t), "ended_well": v.ended_well, "reason": v.reason}
            for t, v in zip(targets, verdicts, strict=True)
        ],
    }
    if code == 130:
        doc["error"] = {"kind": "interrupted", "message": "interrupted by a signal"}
    elif code:
        message = f"{len(targets) - well} of {len(targets)} entries did not end well"
        doc["error"] = {"kind": "failed", "message": message}
    return doc


NOTIFY_LISTED = 10  # entries that did not end well named in the text


def notification(command: str, doc: dict[str, Any], ledger: str) -> dict[str, Any]:
    """The summary as a webhook receives it: the JSON summary in the envelope, and a
    `text` field for Slack and Teams incoming webhooks (one line of counts, then the first
    entries that did not end well; `&`, `<` and `>` escaped as Slack asks, so a name
    cannot make a link or a mention)."""
    statuses = Counter(str(e.get("status")) for e in doc["entries"])
    counts = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    total = doc["ended_well"] + doc["did_not_end_well"]
    timed_out = "; stopped watching at the timeout" if doc["timed_out"] else ""
    lines = [
        f"launcher {command}: {doc['ended_well']} of {total} ended well ({counts}); "
        f"exit {doc['exit_code']}{timed_out}",
        f"ledger: {ledger}",
    ]
    bad = [e for e in doc["entries"] if not e["ended_well"]]
    for e in bad[:NOTIFY_LISTED]:
        lines.append(f"- {e['entry']}: {e['reason'] or e['status']} {e['url'] or ''}".rstrip())
    if len(bad) > NOTIFY_LISTED:
        lines.append(f"- and {len(bad) - NOTIFY_LISTED} more")
    text = "\n".join(lines).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body = {k: v for k, v in doc.items() if k != "exit_code"}
    envelope_doc = json.loads(envelope(command, doc["exit_code"], body))
    return {"text": text, **envelope_doc, "ledger": ledger}


WATCH_REPORTER_BY_NAME: dict[str, type[WatchReporter]] = {
    "text": WatchReporter,
    "json": JsonWatchReporter,
}


def slots_line(snapshot: SlotSnapshot, max_active: int | None) -> str | None:
    """The summary's line about capacity, after `run --wait` or `--max-active`; None when
    there is nothing to say (no limit met, no --max-active): a quiet night stays quiet."""
    refused = snapshot.capacity_429s
    most = f"at most {snapshot.most_working} of this run's sessions worked at once"
    if snapshot.limit is None and not refused:
        return None if max_active is None else f"--max-active {max_active}: {most}"
    if snapshot.limit is not None:
        limit = f"concurrent-session limit {snapshot.limit} (learned from the API)"
    else:
        limit = "concurrent-session limit met"
    cap = f", --max-active {max_active}" if max_active is not None else ""
    return (
        f"{limit}{cap}: {most}; {refused} create{'s' * (refused != 1)} refused at the limit "
        "(no attempt spent)"
    )


def _changed(target: Target) -> str:
    return "  (changed since sent)" if target.changed else ""
