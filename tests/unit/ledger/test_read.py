"""Reading a ledger: a line nested deeper than any the launcher writes is damage at its
line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.errors import LedgerError
from launcher.ledger.read import read_state

GOOD = (
    b'{"v":1,"ts":"2026-01-01T00:00:00.000Z","event":"created","entry":"m.yaml#a",'
    b'"name":"a","key":"k1","run_id":"r","content":"c","session_id":"devin-1"}\n'
)


@pytest.mark.parametrize("depth", [600, 5_000, 100_000])
def test_a_deeply_nested_line_is_damage_at_its_line(tmp_path: Path, depth: int) -> None:
    ledger = tmp_path / "l.jsonl"
    deep = b'{"v":1,"x":' + b"[" * depth + b"]" * depth + b"}\n"
    ledger.write_bytes(GOOD + deep + GOOD)
    with pytest.raises(LedgerError, match="damaged at line 2: nested deeper than 64 levels"):
        read_state(ledger)


@pytest.mark.parametrize("sid", [".", ".."])
def test_a_session_id_without_letter_or_digit_is_damage(tmp_path: Path, sid: str) -> None:
    ledger = tmp_path / "l.jsonl"
    ledger.write_bytes(GOOD + GOOD.replace(b'"devin-1"', f'"{sid}"'.encode()))
    with pytest.raises(LedgerError, match="damaged at line 2: field 'session_id' has no letter"):
        read_state(ledger)
