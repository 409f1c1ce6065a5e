"""Unit tests of follow-through's pure parts: hostile rows, verdicts, output checks,
list shapes, paging and fallbacks of one poll, results records, the ledger fold."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import anyio
import pytest

from launcher.api.outcomes import ApiError
from launcher.entry import Entry, add_batch_tag, batch_tag
from launcher.follow.outputcheck import check_output
from launcher.follow.poll import Memo, RetryPolicy, poll_once, rows_of
from launcher.follow.results import choose
from launcher.follow.status import MAX_OUTPUT_BYTES, normalise
from launcher.follow.targets import Target, build_targets
from launcher.ledger.read import read_state
from launcher.ledger.summary import summarize
from launcher.ledger.writer import LedgerWriter
from launcher.output.follow import WatchReporter
from launcher.output.results import write_csv, write_jsonl
from launcher.text import printable

SCHEMA = {
    "type": "object",
    "required": ["ok"],
    "properties": {"ok": {"type": "boolean"}, "when": {"type": "string", "format": "date"}},
}
FAST = RetryPolicy(attempts=3, initial=0.01, longest=0.02)


def entry(name: str, schema: Any = SCHEMA) -> Entry:
    request: dict[str, Any] = {"prompt": f"do {name}"}
    if schema is not None:
        request["structured_output_schema"] = schema
    return Entry(name=name, file="m.yaml", path="m.yaml", line=1, request=request)


# --- hostile rows -----------------------------------------------------------------


def test_status_enum_null_falls_back_to_status() -> None:
    seen = normalise({"session_id": "s1", "status_enum": None, "status": "Finished"})
    assert seen is not None and seen.status == "finished" and seen.settled


@pytest.mark.parametrize(
    "row",
    [
        None,
        [],
        "x",
        {"session_id": 5},
        {"session_id": ""},
        {"session_id": "a\x1b[2Jb"},
        {"session_id": "x" * 500},
    ],
)
def test_rows_without_a_sane_session_id_are_ignored(row: Any) -> None:
    assert normalise(row) is None


def test_hostile_fields_are_typed_bounded_and_escaped() -> None:
    seen = normalise(
        {
            "session_id": "s1",
            "status_enum": "work\x1b]0;pwned\x07ing" + "x" * 100,
            "pull_request": {"url": "https://e/pr\r\n1" + "y" * 5000},
            "structured_output": {"big": "z" * (MAX_OUTPUT_BYTES + 1)},
        }
    )
    assert seen is not None
    assert "\x1b" not in seen.status and len(seen.status) <= 45 and not seen.settled
    assert seen.pull_request_url is not None and "\r" not in seen.pull_request_url
    assert len(seen.pull_request_url) < 2100
    assert seen.structured_output is None and "over the 64 KB" in (seen.output_dropped or "")


def test_pull_request_as_bare_string_and_wrong_types() -> None:
    assert normalise({"session_id": "s", "pull_request": "https://e/1"}).pull_request_url  # type: ignore[union-attr]
    seen = normalise({"session_id": "s", "status": 7, "pull_request": {"url": 3}})
    assert seen is not None and seen.status == "unknown" and seen.pull_request_url is None


def test_printable_escapes_control_characters() -> None:
    assert printable("a\x1b[31mb\nc") == "a\\x1b[31mb\\x0ac"  # the one escaping function


# --- output check ------------------------------------------------------------------


def test_output_check_paths_and_formats_not_asserted() -> None:
    assert check_output(SCHEMA, {"ok": True, "when": "not a date"}) == (True, [])
    valid, errors = check_output(SCHEMA, {"ok": "yes"})
    assert not valid and errors == [{"path": "$.ok", "message": "'yes' is not of type 'boolean'"}]
    valid, errors = check_output({"type": "array", "items": {"type": "integer"}}, [1, "a"] * 50)
    assert not valid and errors[0]["path"] == "$[1]" and len(errors) == 5


def test_missing_output_does_not_conform() -> None:
    valid, errors = check_output(SCHEMA, None)
    assert not valid and "no structured output" in errors[0]["message"]


# --- verdicts -----------------------------------------------------------------------


def _target(status: str | None, valid: bool | None = True, schema: Any = SCHEMA) -> Target:
    return Target(entry(f"e-{status}", schema), session_id="s", status=status, output_valid=valid)


@pytest.mark.parametrize(
    ("status", "valid", "blocked_ok", "well"),
    [
        ("finished", True, False, True),
        ("finished", False, False, False),
        ("blocked", True, False, False),
        ("blocked", True, True, True),
        ("blocked", False, True, True),
        ("expired", None, True, False),
        ("working", None, True, False),
        ("suspend_requested", None, True, False),
    ],
)
def test_ended_well(status: str, valid: bool | None, blocked_ok: bool, well: bool) -> None:
    assert _target(status, valid).verdict(blocked_ok).ended_well is well


def test_not_created_and_cancelled_did_not_end_well() -> None:
    t = Target(entry("never"), create_error="failed to create: HTTP 400: bad")
    assert t.verdict(True).reason == "failed to create: HTTP 400: bad"
    c = _target("working")
    c.cancelled = True
    assert c.verdict(True).reason == "cancelled" and not c.active


# --- one poll ----------------------------------------------------------------------


class FakeApi:
    """Sessions by tag; answers pages as `shape` and counts every call."""

    def __init__(self, rows: dict[str, list[dict[str, Any]]], shape: str = "object") -> None:
        self.rows, self.shape = rows, shape
        self.lists: list[tuple[str, int, int]] = []
        self.gets: list[str] = []
        self.fail_next = 0

    async def list_sessions(self, tag: str, limit: int, offset: int) -> Any:
        self.lists.append((tag, limit, offset))
        if self.fail_next:
            self.fail_next -= 1
            raise ApiError("HTTP 503: busy", 503)
        page = self.rows.get(tag, [])[offset : offset + limit]
        return page if self.shape == "bare" else {"sessions": page}

    async def get_session(self, session_id: str) -> Any:
        self.gets.append(session_id)
        return None if session_id == "gone" else {"session_id": session_id, "status": "finished"}

    async def delete_session(self, session_id: str) -> str:
        return "terminated"

    async def send_message(self, session_id: str, text: str) -> None:
        return None


@pytest.mark.parametrize("shape", ["object", "bare"])
def test_poll_pages_by_tag_and_gets_only_what_lists_missed(shape: str) -> None:
    rows = [{"session_id": f"s{i}", "status_enum": "working"} for i in range(250)]
    api = FakeApi({"launcher-batch:r1": rows}, shape)
    watched: dict[str, str | None] = {f"s{i}": "launcher-batch:r1" for i in range(250)}
    watched["lost"] = None  # carries no batch tag
    watched["gone"] = "launcher-batch:r1"  # not in any list; the API says 404
    result = anyio.run(poll_once, api, watched, {"launcher-batch:r1": 251}, FAST)
    assert [offset for _, _, offset in api.lists] == [0, 100, 200]
    assert sorted(api.gets) == ["gone", "lost"]
    assert result.seen["gone"].status == "not_found" and result.seen["s249"].status == "working"


def test_poll_stops_listing_once_every_watched_session_is_seen() -> None:
    rows = [{"session_id": f"s{i}"} for i in range(1000)]
    api = FakeApi({"t": rows})
    watched: dict[str, str | None] = {f"s{i}": "t" for i in range(100, 150)}
    anyio.run(poll_once, api, watched, {"t": 1000}, FAST)
    assert len(api.lists) == 2 and not api.gets


@pytest.mark.parametrize("unsettled", [1000, 550, 120, 30, 5])
def test_poll_costs_ceil_unsettled_over_100_when_the_unsettled_are_the_newest(
    unsettled: int,
) -> None:
    # Listed newest first, as Devin does; the oldest settled first (as under --max-active),
    # so the unsettled are on the first pages and the settled need no re-read.
    rows = [{"session_id": f"s{i}"} for i in reversed(range(1000))]
    api = FakeApi({"t": rows})
    watched: dict[str, str | None] = {f"s{i}": "t" for i in range(1000 - unsettled, 1000)}
    ranks = {f"s{i}": 999 - i for i in range(1000)}
    result = anyio.run(poll_once, api, watched, {"t": 1000}, FAST, ranks)
    assert len(api.lists) == math.ceil(unsettled / 100) and not api.gets
    assert result.seen.keys() == watched.keys()


def test_poll_gets_each_when_the_few_unsettled_are_deep_in_the_listing() -> None:
    rows = [{"session_id": f"s{i}"} for i in reversed(range(1000))]
    api = FakeApi({"t": rows})
    scattered = ["s3", "s250", "s500", "s990"]
    ranks = {f"s{i}": 999 - i for i in range(1000)}
    anyio.run(poll_once, api, dict.fromkeys(scattered, "t"), {"t": 1000}, FAST, ranks)
    assert not api.lists and sorted(api.gets) == sorted(scattered)


def test_poll_gets_each_when_fewer_are_left_than_pages() -> None:
    api = FakeApi({"t": [{"session_id": f"s{i}"} for i in range(1000)]})
    result = anyio.run(poll_once, api, {"s1": "t", "s999": "t"}, {"t": 1000}, FAST)
    assert not api.lists and sorted(api.gets) == ["s1", "s999"] and len(result.seen) == 2


def test_poll_cannot_page_forever_when_the_filter_is_ignored() -> None:
    rows = [{"session_id": f"other{i}"} for i in range(10_000)]
    api = FakeApi({"t": rows})
    watched: dict[str, str | None] = {f"s{i}": "t" for i in range(5)}
    anyio.run(poll_once, api, watched, {"t": 5}, FAST)
    assert len(api.lists) == 2 and len(api.gets) == 5


def test_poll_retries_a_503() -> None:
    api = FakeApi({"t": [{"session_id": "s1", "status": "blocked"}]})
    api.fail_next = 2
    watched: dict[str, str | None] = {"s1": "t", "s2": "t"}
    result = anyio.run(poll_once, api, watched, {"t": 1}, FAST)
    assert result.seen["s1"].status == "blocked" and len(api.lists) == 3


def test_rows_of_rejects_other_shapes() -> None:
    with pytest.raises(ApiError):
        rows_of({"items": []})
    assert rows_of([{"a": 1}]) == [{"a": 1}]


# --- batch tag ---------------------------------------------------------------------


def test_batch_tag_only_when_there_is_room() -> None:
    body: dict[str, Any] = {"tags": ["a"] * 49}
    tag = batch_tag("r1")
    assert add_batch_tag(body, tag) == "launcher-batch:r1" and len(body["tags"]) == 50
    full: dict[str, Any] = {"tags": ["a"] * 50}
    assert add_batch_tag(full, tag) is None and len(full["tags"]) == 50


def test_batch_tag_is_not_part_of_the_dispatch_key() -> None:
    e = entry("k")
    body = e.body({})
    add_batch_tag(body, batch_tag("r1"))
    assert entry("k").key == e.key and "launcher-batch:r1" not in e.masked_body().get("tags", [])


# --- ledger fold and results -------------------------------------------------------


async def _write(path: Path, events: list[tuple[str, Entry, dict[str, Any]]]) -> None:
    with LedgerWriter.open(path, "run1") as writer:
        for event, e, fields in events:
            await writer.append(event, e, **fields)


def test_latest_status_per_entry_folds(tmp_path: Path) -> None:
    a, b = entry("a"), entry("b", None)
    ledger = tmp_path / "l.jsonl"
    anyio.run(
        _write,
        ledger,
        [
            ("sending", a, {"batch": "launcher-batch:run1"}),
            ("created", a, {"session_id": "sa", "url": "u"}),
            ("sending", b, {}),
            ("created", b, {"session_id": "sb"}),
            ("status", a, {"session_id": "sa", "status_enum": "working"}),
            ("status", b, {"session_id": "sb", "status_enum": "blocked"}),
            (
                "status",
                a,
                {
                    "session_id": "sa",
                    "status_enum": "finished",
                    "structured_output": {"ok": True},
                    "pull_request_url": "https://e/pr/1",
                    "output_valid": True,
                    "output_errors": [],
                },
            ),
            ("message", b, {"session_id": "sb", "digest": "d1", "state": "sending"}),
            ("message", b, {"session_id": "sb", "digest": "d1", "state": "sent"}),
        ],
    )
    state = read_state(ledger)
    assert state.created(a.key) is not None  # follow events never undo `created`
    ta, tb = build_targets([a, b], state)
    assert ta.batch == "launcher-batch:run1" and ta.status == "finished" and not ta.active
    assert ta.verdict(False).ended_well and ta.pull_request_url == "https://e/pr/1"
    assert tb.status == "blocked" and tb.woken and tb.active  # messaged after it blocked
    summary = summarize(ledger)
    assert summary.statuses == {"blocked": 1, "finished": 1}
    out = io.StringIO()
    write_jsonl(choose([ta, tb], None, None), out)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["entry"] for r in records] == ["m.yaml#a", "m.yaml#b"]
    assert records[0]["structured_output"] == {"ok": True} and records[0]["output_valid"]


def test_results_csv_flattens_output_and_defuses_formulas() -> None:
    t = Target(entry("f"), session_id="s", status="finished", structured_output={"x": [1]})
    t.pull_request_url = '=HYPERLINK("http://evil")'
    out = io.StringIO()
    write_csv(choose([t], None, None), out)
    header, row = out.getvalue().splitlines()
    assert header.startswith("entry,name,key,session_id,url,status,pull_request_url")
    assert '"{""x"": [1]}"' in row and "'=HYPERLINK" in row


def test_live_line_counts_and_plain_lines() -> None:
    targets = [_target("working"), _target("blocked"), _target("finished"), _target("finished")]
    err, out = io.StringIO(), io.StringIO()
    live = WatchReporter(out, err, str, live=True)
    live.tick(targets, force=True)
    title = err.getvalue().splitlines()[0]  # the live table's title: counts by status
    assert "1 blocked" in title and "finished" in title and "1 working" in title
    assert out.getvalue() == ""  # on a terminal, no line per change
    plain_out = io.StringIO()
    plain = WatchReporter(plain_out, io.StringIO(), str, live=False)
    hostile = _target("finished")
    hostile.pull_request_url = "https://e/\x1b[2Jpr"
    plain.change(hostile)
    plain.tick(targets, force=True)
    assert "\x1b" not in plain_out.getvalue() and "PR https://e/\\x1b[2Jpr" in plain_out.getvalue()


class ListRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    async def append(self, event: str, e: Entry, **fields: Any) -> None:
        self.events.append((event, e.name, fields))


def _watch(api: FakeApi, targets: list[Target], timeout: float | None) -> Any:
    from launcher.follow.watch import WatchSettings, watch

    recorder = ListRecorder()
    settings = WatchSettings(poll_interval=0.05, timeout=timeout, retry=FAST)
    reporter = WatchReporter(io.StringIO(), io.StringIO(), str, live=False)

    async def go() -> Any:
        return await watch(api, recorder, targets, {"t": len(targets)}, settings, reporter, str)

    return anyio.run(go), recorder


@pytest.mark.slow
def test_watch_gives_up_at_timeout_while_the_server_keeps_failing() -> None:
    api = FakeApi({})
    api.fail_next = 10**6
    targets = [Target(entry(f"w{i}"), session_id=f"s{i}", batch="t") for i in range(3)]
    outcome, recorder = _watch(api, targets, timeout=0.5)
    assert outcome.timed_out and not outcome.all_ended_well(True) and not recorder.events
    assert targets[0].verdict(True, True).reason == "--wait-timeout passed while not seen yet"


def test_watch_over_settled_entries_sends_nothing() -> None:
    api = FakeApi({})
    targets = [_target("finished"), _target("expired")]
    outcome, recorder = _watch(api, targets, timeout=None)
    assert outcome.polls == 0 and not api.lists and not api.gets and not recorder.events


def test_watch_records_each_change_once() -> None:
    rows = [{"session_id": f"s{i}", "status_enum": "finished"} for i in range(3)]
    api = FakeApi({"t": rows})
    targets = [Target(entry(f"w{i}", None), session_id=f"s{i}", batch="t") for i in range(3)]
    outcome, recorder = _watch(api, targets, timeout=None)
    assert outcome.all_ended_well(False) and outcome.polls == 1
    assert sorted(name for _, name, _ in recorder.events) == ["w0", "w1", "w2"]
    assert all(
        f["status_enum"] == "finished" and f["output_valid"] is None for _, _, f in recorder.events
    )


def test_the_same_observation_again_changes_nothing_and_a_new_output_does() -> None:
    t = Target(entry("o", None), session_id="s", batch="t")
    row = {"session_id": "s", "status_enum": "working", "structured_output": {"n": 1}}
    first = normalise(row)
    assert first is not None and t.observe(first, str) is not None
    again = normalise(dict(row))
    assert again is not None and t.observe(again, str) is None
    # Same value, keys in another order: no change either (the full comparison decides).
    reordered = normalise({**row, "structured_output": {"n": 1}})
    assert reordered is not None and t.observe(reordered, str) is None
    changed = normalise({**row, "structured_output": {"n": True}})
    assert changed is not None
    fields = t.observe(changed, str)
    assert fields is not None and fields["structured_output"] == {"n": True}


def test_an_api_error_inside_task_groups_reaches_the_user_as_one_exit_1_error() -> None:
    from launcher.errors import ApiUnavailable, AuthError, ExitCode
    from launcher.follow.run import _unwrapped

    class Group(Exception):  # what anyio raises from a task group, on any Python
        def __init__(self, *inner: BaseException) -> None:
            super().__init__("group")
            self.exceptions = inner

    nested = Group(Group(ApiError("HTTP 503", 503)))
    error = _unwrapped(nested)
    assert isinstance(error, ApiUnavailable) and error.exit_code == ExitCode.FAILED
    assert "HTTP 503" in str(error)
    auth = AuthError("rejected")
    assert _unwrapped(Group(auth)) is auth


class FreshRows(FakeApi):
    """Each page decoded anew, as from the wire: equal rows, never the same objects."""

    async def list_sessions(self, tag: str, limit: int, offset: int) -> Any:
        return json.loads(json.dumps(await super().list_sessions(tag, limit, offset)))


def test_a_row_unchanged_since_the_last_poll_is_not_read_again() -> None:
    rows = [{"session_id": f"s{i}", "status_enum": "working"} for i in range(150)]
    api = FreshRows({"t": rows})
    watched: dict[str, str | None] = dict.fromkeys((f"s{i}" for i in range(150)), "t")
    memo: Memo = {}
    first = anyio.run(poll_once, api, watched, {"t": 150}, FAST, None, memo)
    rows[7] = {"session_id": "s7", "status_enum": "finished", "structured_output": {"a": 1}}
    second = anyio.run(poll_once, api, watched, {"t": 150}, FAST, None, memo)
    assert all(second.seen[s] is first.seen[s] for s in watched if s != "s7")
    assert second.seen["s7"].status == "finished" and first.seen["s7"].status == "working"
    assert memo["s7"][1] is second.seen["s7"]
    without = anyio.run(poll_once, api, watched, {"t": 150}, FAST)
    assert without.seen["s1"] is not second.seen["s1"] and without.seen["s1"] == second.seen["s1"]
