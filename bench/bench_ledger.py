"""Group commit in the ledger: N appends from T concurrent tasks vs N sequential appends.

Every append returns only once its line is fsync'd; concurrent appends share fsyncs.
Run: .venv/bin/python bench/bench_ledger.py [--appends 1000] [--tasks 32] [--dir PATH]
(--dir: put the ledger on the disk you care about; the default is a temporary folder).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from launcher.entry import Entry
from launcher.ledger.read import read_state
from launcher.ledger.writer import LedgerWriter

if TYPE_CHECKING:
    from _typeshed import HasFileno

FSYNCS = 0
_real_fsync = os.fsync


def _counting_fsync(fd: int | HasFileno) -> None:
    global FSYNCS
    FSYNCS += 1
    _real_fsync(fd)


def _entries(n: int) -> list[Entry]:
    return [
        Entry(
            name=f"task-{i}",
            file="bench.yaml",
            path="bench.yaml",
            line=1,
            request={"prompt": f"p{i}"},
        )
        for i in range(n)
    ]


async def _sequential(path: Path, entries: list[Entry]) -> None:
    with LedgerWriter.open(path, "bench-seq") as w:
        for e in entries:
            await w.append("sending", e, attempt=1)


async def _concurrent(path: Path, entries: list[Entry], tasks: int) -> None:
    with LedgerWriter.open(path, "bench-conc") as w:

        async def worker(mine: list[Entry]) -> None:
            for e in mine:
                await w.append("sending", e, attempt=1)

        async with anyio.create_task_group() as tg:
            for t in range(tasks):
                tg.start_soon(worker, entries[t::tasks])


def _measure(label: str, path: Path, n: int, run: Callable[[], Awaitable[None]]) -> float:
    global FSYNCS
    FSYNCS = 0
    start = time.perf_counter()
    anyio.run(run)
    elapsed = time.perf_counter() - start
    assert len(read_state(path).records()) == n
    print(
        f"{label:<24} {n} appends  {elapsed * 1000:8.1f} ms  {n / elapsed:9.0f} appends/s  "
        f"{FSYNCS:5d} fsyncs (one is the folder's, for the new file)"
    )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appends", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    os.fsync = _counting_fsync  # the ledger calls os.fsync at call time, so this counts all
    entries = _entries(args.appends)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        seq_path, conc_path = Path(tmp) / "seq.jsonl", Path(tmp) / "conc.jsonl"
        seq = _measure("sequential", seq_path, args.appends, lambda: _sequential(seq_path, entries))
        conc = _measure(
            f"concurrent ({args.tasks} tasks)",
            conc_path,
            args.appends,
            lambda: _concurrent(conc_path, entries, args.tasks),
        )
    print(f"speed-up {seq / conc:.1f}x")


if __name__ == "__main__":
    main()
