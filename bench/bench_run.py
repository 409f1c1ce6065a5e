"""Dispatch benchmarks: overhead against a bare loop, fixed-rate accuracy, resume speed.

The sandbox runs in its own process (its own core); the launcher and the baseline run
in this one, against the same server, one after the other, so their ratio is fair.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from launcher.cli import main
from launcher.manifest import check
from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.process import start_sandbox_process
from tests.support.runkit import launcher_env, run_launcher, write_manifest

ENTRIES = 600
CONCURRENCY = 16


async def bare_loop(base_url: str, bodies: list[dict[str, Any]], concurrency: int) -> None:
    """What a hand-written script does: post every body, `concurrency` at a time."""
    limiter = anyio.CapacityLimiter(concurrency)
    headers = {"Authorization": "Bearer bench"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits) as http:

        async def post(body: dict[str, Any]) -> None:
            async with limiter:
                r = await http.post("/v1/sessions", json=body, headers=headers)
                r.raise_for_status()

        async with anyio.create_task_group() as tg:
            for body in bodies:
                tg.start_soon(post, body)


def quiet_main(args: list[str]) -> int:
    with open(os.devnull, "w") as devnull:
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = devnull
        try:
            return main(args)
        finally:
            sys.stdout, sys.stderr = saved


def overhead(work: Path) -> None:
    folder = work / "overhead"
    write_manifest(folder / "m.yaml", ENTRIES, secret=False)
    os.environ.update(launcher_env())
    bodies = [
        dict(e.masked_body(), prompt=e.request["prompt"] + " (bare)")
        for e in check([str(folder)]).entries
    ]
    rows = []
    for trial in range(4):
        with start_sandbox_process(SandboxConfig(port=0, api_key=None)) as sb:

            def bare_run(base_url: str = sb.base_url) -> None:
                anyio.run(bare_loop, base_url, bodies, CONCURRENCY)

            def our_run(base_url: str = sb.base_url, n: int = trial) -> None:
                ledger = work / f"overhead-{n}.jsonl"
                code = quiet_main(
                    [
                        "run",
                        str(folder),
                        "--ledger",
                        str(ledger),
                        "--base-url",
                        base_url,
                        "--concurrency",
                        str(CONCURRENCY),
                    ]
                )
                assert code == 0, code

            # Alternate who goes first: the server holds more sessions for the second.
            order = [("bare", bare_run), ("ours", our_run)]
            times = {}
            for label, fn in order if trial % 2 == 0 else order[::-1]:
                t0 = time.perf_counter()
                fn()
                times[label] = time.perf_counter() - t0
            assert sb.stats()["sessions"] == 2 * ENTRIES
        bare, ours = times["bare"], times["ours"]
        rows.append((bare, ours))
        first = "bare" if trial % 2 == 0 else "launcher"
        print(
            f"overhead trial {trial + 1} ({first} first): bare httpx+anyio loop {bare:.2f}s "
            f"({ENTRIES / bare:.0f}/s)  launcher run {ours:.2f}s ({ENTRIES / ours:.0f}/s)  "
            f"ratio {ours / bare:.2f}",
            flush=True,
        )
    best = min(o / b for b, o in rows)
    ratios = sorted(o / b for b, o in rows)
    median = (ratios[1] + ratios[2]) / 2
    print(
        f"overhead: {ENTRIES} entries at concurrency {CONCURRENCY}: launcher/bare "
        f"median {median:.2f}, best {best:.2f} (target <= 1.5)"
    )
    return None


def fixed_rate(work: Path) -> None:
    folder = work / "fixed"
    write_manifest(folder / "m.yaml", 100, secret=False)
    with start_sandbox_process(SandboxConfig(port=0, api_key=None, rate=10, burst=2)) as sb:
        ledger = work / "fixed.jsonl"
        t0 = time.perf_counter()
        code = quiet_main(
            [
                "run",
                str(folder),
                "--ledger",
                str(ledger),
                "--base-url",
                sb.base_url,
                "--rate",
                "10",
                "--concurrency",
                "8",
            ]
        )
        took = time.perf_counter() - t0
        stats = sb.stats()
    ideal = 99 / 10  # the first starts at once, then one every 100 ms
    print(
        f"fixed rate: 100 entries, sandbox 10/s burst 2, --rate 10: {took:.2f}s vs ideal "
        f"{ideal:.1f}s ({(took / ideal - 1) * 100:+.1f}%, target within 5%), "
        f"429s {stats['rate_limited']} (target 0), exit {code}"
    )


def resume(work: Path) -> None:
    folder = work / "resume"
    write_manifest(folder / "m.yaml", ENTRIES, secret=False)
    ledger = work / "resume.jsonl"
    with start_sandbox_process(SandboxConfig(port=0, api_key=None)) as sb:
        env = launcher_env(sb.base_url)
        first = run_launcher("run", str(folder), "--ledger", str(ledger), env=env)
        assert first.returncode == 0, first.stderr
        before = sb.stats()["requests"]
        t0 = time.perf_counter()
        again = run_launcher("run", str(folder), "--ledger", str(ledger), env=env)
        took = time.perf_counter() - t0
        sent = sb.stats()["requests"] - before
        t0 = time.perf_counter()
        run_launcher("validate", str(folder), env=env)
        validate_only = time.perf_counter() - t0
    print(
        f"resume: re-running a finished {ENTRIES}-entry ledger took {took:.2f}s "
        f"(target <= 3 s; `launcher validate` alone {validate_only:.2f}s), "
        f"sent {sent} requests (target 0), exit {again.returncode}"
    )


def main_bench() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        overhead(work)
        fixed_rate(work)
        resume(work)


if __name__ == "__main__":
    main_bench()
