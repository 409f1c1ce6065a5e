"""One expanded manifest entry: its identity, its dispatch key and the request it sends.

An `Entry` holds the request with `${{ env.X }}` templates still unresolved in secret
values; the real body is built only at send time (`Entry.body`) and never stored.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

MAX_TAGS = 50
SECRET_MASK = "***"
TAG_PREFIX = "launcher-key:"
RERUN_SUFFIX = ".r"  # launcher-key:KEY.r2: the tag of the entry's second rerun session
BATCH_PREFIX = "launcher-batch:"  # shared by one run's sessions, so `watch` can list them
ENV_TEMPLATE = re.compile(r"\$\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class MissingEnv(KeyError):
    """An `${{ env.X }}` a secret needs is not set; carries the variable's name only."""


# Made once: json.dumps with options builds an encoder per call, 10,000 for a matrix.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """One text per JSON value, whatever its key order: compact, keys sorted, UTF-8."""
    return _CANONICAL.encode(value)


def is_secret_value(path: tuple[str | int, ...]) -> bool:
    """True for `…session_secrets[i].value` and anything inside it: the one test of
    whether a place in a manifest or a request holds a secret."""
    if "session_secrets" not in path:
        return False  # the usual case, asked of every value of a manifest
    return any(
        path[i] == "session_secrets" and isinstance(path[i + 1], int) and path[i + 2] == "value"
        for i in range(len(path) - 2)
    )


def _without_secret_values(request: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(request)
    secrets = out.get("session_secrets")
    if isinstance(secrets, list):
        out["session_secrets"] = [
            {k: v for k, v in s.items() if k != "value"} if isinstance(s, dict) else s
            for s in secrets
        ]
    return out


@dataclass(frozen=True)
class Attachment:
    """A local file an entry hands its session: uploaded once per content (`sha256`), its
    URL then written into the request (`Entry.attached`)."""

    name: str  # the file's own name, the upload's filename
    path: str  # as the user can open it
    sha256: str  # of its content, hex
    size: int  # bytes


def content_hash(
    name: str,
    request: Mapping[str, Any],
    row: Mapping[str, Any] | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> str:
    """Hash of the name and the request with secret values left out (no run key), of the
    data file row the entry was made from, if any (a column no template uses still
    counts: the row is the task), and of its attachments' names and contents, if any."""
    doc: dict[str, Any] = {"name": name, "request": _without_secret_values(request)}
    if row is not None:
        doc["row"] = dict(row)
    if attachments:
        doc["attachments"] = [[a.name, a.sha256] for a in attachments]
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()[:32]


def dispatch_key(content: str, run_key: str) -> str:
    """The dispatch key: name + request without secret values + run key. Stable across paths/cwd."""
    return hashlib.sha256(f"v1\0{content}\0{run_key}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Entry:
    """An expanded session: `file` is relative to its PATH argument, `path` as the user
    can open it; `request` is the API body with secret values as templates."""

    name: str
    file: str
    path: str
    line: int
    request: Mapping[str, Any]
    run_key: str = ""
    row: Mapping[str, Any] | None = None  # the data file row it was made from
    # The matrix values it was made from (not part of its key: the request holds what they
    # changed); `results` shows them as columns.
    matrix: Mapping[str, Any] = field(default_factory=dict, compare=False)
    attachments: tuple[Attachment, ...] = ()  # local files, part of its content
    # Their uploads' URLs, once known, and where they go: the prompt's `ATTACHMENT:"url"`
    # lines (v1), or `attachment_urls` (v3).
    uploaded: tuple[str, ...] = field(default=(), compare=False)
    urls_field: bool = field(default=False, compare=False)
    content: str = field(init=False)
    key: str = field(init=False)

    def __post_init__(self) -> None:
        content = content_hash(self.name, self.request, self.row, self.attachments)
        object.__setattr__(self, "content", content)
        object.__setattr__(self, "key", dispatch_key(content, self.run_key))

    @property
    def entry_id(self) -> str:
        """`FILE#NAME` as written in the ledger."""
        return f"{self.file}#{self.name}"

    @property
    def reconcile_tag(self) -> str | None:
        """The extra tag that lets an in-doubt entry be found again; None if 50 tags."""
        return self.tag_of(0)

    def tag_of(self, rerun: int) -> str | None:
        """The reconciliation tag of the entry's `rerun`-th new session (0: its first),
        `launcher-key:KEY` then `launcher-key:KEY.rN`: each session of an entry is looked up
        by a tag of its own, so that a lookup never takes the session a rerun replaces for
        the one it created. None if the request already has 50 tags."""
        tags = self.request.get("tags") or []
        if len(tags) >= MAX_TAGS:
            return None
        return f"{TAG_PREFIX}{self.key}" + (f"{RERUN_SUFFIX}{rerun}" if rerun else "")

    def env_vars(self) -> tuple[str, ...]:
        """Names of the environment variables the secrets of this entry read."""
        names: list[str] = []
        for secret in self.request.get("session_secrets") or []:
            for m in ENV_TEMPLATE.finditer(str(secret.get("value", ""))):
                if m.group(1) not in names:
                    names.append(m.group(1))
        return tuple(names)

    def attached(self, urls: Mapping[str, str], *, urls_field: bool) -> Entry:
        """The same entry (same key) whose body hands its session the attachments' uploads:
        `urls` maps each attachment's sha256 to its URL; `urls_field` puts them in
        `attachment_urls` (v3) rather than in `ATTACHMENT:"url"` prompt lines (v1)."""
        uploaded = tuple(urls[a.sha256] for a in self.attachments)
        return replace(self, uploaded=uploaded, urls_field=urls_field)

    def _with_tag(self, rerun: int) -> dict[str, Any]:
        body = dict(self.request)
        if self.uploaded and self.urls_field:
            body["attachment_urls"] = [*(body.get("attachment_urls") or []), *self.uploaded]
        elif self.uploaded:
            lines = "\n".join(f'ATTACHMENT:"{url}"' for url in self.uploaded)
            body["prompt"] = f"{str(body.get('prompt', '')).rstrip()}\n\n{lines}\n"
        tag = self.tag_of(rerun)
        if tag is not None:
            body["tags"] = [*(body.get("tags") or []), tag]
        if rerun:
            # A rerun wants a new session on purpose: an idempotent create would answer
            # with the one it replaces (Devin matches on the prompt).
            body.pop("idempotent", None)
        return body

    def masked_body(self, rerun: int = 0) -> dict[str, Any]:
        """The exact body `run` sends (`rerun`: for the entry's rerun-th new session), with
        secret values replaced by `***`."""
        body = self._with_tag(rerun)
        if isinstance(body.get("session_secrets"), list):
            body["session_secrets"] = [{**s, "value": SECRET_MASK} for s in body["session_secrets"]]
        return body

    def body(self, environ: Mapping[str, str], rerun: int = 0) -> dict[str, Any]:
        """The real body, env templates resolved. Raises MissingEnv naming the variable."""
        body = self._with_tag(rerun)
        if isinstance(body.get("session_secrets"), list):

            def resolve(m: re.Match[str]) -> str:
                if m.group(1) not in environ:
                    raise MissingEnv(m.group(1))
                return environ[m.group(1)]

            body["session_secrets"] = [
                {**s, "value": ENV_TEMPLATE.sub(resolve, str(s["value"]))}
                for s in body["session_secrets"]
            ]
        return body


def batch_tag(run_id: str) -> str:
    """The tag a run's sessions share, so that `watch` can list them together."""
    return f"{BATCH_PREFIX}{run_id}"


def add_batch_tag(body: dict[str, Any], tag: str) -> str | None:
    """Add the batch `tag` to a request body when there is room under the 50-tag limit
    (the reconciliation tag comes first); the tag added, or None."""
    tags = list(body.get("tags") or [])
    if len(tags) >= MAX_TAGS:
        return None
    body["tags"] = [*tags, tag]
    return tag
