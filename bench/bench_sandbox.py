"""Throughput of the sandbox: POST /v1/sessions per second at concurrency 16.

The runner's benchmarks stand on this server, so its ceiling must sit well above the
rates they dispatch at. Measured with a plain httpx.AsyncClient on an anyio loop, against
the sandbox in a child process (as a real server: no shared GIL with the client) and in
a thread (as `run --sandbox` and most tests use it). The baseline is the cheapest route
the same server has (GET /_sandbox/stats), so the ratio shows what a creation costs.

On a small machine the httpx client, not the server, is the bottleneck; where /proc
exists the child's CPU time is read too, and requests per server CPU-second is printed
as the server's own ceiling.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import httpx

from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.process import start_sandbox_process
from launcher.sandbox.server import running_sandbox

REQUESTS = 2000
CONCURRENCY = 16
CONFIG = SandboxConfig(port=0, api_key="bench-key")


async def _hammer(base_url: str, method: str, path: str, n: int) -> float:
    """Requests per second for `n` requests, `CONCURRENCY` at a time."""
    headers = {"Authorization": f"Bearer {CONFIG.api_key}"}
    limits = httpx.Limits(max_connections=CONCURRENCY)
    next_index = 0
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as client:

        async def worker() -> None:
            nonlocal next_index
            while next_index < n:
                i = next_index
                next_index += 1
                body = {"prompt": f"bench task {i}", "tags": ["bench", f"i:{i}"]}
                kwargs = {"json": body} if method == "POST" else {}
                response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
                assert response.status_code == 200, response.text

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(CONCURRENCY):
                tg.start_soon(worker)
        return n / (time.perf_counter() - started)


def measure(base_url: str, method: str, path: str) -> float:
    anyio.run(_hammer, base_url, method, path, 200)  # warm up connections and caches
    return anyio.run(_hammer, base_url, method, path, REQUESTS)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, from /proc (None elsewhere)."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return None
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    with start_sandbox_process(CONFIG) as sb:
        baseline = measure(sb.base_url, "GET", "/_sandbox/stats")
        anyio.run(_hammer, sb.base_url, "POST", "/v1/sessions", 200)
        cpu_before, client_before = cpu_seconds(sb.pid), time.process_time()
        process_posts = anyio.run(_hammer, sb.base_url, "POST", "/v1/sessions", REQUESTS)
        cpu_after, client_cpu = cpu_seconds(sb.pid), time.process_time() - client_before
        assert sb.stats()["sessions"] == REQUESTS + 200
    with running_sandbox(CONFIG) as sb:
        thread_posts = measure(sb.base_url, "POST", "/v1/sessions")
    print(f"{REQUESTS} requests, concurrency {CONCURRENCY}, httpx.AsyncClient")
    print(f"  baseline GET /_sandbox/stats (child process): {baseline:8.0f} req/s")
    print(
        f"  POST /v1/sessions (child process):            {process_posts:8.0f} req/s"
        f"  ({process_posts / baseline:.2f}x baseline)"
    )
    print(
        f"  POST /v1/sessions (in-thread, shared GIL):    {thread_posts:8.0f} req/s"
        f"  ({thread_posts / baseline:.2f}x baseline)"
    )
    if cpu_before is not None and cpu_after is not None and cpu_after > cpu_before:
        server_cpu = cpu_after - cpu_before
        print(
            f"  server CPU {server_cpu:.2f}s, client CPU {client_cpu:.2f}s for {REQUESTS} POSTs:"
            f" the server alone would do ~{REQUESTS / server_cpu:.0f} req/s per core"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
