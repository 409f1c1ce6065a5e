"""Ledger events: the v1 line format, its time and run-id formats, and the one
check that both the reader and the writer apply to every line."""

from __future__ import annotations

import json
import math
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, get_args

from launcher import jsonio
from launcher.ids import names_something

VERSION = 1


class Subject(Protocol):
    """What a ledger line is about: a manifest entry (`launcher.entry.Entry`), or the
    record of one as the ledger holds it (`state.KeyRecord`), its manifest gone or changed."""

    @property
    def entry_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def content(self) -> str: ...


Outcome = Literal["sending", "created", "failed", "in_doubt"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
# Follow-through events (docs/guides/follow-through.md): they never change a key's dispatch outcome.
FollowEvent = Literal["status", "cancelled", "message"]
FOLLOW_EVENTS: tuple[FollowEvent, ...] = get_args(FollowEvent)
# An attachment uploaded (once per content and API): its `key` is the content's hash, and
# it never counts as an entry.
Upload = Literal["attachment"]
Event = Outcome | FollowEvent | Upload
EVENTS: tuple[Event, ...] = (*OUTCOMES, *FOLLOW_EVENTS, *get_args(Upload))
_DECODER = json.JSONDecoder()  # what json.loads uses
_JSON = (dict, list, str, int, float, bool, None)
_HEADER = ("v", "ts", "event", "entry", "name", "key", "run_id", "content")
_REQUIRED_STR = ("ts", "entry", "name", "key", "run_id")
# field -> (allowed types, required) per event; None stands for JSON null.
_FIELDS: dict[str, dict[str, tuple[tuple[type | None, ...], bool]]] = {
    "sending": {
        "attempt": ((int,), False),
        "timeout": ((int, float), False),
        "batch": ((str,), False),
        "run_key": ((str,), False),  # the --run-key of the run, when not empty
        # `launcher rerun`: the how-manieth new session of the entry, and the one it replaces
        "rerun": ((int,), False),
        "rerun_of": ((str,), False),
    },
    "created": {
        "session_id": ((str,), True),
        "batch": ((str,), False),
        "url": ((str, None), False),
        "is_new_session": ((bool, None), False),
        "reconciled": ((bool,), False),
        "run_key": ((str,), False),
        "rerun": ((int,), False),
        "rerun_of": ((str,), False),
    },
    "failed": {
        "error": ((str, None), False),
        "status": ((int, None), False),
        "retry_at": ((str,), False),
        "at_capacity": ((bool,), False),
        "void": ((bool,), False),  # never took effect (a wrong address): still pending
        "batch": ((str,), False),  # written by `ledger compact`, which keeps one line a key
        # A rerun's request failed: its next send is that rerun (`ledger compact` keeps both).
        "rerun": ((int,), False),
        "rerun_of": ((str,), False),
    },
    "in_doubt": {
        "error": ((str, None), False),
        "batch": ((str,), False),
        "rerun": ((int,), False),
        "rerun_of": ((str,), False),
    },
    "status": {
        "session_id": ((str,), True),
        "status_enum": ((str, None), True),
        "structured_output": (_JSON, False),
        "pull_request_url": ((str, None), False),
        "pull_requests": ((list,), False),  # every PR, when there are more than one
        "acus_consumed": ((int, float), False),  # where the API reports it (v3)
        "output_valid": ((bool, None), False),
        "output_errors": ((list,), False),
    },
    "cancelled": {"session_id": ((str,), True), "detail": ((str,), False)},
    "attachment": {"sha256": ((str,), True), "url": ((str,), True), "bytes": ((int,), False)},
    "message": {
        "session_id": ((str,), True),
        "digest": ((str,), True),
        "state": ((str,), True),
        "text": ((str,), False),
        "error": ((str, None), False),
    },
}
# Every event may name the API its session lives in (`launcher.api.target.ApiTarget`,
# versioned inside); a ledger written before it existed has none.
for _fields in _FIELDS.values():
    _fields["api"] = ((dict,), False)


_ABSENT = object()
# `_FIELDS` as `check_event` walks it: (field, its allowed exact types, types, required).
_CHECKS: dict[str, tuple[tuple[str, frozenset[type], tuple[type | None, ...], bool], ...]] = {
    event: tuple(
        (name, frozenset(type(None) if t is None else t for t in types), types, required)
        for name, (types, required) in fields.items()
    )
    for event, fields in _FIELDS.items()
}


def timestamp(after: float = 0.0) -> str:
    """The ledger's time format (ISO 8601 UTC, milliseconds, Z), now or `after` s from now."""
    when = datetime.now(UTC) + timedelta(seconds=after)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_run_id() -> str:
    """A sortable, practically unique run id, e.g. 20261129T083000Z-3f9a1c."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _type_ok(value: Any, types: tuple[type | None, ...]) -> bool:
    for t in types:
        if t is None and value is None:
            return True
        # bool is an int in Python but not in the ledger: `status: true` is damage.
        if t is not None and isinstance(value, t) and (t is bool) == isinstance(value, bool):
            return True
    return False


# The shapes of lines found valid: (v, event, the fields in order, their types). A ledger's
# million lines come in a few dozen shapes; a line of a known one has only its values left
# to check (the rest of `check_event` depends on the types alone).
_VALID_SHAPES: set[tuple[Any, ...]] = set()
_MAX_SHAPES = 4096


def check_event(obj: Any) -> str | None:
    """Why a decoded line is not a valid v1 event of a known type, or None when it is one."""
    # Every line of a ledger passes here (a million on a year of history): a known shape
    # first, else one lookup per field, and an exact type match before the full `_type_ok`.
    if not isinstance(obj, dict):
        return "not a JSON object"
    v, event = obj.get("v"), obj.get("event")
    if type(v) is not int or type(event) is not str:  # not a valid line; and maybe unhashable
        return _check_fields(obj) or _value_problem(obj)
    shape = (v, event, *obj, *map(type, obj.values()))
    if shape in _VALID_SHAPES:
        return _value_problem(obj)
    why = _check_fields(obj)
    if why is not None:
        return why
    if len(_VALID_SHAPES) < _MAX_SHAPES:
        _VALID_SHAPES.add(shape)
    return _value_problem(obj)


def _check_fields(obj: dict[str, Any]) -> str | None:
    """What is wrong with the line's version, event or any field's presence and type."""
    get = obj.get
    v = get("v")
    if v != VERSION or isinstance(v, bool):
        return "field 'v' is not 1"
    event = get("event")
    checks = _CHECKS.get(event) if isinstance(event, str) else None
    if checks is None:
        return f"unknown event {event!r}"
    for name in _REQUIRED_STR:
        if not isinstance(get(name), str):
            return f"field {name!r} is missing or not a string"
    if not isinstance(get("content", ""), str):
        return "field 'content' is not a string"
    for name, exact, types, required in checks:
        value = get(name, _ABSENT)
        if value is _ABSENT:
            if required:
                return f"field {name!r} is missing"
        elif type(value) not in exact and not _type_ok(value, types):
            return f"field {name!r} has the wrong type"
    return None


def _value_problem(obj: dict[str, Any]) -> str | None:
    """What is wrong with a value of the right type: a wait, a session id."""
    why = _wait_problem(obj)
    if why is not None:
        return why
    sid = obj.get("session_id")
    if isinstance(sid, str) and not names_something(sid):
        # "." or ".." would send follow-through requests to other API paths
        return "field 'session_id' has no letter or digit"
    return None


def _wait_problem(obj: dict[str, Any]) -> str | None:
    """A wait a later run would read back: a line the launcher wrote has a positive, finite
    timeout (`1e999` reads as infinity). A far `retry_at` is not damage: the run that reads
    it waits no longer than --max-wait, and says so."""
    timeout = obj.get("timeout")
    if timeout is not None and not 0 < timeout < math.inf:
        return "field 'timeout' is not a positive finite number of seconds"
    return None


def ignored_kind(obj: Any) -> str | None:
    """Lines a newer launcher may write: skipped (and counted) rather than called damage."""
    if not isinstance(obj, dict):
        return None
    v = obj.get("v")
    if isinstance(v, int) and not isinstance(v, bool) and v > VERSION:
        return f"of ledger version {v}"
    if v == VERSION and obj.get("event") not in EVENTS:
        return f"of unknown type {obj.get('event')!r}"
    return None


def decode(line: bytes) -> Any:
    """The line's JSON value; raises ValueError (UnicodeDecodeError included) if invalid,
    jsonio.JsonError (a ValueError) if nested deeper than jsonio.MAX_DEPTH levels."""
    if jsonio.depth_of(line) > jsonio.MAX_DEPTH:  # before the decoder recurses
        raise jsonio.JsonError(f"nested deeper than {jsonio.MAX_DEPTH} levels")
    text = line.decode("utf-8")  # strictly UTF-8: no encoding sniffing
    # The decoder alone, when the value starts the line and only its "\n" follows: what
    # json.loads does, without its two whitespace regex matches. Anything else goes through
    # json.loads itself, which accepts or refuses it with its own rules.
    try:
        obj, end = _DECODER.raw_decode(text)
        whole = end == len(text) or text[end:] == "\n"
    except ValueError:
        whole = False
    if not whole:
        obj = jsonio.loads(text)
    if not line.endswith(b"\n") and not isinstance(obj, dict):
        raise ValueError("incomplete")  # b"12" may be the start of b"123"
    return obj


def encode(event: Event, entry: Subject, run_id: str, fields: dict[str, Any]) -> bytes:
    """One line, newline included; refuses what `check_event` would call damage."""
    values = (VERSION, timestamp(), event, entry.entry_id, entry.name, entry.key, run_id)
    record: dict[str, Any] = dict(zip(_HEADER, (*values, entry.content), strict=True))
    if set(fields) & set(record):
        raise ValueError(f"fields {sorted(set(fields) & set(record))} are set by the ledger")
    record.update(fields)
    # Refuse to write what the reader would call damage: it would stop every later run.
    why = check_event(record)
    if why is not None:
        raise ValueError(f"not a valid ledger event: {why}")
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text + "\n").encode()
