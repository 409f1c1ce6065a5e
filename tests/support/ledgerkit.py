"""Factories for the ledger unit tests: an entry, one ledger line as the launcher writes it,
and the fields of a `created` event."""

from __future__ import annotations

import json
from typing import Any

from launcher.entry import Entry

CREATED: dict[str, Any] = {
    "session_id": "devin-1",
    "url": "https://app.devin.ai/sessions/1",
    "is_new_session": True,
}


def entry(name: str = "t1", file: str = "m.yaml", **request: Any) -> Entry:
    return Entry(name=name, file=file, path=file, line=1, request={"prompt": name, **request})


def event(ev: str, key: str = "k1", name: str = "t1", **fields: Any) -> str:
    doc = {"v": 1, "ts": "2026-11-29T08:30:00.000Z", "event": ev, "entry": f"m.yaml#{name}"}
    doc |= {"name": name, "key": key, "run_id": "r1", "content": "c", **fields}
    return json.dumps(doc, separators=(",", ":")) + "\n"
