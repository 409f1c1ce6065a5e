"""`ledger compact` killed for real (SIGKILL) at seeded moments over a big ledger: the file
is always either the old ledger or the new one, readable, with every key's state."""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from launcher.ledger.read import read_state
from launcher.ledger.state import KeyRecord
from tests.support.runkit import launcher_cmd

ENTRIES = 1200
ROUNDS = 25  # failed attempts per entry before its last event: 61,200 lines in all


def big_ledger(path: Path) -> None:
    lines = []
    for n in range(ENTRIES):
        head = f'"entry":"m.yaml#t-{n}","name":"t-{n}","key":"{n:032x}","content":"{n:032x}"'
        for r in range(ROUNDS):
            ts = f"2026-{1 + r // 28:02d}-{1 + r % 28:02d}T02:00:{n % 60:02d}.000Z"
            run = f'"run_id":"night-{r}"'
            lines.append(f'{{"v":1,"ts":"{ts}","event":"sending",{head},{run},"attempt":1}}')
            lines.append(
                f'{{"v":1,"ts":"{ts}","event":"failed",{head},{run},"error":"HTTP 503",'
                f'"status":503,"retry_at":"{ts}"}}'
            )
        last = ["created", "failed", "sending", "in_doubt"][n % 4]
        extra = {"created": f',"session_id":"devin-{n}","url":"u"', "sending": ""}
        lines.append(
            f'{{"v":1,"ts":"2026-12-01T02:00:00.000Z","event":"{last}",{head},'
            f'"run_id":"night-x"{extra.get(last, "")}}}'
        )
    path.write_text("\n".join(lines) + "\n")


def fold(path: Path) -> list[KeyRecord]:
    return sorted((replace(r, attempts=0) for r in read_state(path).records()), key=str)


def start_compact(ledger: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        launcher_cmd("ledger", "compact", str(ledger)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_sigkill_at_seeded_moments_leaves_the_old_or_the_new_ledger(tmp_path: Path) -> None:
    original = tmp_path / "original.jsonl"
    big_ledger(original)
    want = fold(original)
    assert len(read_state(original).records()) == ENTRIES

    reference = tmp_path / "reference.jsonl"  # one compact to the end, timed
    shutil.copy(original, reference)
    started = time.monotonic()
    done = start_compact(reference)
    assert done.wait(timeout=120) == 0
    duration = time.monotonic() - started
    assert fold(reference) == want
    old, new = original.read_bytes(), reference.read_bytes()
    assert len(new.splitlines()) == ENTRIES

    ledger = tmp_path / "ledger.jsonl"
    rng = random.Random(13)
    seen = []
    tmp = tmp_path / ".ledger.jsonl.compact.tmp"
    # Most of the run is reading under the lock; the moments are drawn towards its end,
    # where the new file is written, synced and renamed.
    delays = [0.0, *sorted(rng.uniform(duration * 0.4, duration * 1.1) for _ in range(9))]
    for delay in delays:
        shutil.copy(original, ledger)
        proc = start_compact(ledger)
        time.sleep(delay)
        proc.kill()
        proc.wait(timeout=30)
        now = ledger.read_bytes()
        assert now in (old, new), f"a mix after a kill at {delay:.2f}s"
        state = "old" if now == old else "new"
        seen.append(state + " (mid-write)" * (tmp.exists() and proc.returncode == -9))
        assert fold(ledger) == want, "readable and complete"
    assert seen[0] == "old"
    # A compact after a killed one finds its leftover temporary file and finishes.
    again = start_compact(ledger)
    assert again.wait(timeout=120) == 0
    assert ledger.read_bytes() == new
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ledger.jsonl",
        "original.jsonl",
        "reference.jsonl",
    ]  # no temporary file left, and no lock file beside a ledger
    print("kill outcomes:", seen)
