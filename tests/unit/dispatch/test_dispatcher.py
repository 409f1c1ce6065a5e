"""Every branch of the dispatcher, against a fake API that answers with outcome values.

Fast and socket-free: the fake stands where `launcher.api.client.DevinClient` stands (the
edge that turns httpx into outcomes, tested in test_client.py), while the ledger, the
recorder and the progress are the real ones. The same paths run end to end against the
real sandbox in test_run*.py.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.api.client import Redactor
from launcher.api.outcomes import (
    Created,
    Fatal,
    Final,
    InDoubt,
    LookupFailed,
    Outcome,
    RetrySafe,
)
from launcher.dispatch.breaker import CircuitBreaker
from launcher.dispatch.dispatcher import Dispatcher
from launcher.dispatch.ending import (
    CredentialsRejected,
    Ending,
    Finished,
    Interrupted,
    OverBudget,
    TimedOut,
    Unreachable,
)
from launcher.dispatch.results import EntryResult
from launcher.dispatch.settings import RunSettings
from launcher.entry import Entry
from launcher.ledger.writer import LedgerWriter
from launcher.output.progress import RunProgress

Lookup = list[dict[str, Any]] | LookupFailed


class FakeAPI:
    """Answers POSTs from `answers` (the last one repeats) and lookups from `lookups`."""

    def __init__(self, answers: Sequence[Outcome], lookups: Sequence[Lookup] = ()) -> None:
        self.answers = list(answers)
        self.lookups = list(lookups)
        self.posts: list[Mapping[str, Any]] = []
        self.tags: list[str] = []
        self.lookup_args: list[dict[str, Any]] = []
        self.sessions: dict[str, Mapping[str, Any]] = {}  # what GET /v1/sessions/{id} knows
        self.on_post: Callable[[], None] | None = None

    async def create_session(self, body: Mapping[str, Any]) -> Outcome:
        self.posts.append(body)
        if self.on_post is not None:
            self.on_post()
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    async def lookup_session(self, session_id: str) -> Mapping[str, Any] | None:
        return self.sessions.get(session_id)

    async def find_by_tag(self, tag: str, **kwargs: Any) -> list[dict[str, Any]]:
        self.tags.append(tag)
        self.lookup_args.append(kwargs)
        answer = self.lookups.pop(0)
        if isinstance(answer, LookupFailed):
            raise answer
        return answer


def entry(name: str = "e", *, idempotent: bool = False) -> Entry:
    request = {"prompt": f"do {name}", "idempotent": idempotent}
    return Entry(name=name, file="m.yaml", path="m.yaml", line=1, request=request)


class Run:
    """One dispatcher over a real ledger in `tmp_path`, driven by a FakeAPI."""

    def __init__(self, tmp_path: Path, api: FakeAPI, **settings: Any) -> None:
        self.api = api
        self.ledger = tmp_path / "ledger.jsonl"
        self.out, self.err = io.StringIO(), io.StringIO()
        defaults: dict[str, Any] = {"reconcile_delay": 0.0, "max_wait": 0.01, "timeout": 0.5}
        self.settings = RunSettings(base_url="http://127.0.0.1", **{**defaults, **settings})
        self.dispatcher: Dispatcher | None = None

    def __call__(
        self, entries: Sequence[Entry], setup: Callable[[Dispatcher], None] | None = None
    ) -> list[EntryResult]:
        results = [EntryResult(e) for e in entries]

        async def go() -> None:
            with LedgerWriter.open(self.ledger, "run-1") as writer:
                progress = RunProgress(
                    len(results), "text", "never", Redactor([]), self.out, self.err
                )
                self.dispatcher = Dispatcher(self.settings, self.api, writer, {}, progress)
                if setup is not None:
                    setup(self.dispatcher)
                await self.dispatcher.run(results)

        anyio.run(go)
        return results

    def events(self) -> list[tuple[str, str]]:
        lines = self.ledger.read_text().splitlines()
        return [(e["event"], e["name"]) for e in map(json.loads, lines)]


def test_created_is_recorded_after_its_intent(tmp_path: Path) -> None:
    run = Run(tmp_path, FakeAPI([Created("s-1", "https://x/s-1", True)]))
    [r] = run([entry()])
    assert (r.outcome, r.session_id, r.url, r.attempts) == ("created", "s-1", "https://x/s-1", 1)
    assert run.events() == [("sending", "e"), ("created", "e")]
    assert "created  m.yaml#e  https://x/s-1" in run.out.getvalue()


def test_an_existing_session_is_adopted(tmp_path: Path) -> None:
    run = Run(tmp_path, FakeAPI([Created("s-1", "https://x/s-1", False)]))
    [r] = run([entry(idempotent=True)])
    assert r.outcome == "adopted" and r.session_id == "s-1"
    assert run.events() == [("sending", "e"), ("created", "e")]


def test_a_created_key_is_skipped_without_a_request(tmp_path: Path) -> None:
    api = FakeAPI([Created("s-1", "u", True)])
    Run(tmp_path, api)([entry()])
    run = Run(tmp_path, api)
    [r] = run([entry()])
    assert (r.outcome, r.session_id) == ("skipped", "s-1")
    assert len(api.posts) == 1


def test_retry_safe_then_created(tmp_path: Path) -> None:
    api = FakeAPI([RetrySafe("connection failed: refused"), Created("s-1", "u", True)])
    run = Run(tmp_path, api)
    [r] = run([entry()])
    assert (r.outcome, r.attempts, r.error) == ("created", 2, None)
    assert run.events() == [("sending", "e"), ("sending", "e"), ("created", "e")]
    assert len(api.posts) == 2


@pytest.mark.slow  # the throttle slows the adaptive pace for a first interval (2 s)
def test_a_retry_after_is_durable_before_the_resend(tmp_path: Path) -> None:
    # A crashed run's successor reads it back and waits it out (test_run_crash.py).
    api = FakeAPI([RetrySafe("HTTP 429: slow", 429, retry_after=0.0), Created("s-1", "u", True)])
    run = Run(tmp_path, api)
    [r] = run([entry()])
    assert r.outcome == "created"
    assert run.events() == [("sending", "e"), ("failed", "e"), ("sending", "e"), ("created", "e")]
    assert '"error":"HTTP 429: slow (will retry)"' in run.ledger.read_text()


def test_in_doubt_reconciled_found_is_never_resent(tmp_path: Path) -> None:
    found = [{"session_id": "s-9", "url": "https://x/s-9"}]
    api = FakeAPI([InDoubt("HTTP 502: bad gateway", 502)], lookups=[found])
    run = Run(tmp_path, api, timeout=0.01)
    [r] = run([entry()])
    assert (r.outcome, r.session_id, r.reconciled) == ("created", "s-9", True)
    assert len(api.posts) == 1 and api.tags == [entry().reconcile_tag]
    assert '"reconciled":true' in run.ledger.read_text()


def test_the_lookup_reads_back_to_the_first_send_and_asks_for_a_named_session(
    tmp_path: Path,
) -> None:
    found = [{"session_id": "s-9", "url": "https://x/s-9"}]
    doubt = InDoubt("HTTP 200 with a malformed answer: url is null", 200, session_id="s-9")
    api = FakeAPI([doubt], lookups=[found])
    run = Run(tmp_path, api, timeout=0.01)
    [r] = run([entry()])
    assert (r.outcome, r.session_id) == ("created", "s-9")
    [asked] = api.lookup_args
    assert asked["known"] == ["s-9"]
    first = json.loads(run.ledger.read_text().splitlines()[0])
    assert first["event"] == "sending"
    sent = datetime.fromisoformat(first["ts"].replace("Z", "+00:00"))
    # The first send (the ledger keeps milliseconds), not the time of the lookup.
    assert asked["since"] < sent + timedelta(milliseconds=1)


def test_in_doubt_reconciled_not_found_is_resent(tmp_path: Path) -> None:
    # A 500 is the server's final word: an empty lookup is trusted at once.
    api = FakeAPI([InDoubt("HTTP 500: boom", 500), Created("s-2", "u", True)], lookups=[[]])
    run = Run(tmp_path, api)
    [r] = run([entry()])
    assert (r.outcome, r.session_id, r.reconciled, r.attempts) == ("created", "s-2", False, 2)
    assert len(api.posts) == 2 and len(api.tags) == 1


def test_lookups_that_keep_failing_leave_it_in_doubt(tmp_path: Path) -> None:
    failed = LookupFailed("lookup failed: HTTP 500")
    api = FakeAPI([InDoubt("HTTP 500: boom", 500)], lookups=[failed, failed, failed])
    run = Run(tmp_path, api)
    [r] = run([entry()])
    assert r.outcome == "in_doubt" and r.error == "HTTP 500: boom; then lookup failed: HTTP 500"
    assert len(api.posts) == 1
    assert run.events()[-1] == ("in_doubt", "e")


def test_final_4xx_fails_at_once(tmp_path: Path) -> None:
    api = FakeAPI([Final("HTTP 422: prompt: field required", 422)])
    run = Run(tmp_path, api)
    [r] = run([entry()])
    assert (r.outcome, r.status, r.attempts) == ("failed", 422, 1)
    assert r.error == "HTTP 422: prompt: field required"
    assert run.events() == [("sending", "e"), ("failed", "e")]


def test_fatal_401_stops_the_run(tmp_path: Path) -> None:
    api = FakeAPI([Fatal("HTTP 401: bad key", 401)])
    run = Run(tmp_path, api, concurrency=1)
    results = run([entry(f"e{i}") for i in range(5)])
    assert run.dispatcher is not None
    assert run.dispatcher.ending == CredentialsRejected(
        "HTTP 401: bad key; the key is the value of DEVIN_API_KEY"
    )
    assert run.dispatcher.stop_reason == "the API rejected the credentials"
    assert [r.outcome for r in results] == ["failed"] + ["pending"] * 4
    assert len(api.posts) == 1


def test_a_stop_mid_run_sends_nothing_more_and_says_why(tmp_path: Path) -> None:
    api = FakeAPI([RetrySafe("HTTP 502: busy", 502)])
    run = Run(tmp_path, api, concurrency=1)

    def stop_on_first_post(d: Dispatcher) -> None:
        api.on_post = lambda: d.stop(Interrupted("SIGTERM"))

    results = run([entry(f"e{i}") for i in range(3)], stop_on_first_post)
    assert len(api.posts) == 1
    first, *rest = results
    assert first.outcome == "failed"
    assert first.error == "not retried (interrupted by SIGTERM); last error: HTTP 502: busy"
    assert [r.outcome for r in rest] == ["pending", "pending"]
    assert "retry" not in run.err.getvalue().replace("not retried", "")


def test_a_stop_after_an_in_doubt_answer_leaves_it_in_doubt(tmp_path: Path) -> None:
    api = FakeAPI([InDoubt("HTTP 504: gateway timeout", 504)])
    run = Run(tmp_path, api)
    api.on_post = lambda: run.dispatcher.stop(Interrupted("SIGINT")) if run.dispatcher else None
    [r] = run([entry(idempotent=True)])
    assert r.outcome == "in_doubt" and len(api.posts) == 1
    assert r.error == "HTTP 504: gateway timeout (not retried: interrupted by SIGINT)"


def test_max_attempts_exhausted(tmp_path: Path) -> None:
    api = FakeAPI([RetrySafe("HTTP 502: busy", 502)])
    run = Run(tmp_path, api, max_attempts=3)
    [r] = run([entry()])
    assert (r.outcome, r.attempts, r.status) == ("failed", 3, 502)
    assert r.error == "gave up after 3 attempts; last error: HTTP 502: busy"
    assert len(api.posts) == 3


def test_max_attempts_exhausted_in_doubt_stays_in_doubt(tmp_path: Path) -> None:
    api = FakeAPI([InDoubt("HTTP 502: bad gateway", 502)])
    run = Run(tmp_path, api, max_attempts=2)
    [r] = run([entry(idempotent=True)])
    assert r.outcome == "in_doubt" and r.attempts == 2
    assert r.error == "gave up after 2 attempts; last error: HTTP 502: bad gateway"


def test_a_wait_longer_than_max_wait_fails_saying_so(tmp_path: Path) -> None:
    api = FakeAPI([RetrySafe("HTTP 429: slow down", 429, retry_after=60.0)])
    run = Run(tmp_path, api, max_wait=5.0)
    [r] = run([entry()])
    assert r.outcome == "failed" and len(api.posts) == 1
    assert r.error is not None and "asked to wait 60s, more than --max-wait 5s" in r.error


def test_the_breaker_opens_and_stops_the_run(tmp_path: Path) -> None:
    api = FakeAPI([RetrySafe("connection failed: refused")])
    run = Run(tmp_path, api, max_attempts=100, concurrency=1)
    ticks = itertools.count()

    def one_slice_per_attempt(d: Dispatcher) -> None:
        d.breaker = CircuitBreaker(span=10.0, clock=lambda: float(next(ticks)))

    first, second = run([entry("a"), entry("b")], one_slice_per_attempt)
    assert run.dispatcher is not None and run.dispatcher.stop_reason is not None
    assert run.dispatcher.stop_reason.startswith("circuit breaker open: the API keeps failing")
    assert len(api.posts) == 10  # ten slices of failures, then nothing more
    for r in (first, second):  # both were retrying when it opened: neither is retried
        assert r.outcome == "failed" and r.error is not None
        assert r.error.startswith("not retried (circuit breaker open")
        assert r.error.endswith("last error: connection failed: refused")


@pytest.mark.parametrize("ending", [Interrupted("SIGTERM"), TimedOut(), OverBudget(3.0)])
def test_a_stop_before_the_start_sends_nothing(tmp_path: Path, ending: Ending) -> None:
    api = FakeAPI([Created("s-1", "u", True)])
    run = Run(tmp_path, api)
    results = run([entry("a"), entry("b")], lambda d: d.stop(ending))
    assert [r.outcome for r in results] == ["pending", "pending"]
    assert api.posts == [] and not run.ledger.read_text()


def test_a_first_request_that_cannot_connect_is_a_configuration_error(tmp_path: Path) -> None:
    refused = RetrySafe("cannot connect: [Errno 111] refused", sent=False, unreachable=True)
    api = FakeAPI([refused])
    run = Run(tmp_path, api, concurrency=4, max_wait=1.0)
    results = run([entry(f"e{i}") for i in range(6)])
    assert run.dispatcher is not None
    ending = run.dispatcher.ending
    assert isinstance(ending, Unreachable)
    assert ending.error.startswith("cannot reach http://127.0.0.1: cannot connect")
    assert len(api.posts) == 1  # the probe alone; nothing retried, nothing else sent
    assert [r.outcome for r in results] == ["pending"] * 6
    assert run.events() == [("sending", "e0"), ("failed", "e0")]  # the intent is void
    assert run.err.getvalue() == ""  # the one message is the caller's to print


def test_refused_connections_after_the_api_answered_are_retried(tmp_path: Path) -> None:
    refused = RetrySafe("cannot connect: [Errno 111] refused", sent=False, unreachable=True)
    api = FakeAPI([Created("s-1", "u", True), refused, refused, Created("s-2", "u", True)])
    run = Run(tmp_path, api, concurrency=1, max_wait=0.05)
    results = run([entry("a"), entry("b")])
    assert run.dispatcher is not None and run.dispatcher.ending == Finished()
    assert [r.outcome for r in results] == ["created", "created"]
    kinds = [k for k, name in run.events() if name == "b"]
    assert kinds == ["sending", "failed", "sending", "failed", "sending", "created"]


def test_the_first_request_goes_alone(tmp_path: Path) -> None:
    in_flight = {"now": 0, "max": 0}

    class Counting(FakeAPI):
        async def create_session(self, body: Mapping[str, Any]) -> Outcome:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
            first = len(self.posts) == 0
            await anyio.sleep(0.05)
            in_flight["now"] -= 1
            if first:
                assert in_flight["max"] == 1
            return await super().create_session(body)

    run = Run(tmp_path, Counting([Created("s", "u", True)]), concurrency=8)
    results = run([entry(f"e{i}") for i in range(8)])
    assert all(r.outcome == "created" for r in results)
    assert in_flight["max"] > 1  # after the probe, the others fan out


@pytest.mark.slow
def test_a_503_saying_retry_now_leaves_the_pace_alone(tmp_path: Path) -> None:
    api = FakeAPI([RetrySafe("HTTP 503: busy", 503, 0.0), Created("s", "u", True)])
    run = Run(tmp_path, api)
    run([entry()])
    assert run.dispatcher is not None
    assert run.dispatcher.pace.snapshot.mode == "unlimited"
    api = FakeAPI([RetrySafe("HTTP 503: busy", 503, 0.01), Created("s", "u", True)])
    run = Run(tmp_path / "b", api)
    (tmp_path / "b").mkdir()
    run([entry()])
    assert run.dispatcher is not None and run.dispatcher.pace.snapshot.throttles == 1
    assert run.dispatcher.pace.snapshot.mode != "unlimited"


def test_a_rerun_sends_a_new_session_under_a_tag_of_its_own_once(tmp_path: Path) -> None:
    e = entry(idempotent=True)
    Run(tmp_path, FakeAPI([Created("s-1", None, True)]))([e])
    replace_s1: Callable[[Dispatcher], None] = lambda d: d.reruns.update({e.key: "s-1"})  # noqa: E731
    api = FakeAPI([Created("s-2", None, True)])
    [r] = Run(tmp_path, api)([e], replace_s1)
    assert (r.outcome, r.session_id, r.rerun, r.rerun_of) == ("created", "s-2", 1, "s-1")
    [body] = api.posts
    assert (
        f"launcher-key:{e.key}.r1" in body["tags"] and f"launcher-key:{e.key}" not in body["tags"]
    )
    assert "idempotent" not in body  # an idempotent create would answer with s-1
    lines = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert [(x["event"], x.get("rerun"), x.get("rerun_of")) for x in lines[2:]] == [
        ("sending", 1, "s-1"),
        ("created", 1, "s-1"),
    ]
    again = FakeAPI([Created("s-3", None, True)])  # the same rerun asked again: s-1 is gone
    [r] = Run(tmp_path, again)([e], replace_s1)
    assert (r.outcome, r.session_id, again.posts) == ("skipped", "s-2", [])


def test_a_rerun_stopped_in_flight_is_found_by_its_own_tag_not_resent(tmp_path: Path) -> None:
    e = entry()

    async def history() -> None:
        with LedgerWriter.open(tmp_path / "ledger.jsonl", "run-0") as w:
            await w.append("created", e, session_id="s-1")
            await w.append("sending", e, attempt=1, timeout=0.01, rerun=1, rerun_of="s-1")

    anyio.run(history)
    api = FakeAPI([Created("s-9", None, True)], [[{"session_id": "s-2", "url": None}]])
    [r] = Run(tmp_path, api)([e])
    assert api.tags == [f"launcher-key:{e.key}.r1"] and api.posts == []
    assert (r.outcome, r.session_id, r.reconciled, r.rerun) == ("created", "s-2", True, 1)


def test_on_an_api_without_idempotency_an_idempotent_entry_is_looked_up_not_resent(
    tmp_path: Path,
) -> None:
    # v3 has no `idempotent` (the client leaves it out): a blind resend could duplicate.
    found = [{"session_id": "s-9", "url": None}]
    api = FakeAPI([InDoubt("HTTP 504: gateway timeout", 504)], lookups=[found])
    run = Run(tmp_path, api, timeout=0.01, idempotency=False)
    [r] = run([entry(idempotent=True)])
    assert (r.outcome, r.session_id, r.reconciled) == ("created", "s-9", True)
    assert len(api.posts) == 1 and api.tags == [entry(idempotent=True).reconcile_tag]
