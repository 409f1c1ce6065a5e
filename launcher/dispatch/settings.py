"""How a run dispatches: one frozen dataclass that checks itself, and the argparse `type=`
converters that turn `launcher run` flags into its fields (as `sandbox/config.py` does)."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from launcher.api.address import DEFAULT_BASE_URL, check_base_url
from launcher.errors import UsageError


@dataclass(frozen=True)
class RunSettings:
    base_url: str = DEFAULT_BASE_URL  # for messages: the connection (`launcher.api`) checks it
    api_key_env: str = "DEVIN_API_KEY"
    concurrency: int = 8
    rate: float | None = None  # requests/s cap; None: adapt to the server
    max_attempts: int = 8
    max_wait: float = 300.0
    timeout: float = 30.0
    reconcile_delay: float = 2.0  # a created session may take a moment to be listed
    drain_timeout: float = 30.0  # after a signal, how long requests in flight may finish
    breaker_span: float = 10.0  # seconds of mostly failing attempts that open the breaker
    breaker_threshold: float = 0.8
    # The API honours `idempotent: true` (v1); v3 has no such field, and the client leaves
    # it out: an uncertain create is then looked up by its tag, never blindly resent.
    idempotency: bool = True

    def __post_init__(self) -> None:
        # The flags' converters already refuse these; this keeps every other caller honest.
        if self.concurrency < 1 or self.max_attempts < 1:
            raise ValueError("concurrency and max_attempts must be at least 1")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be > 0 (or None to adapt)")
        for name in ("max_wait", "timeout", "drain_timeout", "breaker_span"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.reconcile_delay < 0:
            raise ValueError("reconcile_delay must be >= 0")
        if not 0 < self.breaker_threshold <= 1:
            raise ValueError("breaker_threshold must be in (0, 1]")


def parse_rate(text: str) -> float:
    """`10` or `10/s` → 10.0 per second; `120/m` → 2.0 per second."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*([smh]))?\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise UsageError(
            f"--rate {text!r} is not a rate; write requests per second (10), "
            "per second explicitly (10/s) or per minute (120/m)"
        )
    per = {"s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2) or "s"]
    return float(m.group(1)) / per


# --- argparse `type=` converters: a bad flag is a usage error naming the flag ------------


def base_url_flag(text: str) -> str:
    """--base-url checked as it is parsed; the connection reads it again (generation)."""
    try:
        check_base_url(text, "--base-url")
        return text
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {value:g}")
    return value


def non_negative_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {value:g}")
    return value


def rate(text: str) -> float:
    try:
        return parse_rate(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def settings_from_args(
    args: argparse.Namespace, base_url: str, generation: str = "v1"
) -> RunSettings:
    """The settings of `launcher run` (`base_url`, `generation`: the connection's); every
    flag was checked by its converter."""
    return RunSettings(
        base_url=base_url,
        idempotency=generation != "v3",
        api_key_env=args.api_key_env,
        concurrency=args.concurrency,
        rate=args.rate,
        max_attempts=args.max_attempts,
        max_wait=args.max_wait,
        timeout=args.timeout,
        reconcile_delay=args.reconcile_delay,
    )
