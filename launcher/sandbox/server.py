"""Serving the sandbox with uvicorn: `launcher sandbox` in the foreground, and
`running_sandbox`, the same server in a background thread on a free port.
"""

from __future__ import annotations

import argparse
import copy
import logging
import shlex
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn

from launcher.errors import ExitCode, UsageError
from launcher.sandbox.app import create_app
from launcher.sandbox.config import DEFAULT_API_KEY, SandboxConfig, from_args
from launcher.sandbox.drop import DroppingH11Protocol
from launcher.sandbox.handle import SandboxHandle

LISTENING = "sandbox listening on"  # start of the line subprocess callers wait for
STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
# Requests still running at shutdown (a slow latency, a client gone quiet) are given
# this long, so that leaving a test never hangs on them.
GRACEFUL_SHUTDOWN = 2  # uvicorn wants whole seconds


class _Server(uvicorn.Server):
    """uvicorn's server, calling back once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()


def bind(host: str, port: int) -> socket.socket:
    """A bound socket; uvicorn listens on it. Binding here turns 'address in use' into
    a usage error (exit 2) and gives the real port at once when `port` is 0."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_config(config: SandboxConfig, *, embedded: bool) -> uvicorn.Config:
    made = uvicorn.Config(
        create_app(config),
        http=DroppingH11Protocol,  # see drop.py: the app can close a connection unanswered
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=config.access_log,
        # Embedded in the launcher or a test, the host process owns logging config.
        log_config=None if embedded else _logging_config(),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
    )
    if config.access_log:  # its lines are INFO: "warning" above would hide them
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    return made


def _logging_config() -> dict[str, Any]:
    """uvicorn's logging, with the access log on stderr (stdout holds the `export` lines)."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    return config


def _auth_note(config: SandboxConfig) -> str:
    # The key's value is never printed, not even the default one.
    if config.api_key is None:
        return "any bearer token accepted"
    if config.api_key == DEFAULT_API_KEY:
        return "the default --api-key, see --help"
    return "set via --api-key"


# What to set when the sandbox takes any bearer token: a value that is obviously no key.
ANY_TOKEN = "sandbox-any-token"


def export_lines(url: str, api_key: str | None) -> str:
    """The two `export` lines that point the launcher at a sandbox on `url`. The key is
    written out only when it is public (the default, or any token); a key chosen with
    --api-key is the user's to type, and is never printed."""
    if api_key is None:
        key = ANY_TOKEN
    elif api_key == DEFAULT_API_KEY:
        key = DEFAULT_API_KEY
    else:
        key = "'<the value given to --api-key>'"
    return f"export DEVIN_BASE_URL={shlex.quote(url)}\nexport DEVIN_API_KEY={key}"


def serve_command(args: argparse.Namespace, note: Callable[[str], None] | None = None) -> int:
    """`launcher sandbox`: serve in the foreground until Ctrl-C or SIGTERM (exit 130).
    `note` prints a notice on stderr (the launcher's reporter: -q leaves them out)."""
    note = note or (lambda text: print(text, file=sys.stderr, flush=True))
    try:
        config = from_args(args)
    except ValueError as exc:  # settings that are fine one by one but not together
        raise UsageError(f"launcher sandbox: {exc}") from None
    if config.api_key is None and not config.loopback:
        print(
            f"launcher sandbox: WARNING: --no-auth on --host {config.host}: anyone who can "
            "reach this address may create, read, steer and reset its sessions",
            file=sys.stderr,
            flush=True,
        )
    sock = bind(config.host, config.port)
    url = url_of(sock)

    def announce() -> None:
        note(f"{LISTENING} {url} (api key: {_auth_note(config)})")
        sys.stderr.flush()
        print("# point the launcher at this sandbox (in another shell):", flush=True)
        print(export_lines(url, config.api_key), flush=True)

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler it
    # found; this one turns that into the same clean exit as Ctrl-C.
    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        _Server(uvicorn_config(config, embedded=False), announce).run(sockets=[sock])
    except KeyboardInterrupt:
        note("sandbox stopped")
        return int(ExitCode.INTERRUPTED)
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    return int(ExitCode.OK)


@contextmanager
def running_sandbox(config: SandboxConfig | None = None) -> Iterator[SandboxHandle]:
    """The sandbox served by uvicorn in a background thread with its own event loop.

    Pass `SandboxConfig(port=0)` for a free port; the handle's `base_url` has the real
    one. The server is stopped when the block exits.
    """
    config = config if config is not None else SandboxConfig(port=0)
    sock = bind(config.host, config.port)
    started = threading.Event()
    server = _Server(uvicorn_config(config, embedded=True), started.set)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit included: uvicorn exits on startup errors
            failure.append(exc)
        finally:
            started.set()  # never leave the caller waiting on a dead thread

    thread = threading.Thread(target=serve, name=f"sandbox-{url_of(sock)}", daemon=True)
    thread.start()
    handle: SandboxHandle | None = None
    try:
        if not started.wait(STARTUP_TIMEOUT) or failure or not server.started:
            raise RuntimeError(f"the sandbox did not start: {failure[0] if failure else 'timeout'}")
        handle = SandboxHandle(url_of(sock), config.api_key)
        yield handle
    finally:
        if handle is not None:
            handle.close()
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        sock.close()
