"""Which API a ledger's sessions live in, and the refusal to act on them through another:
one check for `run`, `rerun` and the follow-up commands, made under the ledger's lock."""

from __future__ import annotations

import os

from launcher.api.target import ApiTarget, record_label
from launcher.errors import LedgerError
from launcher.ledger.state import LedgerState
from launcher.ledger.writer import LedgerWriter

DEFAULT_LEDGER = "launcher-ledger.jsonl"
SANDBOX_LEDGER = "launcher-sandbox-ledger.jsonl"  # `run --sandbox` never writes real sessions


def run_ledger(configured: str, sandbox: bool, *, given: bool) -> str:
    """The ledger a run writes: the configured one, except that a --sandbox run keeps its
    own unless `--ledger` itself names another (a project file's ledger is the real one)."""
    return SANDBOX_LEDGER if sandbox and not given else configured


def _fix(held: ApiTarget | None, target: ApiTarget) -> str:
    if target.sandbox:
        return (
            f"a --sandbox run keeps its own ledger ({SANDBOX_LEDGER}): leave out --ledger, "
            "or pass a new file"
        )
    if held is not None and held.sandbox:
        return (
            "those were a rehearsal's; give these sessions a ledger of their own "
            f"(--ledger {DEFAULT_LEDGER} or a new file)"
        )
    return "pass --ledger with that API's own ledger (or a new file), or --base-url for its API"


def check_place(
    state: LedgerState, target: ApiTarget, ledger: str | os.PathLike[str], command: str
) -> str | None:
    """Raise LedgerError (exit 2) when the ledger holds sessions of another API than
    `target`. Returns a note to show once when the ledger was written by an earlier
    launcher that recorded no API: its sessions are taken to live in `target`."""
    mine = target.as_record()
    for record in state.live_apis():
        if record != mine:
            held = ApiTarget.from_record(record)
            raise LedgerError(
                f"ledger {ledger} holds sessions of {record_label(record)}, but this {command} "
                f"talks to {target.label}; {_fix(held, target)}"
            )
    if state.unmarked and not state.apis:
        return (
            f"ledger {ledger} was written by an earlier launcher, which did not record where "
            f"its sessions live: they are taken to live in {target.label} from now on"
        )
    return None


def claim(writer: LedgerWriter, target: ApiTarget, command: str) -> str | None:
    """`check_place` on the ledger `writer` holds; from then on each line it writes names
    `target`. The note of `check_place`, if any, is returned to be shown once."""
    note = check_place(writer.state, target, writer.path, command)
    writer.api = target.as_record()
    return note
