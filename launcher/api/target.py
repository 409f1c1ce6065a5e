"""Where sessions live: one API, named by its normalised base URL, its generation, its
organisation, and whether it is an embedded sandbox. The ledger records it with every
event (`as_record`), so that no command acts on one API's sessions through another."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

Generation = Literal["v1", "v3"]
GENERATIONS: tuple[Generation, ...] = get_args(Generation)
RECORD_VERSION = 1  # the `api` field's own version: a newer one is an unknown place
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_url(url: str) -> str:
    """`url` as one spelling: scheme and host in lower case, no default port, no trailing
    slash, no query or fragment (https://API.devin.ai:443/ -> https://api.devin.ai)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class ApiTarget:
    """One API sessions can live in. Two targets are the same place when their URL,
    generation and organisation agree; every embedded sandbox is one place (its port
    changes from run to run, and its sessions end with it)."""

    base_url: str
    generation: Generation = "v1"
    org: str | None = None
    sandbox: bool = False

    def __post_init__(self) -> None:
        if self.generation not in GENERATIONS:
            raise ValueError(f"generation must be one of {GENERATIONS}, not {self.generation!r}")
        object.__setattr__(self, "base_url", normalise_url(self.base_url))
        object.__setattr__(self, "org", self.org or None)

    @property
    def place(self) -> tuple[str, ...]:
        if self.sandbox:
            return ("sandbox", self.generation)
        return (self.base_url, self.generation, self.org or "")

    def same_place(self, other: ApiTarget) -> bool:
        return self.place == other.place

    @property
    def label(self) -> str:
        """How messages name it: `the embedded sandbox`, `https://api.devin.ai (v1)`."""
        if self.sandbox:
            return "the embedded sandbox"
        org = f", organisation {self.org}" if self.org else ""
        return f"{self.base_url} ({self.generation}{org})"

    def as_record(self) -> dict[str, Any]:
        """The ledger's `api` field: equal for two targets exactly when they are the same
        place (an embedded sandbox's record leaves out its port)."""
        url = self.base_url
        if self.sandbox:
            parts = urlsplit(url)
            url = f"{parts.scheme}://{parts.hostname or ''}"
        return {
            "v": RECORD_VERSION,
            "base_url": url,
            "generation": self.generation,
            "org": self.org,
            "sandbox": self.sandbox,
        }

    @classmethod
    def from_record(cls, obj: Mapping[str, Any]) -> ApiTarget | None:
        """The target a ledger's `api` field names; None when it is not one this launcher
        reads (a newer version, or damage)."""
        url, gen, org, sandbox = (obj.get(k) for k in ("base_url", "generation", "org", "sandbox"))
        if obj.get("v") != RECORD_VERSION or not isinstance(url, str) or gen not in GENERATIONS:
            return None
        if not (org is None or isinstance(org, str)) or not isinstance(sandbox, bool):
            return None
        return cls(url, gen, org, sandbox)


def record_label(obj: Mapping[str, Any]) -> str:
    """The label of a ledger's `api` field, even one this launcher cannot read."""
    target = ApiTarget.from_record(obj)
    return target.label if target else "an API recorded by a newer launcher"
