"""The sandbox's settings: one frozen dataclass, and the CLI flags that fill it (both ways)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_API_KEY = "sandbox-key"
DEFAULT_FINISH_AFTER = 60.0


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
    unavailable_rate: float = 0.0  # probability of a 503 with Retry-After, without creating
    latency_ms: float = 0.0  # delay before each answer
    finish_after: float = DEFAULT_FINISH_AFTER  # seconds a session stays `working`
    seed: int | None = None  # makes the fault draws reproducible
    access_log: bool = False  # uvicorn's access log (paths only; off to keep output quiet)

    def __post_init__(self) -> None:
        # Caught here rather than as a ZeroDivisionError deep inside a request.
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be > 0 (or None for no limit)")
        if self.burst < 1:
            raise ValueError("burst must be >= 1")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        for name in ("fail_rate", "drop_rate", "unavailable_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.fail_rate + self.drop_rate + self.unavailable_rate > 1.0:
            raise ValueError("fail_rate + drop_rate + unavailable_rate must be at most 1")
        if self.latency_ms < 0 or self.finish_after < 0:
            raise ValueError("latency_ms and finish_after must be >= 0")


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a number > 0")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a number >= 0")
    return value


def _port(text: str) -> int:
    # socket.bind would quietly take 70000 modulo 65536.
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port (0-65535)")
    return value


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not an integer >= 1")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default: %(default)s)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help="0 picks a free port")
    auth = p.add_mutually_exclusive_group()
    auth.add_argument(
        "--api-key",
        default=DEFAULT_API_KEY,
        metavar="K",
        help="bearer token the sandbox accepts (default: %(default)s)",
    )
    auth.add_argument(
        "--no-auth", action="store_true", help="accept any bearer token, or none at all"
    )
    p.add_argument(
        "--rate",
        type=_positive,
        default=None,
        metavar="R",
        help="token bucket on POST /v1/sessions: requests per second (default: unlimited)",
    )
    p.add_argument(
        "--burst", type=_at_least_one, default=1, metavar="B", help="token bucket capacity"
    )
    p.add_argument(
        "--retry-after",
        type=_non_negative,
        default=None,
        metavar="S",
        help="fixed Retry-After on 429 (default: when a token is next free)",
    )
    p.add_argument("--fail-rate", type=_probability, default=0.0, metavar="P", help="share of 500s")
    p.add_argument(
        "--drop-rate",
        type=_probability,
        default=0.0,
        metavar="P",
        help="share of creations whose response is dropped (connection closed)",
    )
    p.add_argument(
        "--unavailable-rate",
        type=_probability,
        default=0.0,
        metavar="P",
        help="share of 503s (with Retry-After, nothing created)",
    )
    p.add_argument(
        "--latency-ms", type=_non_negative, default=0.0, metavar="MS", help="delay per answer"
    )
    p.add_argument(
        "--finish-after",
        type=_non_negative,
        default=DEFAULT_FINISH_AFTER,
        metavar="S",
        help="seconds before a session turns from working to finished",
    )
    p.add_argument("--seed", type=int, default=None, metavar="N", help="reproducible faults")
    p.add_argument("--access-log", action="store_true", help="log each request's path")


def from_args(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        host=args.host,
        port=args.port,
        api_key=None if getattr(args, "no_auth", False) else args.api_key,
        rate=args.rate,
        burst=args.burst,
        retry_after=args.retry_after,
        fail_rate=args.fail_rate,
        drop_rate=args.drop_rate,
        unavailable_rate=args.unavailable_rate,
        latency_ms=args.latency_ms,
        finish_after=args.finish_after,
        seed=args.seed,
        access_log=getattr(args, "access_log", False),
    )


def to_args(config: SandboxConfig) -> list[str]:
    """The `launcher sandbox` flags that rebuild `config` (the inverse of `from_args`).

    Always `--flag=value`: a value starting with "-" (a key, a negative seed) would
    otherwise be read as a flag.
    """
    values: dict[str, object] = {
        "host": config.host,
        "port": config.port,
        "api-key": config.api_key,
        "rate": config.rate,
        "burst": config.burst,
        "retry-after": config.retry_after,
        "fail-rate": config.fail_rate,
        "drop-rate": config.drop_rate,
        "unavailable-rate": config.unavailable_rate,
        "latency-ms": config.latency_ms,
        "finish-after": config.finish_after,
        "seed": config.seed,
    }
    argv = [f"--{name}={value}" for name, value in values.items() if value is not None]
    if config.api_key is None:
        argv.append("--no-auth")
    if config.access_log:
        argv.append("--access-log")
    return argv
