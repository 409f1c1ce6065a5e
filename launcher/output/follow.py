"""What follow-through shows: `watch`'s live line on a terminal (one plain line per change
otherwise) and its summary, picked once by name (text, json); what `cancel` and `message`
did. Rendering only; decides nothing."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from launcher.follow.results import record_of
from launcher.follow.slots import SlotSnapshot
from launcher.follow.targets import Target, state_counts
from launcher.output.json_report import envelope
from launcher.text import printable

SHOWN = ("working", "blocked", "finished", "expired")
REDRAW_EVERY = 0.5


class WatchReporter:
    """Text: the live line on a terminal, else a plain line per change; then the summary."""

    command = "watch"  # what the JSON envelope names: `run` for run --wait

    def __init__(
        self,
        out: IO[str],
        err: IO[str],
        redact: Callable[[str], str],
        live: bool | None = None,
    ) -> None:
        self.out = out
        self.err = err
        self.redact = redact
        tty = self.err.isatty() and os.environ.get("TERM") != "dumb"
        self.live = tty if live is None else live
        self.started = time.monotonic()
        self._shown = False
        self._drawn = 0.0

    def _safe(self, text: str, limit: int = 500) -> str:
        return printable(self.redact(text), limit)

    def log(self, message: str) -> None:
        self._clear()
        print(f"launcher: {self._safe(message, 2000)}", file=self.err, flush=True)

    def start(self, active: int, settled: int, not_created: int) -> None:
        parts = [f"watching {active} session{'s' * (active != 1)}"]
        if settled:
            parts.append(f"{settled} already settled")
        if not_created:
            parts.append(f"{not_created} never created")
        self.log(", ".join(parts))

    def change(self, target: Target) -> None:
        if self.live:
            return
        pr = f"  PR {self._safe(target.pull_request_url)}" if target.pull_request_url else ""
        bad = "  output does not conform" if target.output_valid is False else ""
        status = self._safe(target.status or "?", 40)
        print(
            f"{status:<9} {target.entry.entry_id}  {target.url or ''}{pr}{bad}{_changed(target)}",
            file=self.out,
            flush=True,
        )

    def tick(self, targets: Sequence[Target], force: bool = False) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if not force and now - self._drawn < REDRAW_EVERY:
            return
        self._drawn = now
        counts = state_counts([t for t in targets if t.session_id])
        parts = [f"{counts.get(s, 0)} {s}" for s in SHOWN]
        other = sum(n for s, n in counts.items() if s not in SHOWN)
        if other:
            parts.append(f"{other} other")
        line = f"launcher: {' · '.join(parts)} · {now - self.started:.0f}s"
        self.err.write("\r\x1b[2K" + line[:200])
        self.err.flush()
        self._shown = True

    def _clear(self) -> None:
        if self._shown:
            self.err.write("\r\x1b[2K")
            self.err.flush()
            self._shown = False

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
        self._clear()
        for t in targets:
            v = t.verdict(blocked_ok, timed_out)
            if not v.ended_well:
                reason = self._safe(v.reason or "", 300)
                print(
                    f"not well  {t.entry.entry_id}  {reason}  {t.url or ''}{_changed(t)}",
                    file=self.out,
                )
        well = sum(t.verdict(blocked_ok, timed_out).ended_well for t in targets)
        counts = state_counts(targets)  # each entry once, in one state
        shown = ", ".join(f"{n} {self._safe(s, 40)}" for s, n in sorted(counts.items()))
        print(
            f"{well} of {len(targets)} ended well ({shown})"
            + ("; --timeout passed" if timed_out else ""),
            file=self.out,
            flush=True,
        )
        if polls is not None:  # a scheduled run polls as slots need, and does not count
            self.log(f"{polls} poll{'s' * (polls != 1)}, {requests} API requests")


class JsonWatchReporter(WatchReporter):
    """JSON: nothing on stdout until one document with every entry and its verdict, in the
    envelope every command's JSON has (`command`, `ok`, `exit_code`, `error` on failure).
    ASCII only, as the other JSON documents: no byte from the server acts on a terminal."""

    def change(self, target: Target) -> None:
        pass

    def summary(
        self,
        targets: Sequence[Target],
        blocked_ok: bool,
        timed_out: bool,
        polls: int | None,
        requests: int | None,
        exit_code: int | None = None,
    ) -> None:
        self._clear()
        verdicts = [t.verdict(blocked_ok, timed_out) for t in targets]
        well = sum(v.ended_well for v in verdicts)
        code = (0 if well == len(targets) else 1) if exit_code is None else exit_code
        doc: dict[str, Any] = {
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
        self.out.write(envelope(self.command, code, doc))
        self.out.flush()


WATCH_REPORTER_BY_NAME: dict[str, type[WatchReporter]] = {
    "text": WatchReporter,
    "json": JsonWatchReporter,
}


def slots_line(snapshot: SlotSnapshot, max_active: int | None) -> str:
    """The summary's line about capacity, after `run --wait` or `--max-active`."""
    if snapshot.limit is not None:
        limit = f"concurrent-session limit {snapshot.limit} (learned from the API)"
    else:
        limit = "concurrent-session limit not met"
    cap = f", --max-active {max_active}" if max_active is not None else ""
    refused = snapshot.capacity_429s
    return (
        f"{limit}{cap}: at most {snapshot.most_working} of this run's sessions worked at "
        f"once; {refused} create{'s' * (refused != 1)} refused at the limit (no attempt spent)"
    )


def _changed(target: Target) -> str:
    return "  (changed since sent)" if target.changed else ""
