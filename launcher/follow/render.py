"""What `watch` shows: a live line on a terminal, one plain line per change otherwise, and
a summary naming every entry that did not end well. Rendering only; decides nothing."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import IO

from launcher.follow.results import record_of
from launcher.follow.status import printable
from launcher.follow.targets import Target

SHOWN = ("working", "blocked", "finished", "expired")
REDRAW_EVERY = 0.5


class WatchReporter:
    def __init__(
        self,
        fmt: str,
        redact: Callable[[str], str],
        live: bool | None = None,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.fmt = fmt
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
        if self.live or self.fmt != "text":
            return
        pr = f"  PR {self._safe(target.pull_request_url)}" if target.pull_request_url else ""
        bad = "  output does not conform" if target.output_valid is False else ""
        status = self._safe(target.status or "?", 40)
        print(
            f"{status:<9} {target.entry.entry_id}  {target.url or ''}{pr}{bad}",
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
        counts = Counter(t.status or "unseen" for t in targets if t.session_id)
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
        polls: int = 0,
        requests: int = 0,
    ) -> None:
        self._clear()
        verdicts = [t.verdict(blocked_ok, timed_out) for t in targets]
        bad = [(t, v) for t, v in zip(targets, verdicts, strict=True) if not v.ended_well]
        if self.fmt == "json":
            doc = {
                "ended_well": len(targets) - len(bad),
                "did_not_end_well": len(bad),
                "timed_out": timed_out,
                "polls": polls,
                "requests": requests,
                "entries": [
                    {**record_of(t), "ended_well": v.ended_well, "reason": v.reason}
                    for t, v in zip(targets, verdicts, strict=True)
                ],
            }
            print(json.dumps(doc, indent=2, ensure_ascii=False), file=self.out)
            return
        for t, v in bad:
            reason = self._safe(v.reason or "", 300)
            print(f"not well  {t.entry.entry_id}  {reason}  {t.url or ''}", file=self.out)
        counts = Counter(t.status or "not created" for t in targets)
        if any(t.cancelled for t in targets):
            counts["cancelled"] = sum(t.cancelled for t in targets)
        shown = ", ".join(f"{n} {self._safe(s, 40)}" for s, n in sorted(counts.items()))
        print(
            f"{len(targets) - len(bad)} of {len(targets)} ended well ({shown})"
            + ("; --timeout passed" if timed_out else ""),
            file=self.out,
            flush=True,
        )
        self.log(f"{polls} poll{'s' * (polls != 1)}, {requests} API requests")
