"""The check before anything is sent: every variable the run needs is set (the API key,
and each one a session secret reads), and the secrets' values the redactor masks. Light
on purpose: `plan` and a run with nothing to send use it without loading the dispatcher
or httpx."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from launcher.api.redact import short_secret_warnings
from launcher.entry import Entry, MissingEnv
from launcher.errors import UsageError


def check_environment(
    entries: Sequence[Entry],
    environ: Mapping[str, str],
    api_key_env: str | None,
    *,
    sending: bool = True,
) -> None:
    """Exit 2 before sending anything when the key or a secret's variable is unset (also
    when not `sending`: the value is what recognises the secret in what a session says)."""
    lines = []
    if api_key_env is not None and not environ.get(api_key_env):
        lines.append(f"  {api_key_env} (the API key)")
    missing: dict[str, list[str]] = {}
    for entry in entries:
        for name in entry.env_vars():
            if name not in environ:
                missing.setdefault(name, []).append(entry.entry_id)
    for name, users in missing.items():
        shown = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
        lines.append(f"  {name} (used by {shown})")
    if lines:
        why = "" if sending else " (a session may echo a secret: its value is what hides it)"
        raise UsageError(
            f"these environment variables are not set{why}; set them and run again:\n"
            + "\n".join(lines)
        )


def entry_secret_values(
    entries: Sequence[Entry], environ: Mapping[str, str]
) -> tuple[list[str], list[str]]:
    """Every session secret's value, so that the redactor can mask it wherever it shows up,
    and a warning for each secret too short to be masked."""
    values: list[str] = []
    named: list[tuple[str, str, str]] = []
    for entry in entries:
        try:
            body = entry.body(environ)
        except MissingEnv:
            continue
        for secret in body.get("session_secrets") or []:
            value = str(secret.get("value", ""))
            values.append(value)
            named.append((entry.entry_id, str(secret.get("key", "?")), value))
    return values, short_secret_warnings(named)
