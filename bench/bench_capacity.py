"""Capacity benchmark: a batch larger than the concurrent-session limit, three ways.

60 entries whose sessions work 3-9 s (seeded, the same for every contender through the
sandbox's `sandbox:work=S` tag), a sandbox limit of 5, polls every second. Each
contender gets a fresh sandbox in its own process; the figures come from the sandbox's
own record of each session's life:

- makespan: first session start to last session end, against the ideal (total work / 5);
- utilisation: the share of the 5 slots busy over that makespan;
- refused: creates answered with the capacity 429.

Contenders: `launcher run --wait` (the slot scheduler), waves (start 5, wait for all 5,
start the next 5) and fire-and-retry (create all, retry each 429 with backoff).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.process import start_sandbox_process
from tests.support.runkit import launcher_env, run_launcher

ENTRIES = 60
LIMIT = 5
POLL = 1.0
SEED = 20261129
SETTLED = {"finished", "blocked", "expired"}
HEADERS = {"Authorization": "Bearer bench"}


def durations() -> list[float]:
    rng = random.Random(SEED)
    return [round(rng.uniform(3.0, 9.0), 2) for _ in range(ENTRIES)]


def bodies(work: list[float]) -> list[dict[str, Any]]:
    return [
        {"prompt": f"bench task {i}", "tags": ["bench", f"sandbox:work={w}"]}
        for i, w in enumerate(work)
    ]


def write_manifest(path: Path, work: list[float]) -> None:
    lines = ["version: 1", "sessions:"]
    for i, w in enumerate(work):
        lines += [
            f"  - name: task-{i:02d}",
            f"    prompt: bench task {i}",
            f'    tags: [bench, "sandbox:work={w}"]',
        ]
    path.write_text("\n".join(lines) + "\n")


# --- the two hand-written peers ---------------------------------------------------------


async def _create(http: httpx.AsyncClient, body: dict[str, Any]) -> str | None:
    """The new session's id, or None on a 429."""
    r = await http.post("/v1/sessions", json=body, headers=HEADERS)
    if r.status_code == 429:
        return None
    r.raise_for_status()
    return str(r.json()["session_id"])


async def waves(base_url: str, work: list[float]) -> None:
    """Start LIMIT, poll until every one of them has settled, start the next LIMIT."""
    all_bodies = bodies(work)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        for first in range(0, len(all_bodies), LIMIT):
            ids: list[str] = []

            async def one(body: dict[str, Any], ids: list[str] = ids) -> None:
                while True:
                    sid = await _create(http, body)
                    if sid is not None:
                        ids.append(sid)
                        return
                    await anyio.sleep(POLL)  # the slot of the last wave is not yet free

            async with anyio.create_task_group() as tg:
                for body in all_bodies[first : first + LIMIT]:
                    tg.start_soon(one, body)
            while True:
                await anyio.sleep(POLL)
                rows = await http.get("/v1/sessions", params={"tags": "bench"}, headers=HEADERS)
                status = {s["session_id"]: s["status_enum"] for s in rows.json()["sessions"]}
                if all(status.get(i) in SETTLED for i in ids):
                    break


async def fire_and_retry(base_url: str, work: list[float]) -> None:
    """Create everything at once; each 429 is retried with exponential backoff and jitter."""
    rng = random.Random(SEED)
    limits = httpx.Limits(max_connections=8)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:

        async def one(body: dict[str, Any]) -> None:
            delay = 1.0
            while True:
                sid = await _create(http, body)
                if sid is not None:
                    return
                await anyio.sleep(rng.uniform(0, delay))  # full jitter
                delay = min(delay * 2, 30.0)

        async with anyio.create_task_group() as tg:
            for body in bodies(work):
                tg.start_soon(one, body)


def launcher(base_url: str, work: list[float]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "m.yaml"
        write_manifest(manifest, work)
        done = run_launcher(
            "run",
            str(manifest),
            "--ledger",
            str(Path(tmp) / "ledger.jsonl"),
            "--wait",
            "--poll-interval",
            str(POLL),
            "--progress",
            "never",
            env=launcher_env(base_url),
            timeout=1200,
        )
        if done.returncode != 0:
            raise SystemExit(f"launcher exited {done.returncode}:\n{done.stderr[-2000:]}")


# --- measuring ----------------------------------------------------------------------------


def measure(name: str, contender: Callable[[str, list[float]], Any], work: list[float]) -> None:
    config = SandboxConfig(port=0, api_key=None, concurrent_limit=LIMIT, seed=SEED)
    with start_sandbox_process(config) as sb:
        began = time.monotonic()
        if name.startswith("launcher"):
            contender(sb.base_url, work)
        else:
            anyio.run(contender, sb.base_url, work)
        while any(life["ended"] is None for life in sb.stats()["lives"]):
            time.sleep(0.2)  # fire-and-retry returns once all are created
        wall = time.monotonic() - began
        stats = sb.stats()
    lives = stats["lives"]
    assert len(lives) == ENTRIES, f"{name}: {len(lives)} sessions"
    first = min(life["started"] for life in lives)
    last = max(life["ended"] for life in lives)
    makespan = last - first
    ideal = sum(work) / LIMIT
    busy = sum(life["worked"] for life in lives) / (LIMIT * makespan)
    print(
        f"{name:<16} makespan {makespan:6.1f}s  {makespan / ideal - 1:+6.1%} vs ideal  "
        f"slots busy {busy:5.1%}  refused {stats['capacity_limited']:4d}  "
        f"requests {stats['requests'] + stats['list_gets'] + stats['single_gets']:4d}  "
        f"(wall {wall:.1f}s)",
        flush=True,
    )


def main() -> None:
    work = durations()
    print(
        f"{ENTRIES} sessions of {min(work):.1f}-{max(work):.1f}s (seed {SEED}), limit {LIMIT}, "
        f"poll {POLL:g}s; ideal makespan {sum(work) / LIMIT:.1f}s (total work / {LIMIT})"
    )
    only = set(sys.argv[1:])
    for name, contender in (
        ("launcher --wait", launcher),
        ("waves", waves),
        ("fire-and-retry", fire_and_retry),
    ):
        if not only or name.split()[0] in only:
            measure(name, contender, work)


if __name__ == "__main__":
    main()
