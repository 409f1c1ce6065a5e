"""The sandbox's settings: one frozen dataclass, and the CLI flags that fill it."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_API_KEY = "sandbox-key"


@dataclass(frozen=True)
class SandboxConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT  # 0 = any free port
    api_key: str | None = DEFAULT_API_KEY  # None = accept any bearer token
    rate: float | None = None  # token bucket refill, requests per second; None = no limit
    burst: int = 1  # token bucket capacity
    retry_after: float | None = None  # fixed Retry-After seconds; None = truthful estimate
    fail_rate: float = 0.0  # probability of a 500 without creating
    drop_rate: float = 0.0  # probability of creating, then closing without answering
    latency_ms: float = 0.0  # delay before each answer
    finish_after: float = 60.0  # seconds a session stays `working` before `finished`
    seed: int | None = None  # makes the fault draws reproducible


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=DEFAULT_HOST)
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    p.add_argument(
        "--api-key",
        default=DEFAULT_API_KEY,
        metavar="K",
        help="bearer token the sandbox accepts (default: %(default)s)",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="R",
        help="token bucket: requests per second (default: unlimited)",
    )
    p.add_argument("--burst", type=int, default=1, metavar="B")
    p.add_argument(
        "--retry-after",
        type=float,
        default=None,
        metavar="S",
        help="fixed Retry-After on 429 (default: when a token is next free)",
    )
    p.add_argument("--fail-rate", type=_probability, default=0.0, metavar="P")
    p.add_argument("--drop-rate", type=_probability, default=0.0, metavar="P")
    p.add_argument("--latency-ms", type=float, default=0.0, metavar="MS")
    p.add_argument("--finish-after", type=float, default=60.0, metavar="S")
    p.add_argument("--seed", type=int, default=None, metavar="N")


def from_args(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        rate=args.rate,
        burst=args.burst,
        retry_after=args.retry_after,
        fail_rate=args.fail_rate,
        drop_rate=args.drop_rate,
        latency_ms=args.latency_ms,
        finish_after=args.finish_after,
        seed=args.seed,
    )
