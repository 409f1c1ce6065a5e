"""The sandbox's settings: one frozen dataclass, and the CLI flags that fill it (both ways)."""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_API_KEY = "sandbox-key"
DEFAULT_WORK_SECONDS = 5.0
LIST_SHAPES = ("object", "bare")
IDEMPOTENT_MATCHES = ("prompt", "body")


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
    work_seconds: float = DEFAULT_WORK_SECONDS  # how long a session stays `working`
    work_spread: float = 0.0  # ± seconds, drawn per session (seeded)
    # ACUs a working session consumes per second (v3 shows it): a tenth, so that a session
    # of the default 5 s stays inside the small max_acu_limit of the example manifests.
    acus_per_second: float = 0.1
    blocked_share: float = 0.0  # share of sessions that settle `blocked`
    expired_share: float = 0.0  # share that settle `expired`; the rest `finished`
    invalid_output_share: float = 0.0  # share of outputs that break their schema
    concurrent_limit: int | None = None  # sessions holding a slot at once; None = no limit
    settled_holds_slot: bool = False  # finished/blocked sessions hold a slot until DELETE
    list_shape: str = "object"  # GET /v1/sessions: {"sessions": [...]} or a bare list
    null_status_enum: bool = False  # answer status_enum: null (clients fall back to status)
    idempotent_match: str = "prompt"  # what makes idempotent requests one: prompt or body
    list_ignores_tags: bool = False  # GET /v1/sessions lists every session, whatever `tags`
    other_sessions: int = 0  # other teams' sessions there from the start
    others_per_create: int = 0  # other teams' sessions created right after each of ours
    seed: int | None = None  # makes the fault draws reproducible
    access_log: bool = False  # uvicorn's access log (paths only; off to keep output quiet)

    @property
    def loopback(self) -> bool:
        """Whether only this machine can reach the address the sandbox binds."""
        if self.host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False  # a name: it may resolve to anything

    @property
    def allowed_hosts(self) -> list[str]:
        """The Host headers the sandbox answers (a page in a browser that rebinds its own
        name to 127.0.0.1 sends its own name, and is refused)."""
        if self.loopback:
            return sorted({"127.0.0.1", "localhost", "::1", self.host.strip("[]")})
        if self.host in ("0.0.0.0", "::", ""):  # every interface: any of their names
            return ["*"]
        return [self.host.strip("[]")]

    def __post_init__(self) -> None:
        # Caught here rather than as a ZeroDivisionError deep inside a request.
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if self.api_key == DEFAULT_API_KEY and not self.loopback:
            # The default key is in the docs: on an address others reach, anyone could
            # reset or steer the sandbox (and read every prompt sent to it).
            raise ValueError(
                f"--host {self.host} is reachable from other machines, and the default "
                "--api-key is public; pass --api-key with a key of your own"
            )
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
        if not 0 < self.acus_per_second < float("inf"):
            raise ValueError("acus_per_second must be a positive number")
        if self.latency_ms < 0 or self.work_seconds < 0 or self.work_spread < 0:
            raise ValueError("latency_ms, work_seconds and work_spread must be >= 0")
        for name in ("blocked_share", "expired_share", "invalid_output_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.blocked_share + self.expired_share > 1.0:
            raise ValueError("blocked_share + expired_share must be at most 1")
        if self.concurrent_limit is not None and self.concurrent_limit < 1:
            raise ValueError("concurrent_limit must be >= 1 (or None for no limit)")
        if self.other_sessions < 0 or self.others_per_create < 0:
            raise ValueError("other_sessions and others_per_create must be >= 0")
        if self.idempotent_match not in IDEMPOTENT_MATCHES:
            raise ValueError(f"idempotent_match must be one of {', '.join(IDEMPOTENT_MATCHES)}")
        if self.list_shape not in LIST_SHAPES:
            raise ValueError(f"list_shape must be one of {', '.join(LIST_SHAPES)}")


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


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not an integer >= 0")
    return value


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not an integer >= 1")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The `launcher sandbox` flags; every help line ends with the flag's default."""
    p.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default: %(default)s)")
    p.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help="port; 0 picks a free one (default: %(default)s)",
    )
    auth = p.add_mutually_exclusive_group()
    auth.add_argument(
        "--api-key",
        default=DEFAULT_API_KEY,
        metavar="K",
        help="bearer token the sandbox accepts (default: %(default)s)",
    )
    auth.add_argument(
        "--no-auth", action="store_true", help="accept any bearer token, or none (default: off)"
    )
    _add_faults(p)
    _add_life(p)
    _add_capacity(p)
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="makes faults and session lives reproducible (default: random)",
    )
    p.add_argument(
        "--access-log", action="store_true", help="log each request's path (default: off)"
    )


def _add_faults(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rate",
        type=_positive,
        default=None,
        metavar="R",
        help="token bucket on POST /v1/sessions: requests per second (default: unlimited)",
    )
    p.add_argument(
        "--burst",
        type=_at_least_one,
        default=1,
        metavar="B",
        help="token bucket capacity (default: %(default)s)",
    )
    p.add_argument(
        "--retry-after",
        type=_non_negative,
        default=None,
        metavar="S",
        help="fixed Retry-After on 429 (default: when a token is next free)",
    )
    for flag, what in (
        ("--fail-rate", "share of valid creations answered 500, nothing created"),
        ("--drop-rate", "share of creations whose response is dropped (connection closed)"),
        ("--unavailable-rate", "share of 503s (with Retry-After, nothing created)"),
    ):
        p.add_argument(
            flag,
            type=_probability,
            default=0.0,
            metavar="P",
            help=what + " (default: %(default)s)",
        )
    p.add_argument(
        "--latency-ms",
        type=_non_negative,
        default=0.0,
        metavar="MS",
        help="delay before each answer (default: %(default)s)",
    )


def _add_life(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--work-seconds",
        type=_non_negative,
        default=DEFAULT_WORK_SECONDS,
        metavar="S",
        help="seconds a session works before it settles (default: %(default)s)",
    )
    p.add_argument(
        "--work-spread",
        type=_non_negative,
        default=0.0,
        metavar="S",
        help="each session works --work-seconds ± up to S, seeded (default: %(default)s)",
    )
    p.add_argument(
        "--acus-per-second",
        type=_positive,
        default=0.1,
        metavar="N",
        help="ACUs a working session consumes a second, up to its max_acu_limit, where it "
        "stops (the API v3 shows acus_consumed; default: %(default)s)",
    )
    for flag, what in (
        ("--blocked-share", "share of sessions that settle blocked"),
        ("--expired-share", "share of sessions that settle expired (the rest finish)"),
        ("--invalid-output-share", "share of structured outputs that break their schema"),
    ):
        p.add_argument(
            flag,
            type=_probability,
            default=0.0,
            metavar="P",
            help=what + " (default: %(default)s)",
        )


def _add_capacity(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--concurrent-limit",
        type=_at_least_one,
        default=None,
        metavar="N",
        help="answer Devin's capacity 429 to a create beyond N sessions working "
        "(default: no limit)",
    )
    p.add_argument(
        "--settled-holds-slot",
        action="store_true",
        help="finished and blocked sessions hold their slot until DELETE (default: off)",
    )
    p.add_argument(
        "--list-shape",
        choices=LIST_SHAPES,
        default="object",
        help='GET /v1/sessions as {"sessions": [...]} or a bare list (default: %(default)s)',
    )
    p.add_argument(
        "--idempotent-match",
        choices=IDEMPOTENT_MATCHES,
        default="prompt",
        help="an idempotent create returns the session of an earlier one with the same "
        "prompt, as Devin is reported to, or only of the same body (default: %(default)s)",
    )
    p.add_argument(
        "--list-ignores-tags",
        action="store_true",
        help="GET /v1/sessions ignores its tags filter and lists every session (default: off)",
    )
    for flag, what in (
        ("--other-sessions", "other teams' sessions there from the start, one a minute back"),
        ("--others-per-create", "other teams' sessions created right after each of ours"),
    ):
        p.add_argument(
            flag,
            type=_count,
            default=0,
            metavar="N",
            help=what + " (default: %(default)s)",
        )
    p.add_argument(
        "--null-status-enum",
        action="store_true",
        help="answer status_enum: null, to test clients' fallback to status (default: off)",
    )


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
        work_seconds=args.work_seconds,
        work_spread=args.work_spread,
        acus_per_second=args.acus_per_second,
        blocked_share=args.blocked_share,
        expired_share=args.expired_share,
        invalid_output_share=args.invalid_output_share,
        concurrent_limit=args.concurrent_limit,
        settled_holds_slot=args.settled_holds_slot,
        list_shape=args.list_shape,
        null_status_enum=args.null_status_enum,
        idempotent_match=args.idempotent_match,
        list_ignores_tags=args.list_ignores_tags,
        other_sessions=args.other_sessions,
        others_per_create=args.others_per_create,
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
        "work-seconds": config.work_seconds,
        "work-spread": config.work_spread,
        "acus-per-second": config.acus_per_second,
        "blocked-share": config.blocked_share,
        "expired-share": config.expired_share,
        "invalid-output-share": config.invalid_output_share,
        "concurrent-limit": config.concurrent_limit,
        "list-shape": config.list_shape,
        "idempotent-match": config.idempotent_match,
        "other-sessions": config.other_sessions or None,
        "others-per-create": config.others_per_create or None,
        "seed": config.seed,
    }
    argv = [f"--{name}={value}" for name, value in values.items() if value is not None]
    if config.api_key is None:
        argv.append("--no-auth")
    for flag, on in (
        ("--access-log", config.access_log),
        ("--settled-holds-slot", config.settled_holds_slot),
        ("--null-status-enum", config.null_status_enum),
        ("--list-ignores-tags", config.list_ignores_tags),
    ):
        if on:
            argv.append(flag)
    return argv
