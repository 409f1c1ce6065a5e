"""A reviewed plan, applied as reviewed: `plan --out FILE` writes the exact requests of a
batch with the digests of the manifests and the ledger state they were planned against,
and `run --plan FILE` sends exactly those, or refuses (exit 2) naming what changed.

Secrets are written as references to their variables (`${{ env.X }}`), never as values; a
secret written literally in a manifest is shown as `***` and taken from the manifest,
whose digest the plan holds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launcher.entry import ENV_TEMPLATE, SECRET_MASK, Entry, add_batch_tag, batch_tag
from launcher.errors import UsageError
from launcher.ledger.state import LedgerState
from launcher.plan import PlanItem

FORMAT = "launcher-plan"
VERSION = 1
MAX_PLAN_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Selection:
    """What the plan was made of: the PATH arguments and the flags that chose entries."""

    paths: tuple[str, ...]
    run_key: str
    select: tuple[str, ...]
    shard: str | None
    ledger: str


def digest(path: str) -> str | None:
    """sha256 of a file's bytes, None when it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def referenced_body(entry: Entry, batch: str | None) -> dict[str, Any]:
    """The body `run` sends for `entry` under the batch tag `batch`, each secret value as
    its `${{ env.X }}` reference (or `***` when the manifest holds it literally)."""
    body = entry.masked_body()
    if "session_secrets" in body:
        body["session_secrets"] = referenced(entry.request)["session_secrets"]
    if batch is not None:
        add_batch_tag(body, batch)
    return body


def referenced(request: Mapping[str, Any]) -> dict[str, Any]:
    """`request` with each secret value as its reference, never its value."""
    out = dict(request)
    secrets = out.get("session_secrets")
    if isinstance(secrets, list):
        out["session_secrets"] = [
            {**s, "value": _reference(s.get("value"))} if isinstance(s, dict) else s
            for s in secrets
        ]
    return out


def _reference(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    return text if ENV_TEMPLATE.fullmatch(text) else SECRET_MASK


def batch_of(entry: Entry, state: LedgerState, run_id: str) -> str:
    """The batch tag a send of `entry` carries: an earlier attempt's, else the run's."""
    prior = state.get(entry.key)
    return prior.batch if prior is not None and prior.batch else batch_tag(run_id)


def make(
    selection: Selection,
    items: Sequence[PlanItem],
    state: LedgerState,
    environ: Mapping[str, str],
    run_id: str,
) -> dict[str, Any]:
    """The plan document (JSON-ready)."""
    files = sorted({i.entry.path for i in items})
    variables = sorted({v for i in items if i.action == "create" for v in i.entry.env_vars()})
    return {
        "format": FORMAT,
        "version": VERSION,
        "run_id": run_id,
        "selection": {
            "paths": list(selection.paths),
            "run_key": selection.run_key,
            "select": list(selection.select),
            "shard": selection.shard,
            "ledger": selection.ledger,
        },
        "manifests": [{"path": f, "sha256": digest(f)} for f in files],
        "secrets": {v: v in environ for v in variables},
        "items": [_item(i, state, run_id) for i in items],
    }


def _item(item: PlanItem, state: LedgerState, run_id: str) -> dict[str, Any]:
    entry = item.entry
    record = state.get(entry.key)
    doc: dict[str, Any] = {
        "entry": entry.entry_id,
        "action": item.action,
        "key": entry.key,
        "name": entry.name,
        "file": entry.file,
        "path": entry.path,
        "line": entry.line,
        "run_key": entry.run_key,
        "row": dict(entry.row) if entry.row is not None else None,
        "request": referenced(entry.request),
        "changed": item.changed,
        "ledger": _ledger_view(record.outcome, record.session_id) if record else None,
        "session_id": item.session_id,
        "url": item.url,
    }
    if item.action == "create":
        doc["body"] = referenced_body(entry, batch_of(entry, state, run_id))
    return doc


def _ledger_view(outcome: str, session_id: str | None) -> dict[str, Any]:
    return {"outcome": outcome, "session_id": session_id}


def write(path: str, doc: Mapping[str, Any]) -> None:
    text = json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write the plan to {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class PlanFile:
    path: str
    doc: Mapping[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.doc["run_id"])

    @property
    def selection(self) -> Selection:
        s = self.doc["selection"]
        return Selection(
            tuple(s["paths"]), s["run_key"], tuple(s["select"]), s["shard"], s["ledger"]
        )

    @property
    def items(self) -> list[Mapping[str, Any]]:
        return list(self.doc["items"])


def read(path: str) -> PlanFile:
    """A plan file, checked for its shape; UsageError (exit 2) naming the problem."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read the plan {path}: {exc.strerror}") from None
    if len(raw) > MAX_PLAN_BYTES:
        raise UsageError(f"{path}: over {MAX_PLAN_BYTES} bytes: not a plan")
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"{path}: not a plan file (not JSON: {exc})") from None
    problem = _shape_problem(doc)
    if problem:
        raise UsageError(f"{path}: not a plan file `launcher plan --out` wrote: {problem}")
    return PlanFile(path, doc)


def _shape_problem(doc: Any) -> str | None:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return f'no "format": "{FORMAT}"'
    if doc.get("version") != VERSION:
        return f"version {doc.get('version')!r}; this launcher reads version {VERSION}"
    if not isinstance(doc.get("run_id"), str) or not isinstance(doc.get("items"), list):
        return "run_id or items missing"
    sel = doc.get("selection")
    if not isinstance(sel, dict) or not isinstance(sel.get("paths"), list):
        return "selection missing"
    for item in doc["items"]:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            return "an item without a key"
        if item.get("action") == "create" and not isinstance(item.get("body"), dict):
            return f"{item.get('entry')}: a create without its body"
    if not isinstance(doc.get("manifests"), list) or not isinstance(doc.get("secrets"), dict):
        return "manifests or secrets missing"
    return None


def changed_manifests(plan: PlanFile) -> list[str]:
    """The manifests whose bytes are not those the plan was made from."""
    return [
        str(m.get("path"))
        for m in plan.doc["manifests"]
        if not isinstance(m, dict) or digest(str(m.get("path"))) != m.get("sha256")
    ]


def check_before_run(
    plan: PlanFile, entries: Sequence[Entry], state: LedgerState, environ: Mapping[str, str]
) -> list[Entry]:
    """The entries to create, exactly as planned; UsageError naming every difference
    (a manifest, a secret's presence, the ledger) otherwise. Called under the ledger lock."""
    problems: list[str] = []
    changed = changed_manifests(plan)
    for path in changed:
        problems.append(f"{path} changed since the plan was made")
    for name, was in plan.doc["secrets"].items():
        if (name in environ) != was:
            now = "is set now" if name in environ else "is not set now"
            then = "set" if was else "not set"
            problems.append(f"{name} was {then} when the plan was made and {now}")
    by_key = {e.key: e for e in entries}
    to_create: list[Entry] = []
    for item in plan.items:
        entry = by_key.get(item["key"])
        record = state.get(item["key"])
        held = _ledger_view(record.outcome, record.session_id) if record else None
        if held != item.get("ledger"):
            problems.append(f"the ledger's record of {item['entry']} changed since the plan")
        if item["action"] != "create":
            continue
        if entry is None:
            if not changed:
                problems.append(f"{item['entry']} is no longer in its manifests")
            continue
        if referenced_body(entry, batch_of(entry, state, plan.run_id)) != item["body"]:
            problems.append(f"the request of {item['entry']} is not the planned one")
        to_create.append(entry)
    if problems:
        shown = "\n".join(f"  {p}" for p in problems[:20])
        more = f"\n  and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise UsageError(
            f"{plan.path} no longer matches; nothing was sent:\n{shown}{more}\n"
            "make the plan again (launcher plan … --out) and review it"
        )
    return to_create


def plan_items(plan: PlanFile) -> list[PlanItem]:
    """The plan's items as `plan` shows them (`launcher show FILE`)."""
    items = []
    for item in plan.items:
        request = item.get("request")
        row = item.get("row")
        entry = Entry(
            name=str(item.get("name")),
            file=str(item.get("file")),
            path=str(item.get("path")),
            line=int(item.get("line") or 1),
            request=request if isinstance(request, dict) else {},
            run_key=str(item.get("run_key") or ""),
            row=row if isinstance(row, dict) else None,
        )
        create = item.get("action") == "create"
        changed, sid, url = bool(item.get("changed")), item.get("session_id"), item.get("url")
        items.append(PlanItem(entry, "create" if create else "skip", changed, sid, url))
    return items
