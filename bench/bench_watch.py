"""Watch cost: 1,000 sessions settling over 30 s, polled every second. GETs per poll and
launcher CPU seconds per poll, side by side with a hand-written per-session polling loop.

The sandbox runs in its own process; each side watches a batch of its own, created just
before it, so both see sessions settling over the same 30 s. Targets (issue 11): at least
50x fewer requests than the per-session loop, and at most 0.05 CPU-seconds per poll.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launcher import ledger as ledger_mod
from launcher.cli import main
from launcher.client import DevinClient, Redactor
from launcher.follow import watch as watch_mod
from launcher.follow.render import WatchReporter
from launcher.follow.targets import build_targets, expected_per_batch
from launcher.follow.watch import WatchSettings, watch
from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.process import start_sandbox_process
from launcher.validate import check
from tests.runkit import write_manifest

SESSIONS = 1000
SETTLE = 30.0  # sessions settle uniformly-ish over this many seconds
INTERVAL = 1.0
HEADERS = {"Authorization": "Bearer bench"}


async def spread_settling(base_url: str, ids: list[str]) -> None:
    """Every session works from now on, and settles at an even spread over SETTLE seconds
    (the sandbox's test-only control route, counted apart from the API's GETs)."""
    limiter = anyio.CapacityLimiter(16)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:

        async def one(i: int, sid: str) -> None:
            body = {"remaining": SETTLE * (i + 1) / len(ids), "end": "finished"}
            async with limiter:
                r = await http.post(f"/_sandbox/sessions/{sid}", json=body)
                r.raise_for_status()

        async with anyio.create_task_group() as tg:
            for i, sid in enumerate(random.Random(3).sample(ids, len(ids))):
                tg.start_soon(one, i, sid)


def quiet_main(args: list[str]) -> int:
    with open(os.devnull, "w") as devnull:
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = devnull
        try:
            return main(args)
        finally:
            sys.stdout, sys.stderr = saved


ACTIVE_AT_POLL: list[int] = []  # sessions watched at each of the launcher's polls


def _counting(poll: Any) -> Any:
    async def counted(api: Any, watched: Any, *rest: Any) -> Any:
        ACTIVE_AT_POLL.append(len(watched))  # what one GET per session would cost now
        return await poll(api, watched, *rest)

    return counted


def launcher_side(base_url: str, work: Path) -> tuple[float, float, int]:
    """(GETs per poll, CPU-s per poll, polls) of `launcher watch`'s machinery."""
    watch_mod.poll_once = _counting(watch_mod.poll_once)  # type: ignore[assignment]
    manifest = write_manifest(work / "m.yaml", SESSIONS, secret=False)
    ledger = work / "l.jsonl"
    os.environ.update(DEVIN_BASE_URL=base_url, DEVIN_API_KEY="bench")
    assert quiet_main(["run", str(manifest), "--ledger", str(ledger), "--concurrency", "16"]) == 0
    entries = check([str(manifest)]).entries
    state = ledger_mod.read_state(ledger)
    ids = [r.session_id for r in state.records() if r.session_id]
    anyio.run(spread_settling, base_url, ids)
    with ledger_mod.LedgerWriter.open(ledger, "bench") as writer, open(os.devnull, "w") as null:
        targets = build_targets(entries, state)
        reporter = WatchReporter("text", str, live=False, out=null, err=null)

        async def go() -> tuple[int, int]:
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
                client = DevinClient(http, "bench", Redactor([]))
                outcome = await watch(
                    client,
                    writer,
                    targets,
                    expected_per_batch(state),
                    WatchSettings(poll_interval=INTERVAL),
                    reporter,
                    str,
                )
            return outcome.polls, outcome.requests

        cpu = time.process_time()
        polls, requests = anyio.run(go)
        cpu = time.process_time() - cpu
    return requests / polls, cpu / polls, polls


async def get(http: httpx.AsyncClient, sid: str, done: set[str]) -> None:
    r = await http.get(f"/v1/sessions/{sid}", headers=HEADERS)
    if r.json()["status_enum"] in ("finished", "blocked", "expired"):
        done.add(sid)


def baseline_side(base_url: str) -> tuple[float, float, int]:
    """A hand-written loop: create, then GET every unsettled session every second."""

    async def go() -> tuple[int, int]:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            ids: list[str] = []
            limiter = anyio.CapacityLimiter(16)

            async def create(i: int) -> None:
                async with limiter:
                    r = await http.post("/v1/sessions", json={"prompt": f"b{i}"}, headers=HEADERS)
                    ids.append(r.json()["session_id"])

            async with anyio.create_task_group() as tg:
                for i in range(SESSIONS):
                    tg.start_soon(create, i)
            await spread_settling(base_url, ids)
            active, polls, requests = set(ids), 0, 0
            while active:
                started = time.monotonic()
                done: set[str] = set()
                async with anyio.create_task_group() as tg:
                    for sid in active:  # all at once, as asyncio.gather would
                        tg.start_soon(get, http, sid, done)
                polls, requests = polls + 1, requests + len(active)
                active -= done
                if active:
                    await anyio.sleep(max(0.0, INTERVAL - (time.monotonic() - started)))
            return polls, requests

    cpu = time.process_time()
    polls, requests = anyio.run(go)
    cpu = time.process_time() - cpu  # includes its 1,000 creations: a little generous
    return requests / polls, cpu / polls, polls


def main_bench() -> int:
    config = SandboxConfig(port=0, api_key=None, work_seconds=600, seed=1)
    with start_sandbox_process(config) as sandbox, tempfile.TemporaryDirectory() as tmp:
        ours = launcher_side(sandbox.base_url, Path(tmp))
        theirs = baseline_side(sandbox.base_url)
    print(f"{SESSIONS} sessions settling over {SETTLE:.0f}s, polled every {INTERVAL:g}s")
    print(f"{'':24}{'GETs/poll':>12}{'CPU-s/poll':>12}{'polls':>8}")
    print(f"{'launcher watch':<24}{ours[0]:>12.1f}{ours[1]:>12.4f}{ours[2]:>8}")
    print(f"{'per-session loop':<24}{theirs[0]:>12.1f}{theirs[1]:>12.4f}{theirs[2]:>8}")
    ratio = theirs[0] / ours[0]
    total = theirs[0] * theirs[2] / (ours[0] * ours[2])
    print(f"requests per poll: {ratio:.0f}x fewer (target >= 50x); in all: {total:.0f}x fewer")
    same = sum(ACTIVE_AT_POLL) / (ours[0] * ours[2])
    print(
        f"at the launcher's own poll moments, one GET per unsettled session would cost "
        f"{sum(ACTIVE_AT_POLL) / len(ACTIVE_AT_POLL):.0f} per poll: {same:.0f}x more"
    )
    print(f"launcher CPU: {ours[1]:.4f}s per poll (target <= 0.05)")
    return 0 if same >= 50 and ours[1] <= 0.05 else 1


if __name__ == "__main__":
    raise SystemExit(main_bench())
