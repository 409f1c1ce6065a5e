"""`--notify URL`: the end of `run --wait` or `watch` POSTed to each URL once; a failure
is a warning on stderr and never changes the exit code. Glue only: the document comes
from `launcher.output.follow`, the sending from `launcher.follow.notify`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from launcher.text import printable

if TYPE_CHECKING:
    from launcher.follow.targets import Target


def notify(
    urls: Sequence[str] | None,
    command: str,
    targets: Sequence[Target],
    outcome: tuple[bool, bool, int],
    ledger: str,
    redact: Callable[[str], str],
) -> None:
    """POST the summary of `targets` (`outcome`: blocked_ok, timed_out, exit code)."""
    if not urls:
        return
    from launcher.follow.notify import bounded, post_once
    from launcher.output.follow import notification, summary_document

    blocked_ok, timed_out, code = outcome
    doc = summary_document(targets, blocked_ok, timed_out, None, None, code)
    body = bounded(notification(command, doc, ledger), redact)
    for warning in post_once(urls, body):
        print(printable(f"launcher: warning: {warning}"), file=sys.stderr)
