"""Keeping the API key and session secret values out of everything shown or written: the
start-up check of the key, and the redactor that masks secrets in every escaped form.

Text from outside (server answers, transport errors) is redacted where it enters, in the
client; the output's last pass masks the long secrets again but never touches the
launcher's own words with a short one (`TOK=x` must not turn `--max-wait` into `--ma***`).
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping

from launcher.errors import UsageError

MASK = "***"
# Below this many characters a value cannot be hidden by masking (a one-character secret
# is in every sentence): server text holding one is withheld whole instead.
MIN_SECRET_CHARS = 8
WITHHELD = "(the server's message is withheld: it contains the value of a short secret)"
WITHHELD_ECHO = "(the server's message is withheld: it echoes a secret in a form not masked)"

_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-f]{4})")


def escaped_forms(secret: str) -> set[str]:
    """`secret` as it may come back: raw, JSON-escaped (ASCII or not, once or twice), as a
    Python str or bytes repr, backslash-escaped; and each of these URL-encoded or
    HTML-escaped (a gateway that echoes a JSON body in a query string)."""
    as_json = json.dumps(secret)[1:-1]
    backslashed = secret.encode("unicode_escape").decode("ascii")
    escaped = {
        secret,
        as_json,
        _UNICODE_ESCAPE.sub(lambda m: "\\u" + m.group(1).upper(), as_json),
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(as_json)[1:-1],
        repr(secret)[1:-1],
        repr(secret.encode("utf-8", "surrogateescape"))[2:-1],
        backslashed,
        backslashed.replace("'", "\\'"),
        backslashed.replace('"', '\\"'),
    }
    forms = set(escaped)
    for form in escaped:
        forms |= {
            urllib.parse.quote(form, safe=""),
            urllib.parse.quote_plus(form, safe=""),
            urllib.parse.quote(form),
            html.escape(form),
        }
    return {f for f in forms if f}


def _cores(secret: str) -> set[str]:
    """The secret's long runs of letters and digits: they survive every escaping, so text
    still holding one after masking echoes the secret in a form not foreseen."""
    return {run for run in re.findall(r"[A-Za-z0-9]+", secret) if len(run) >= MIN_SECRET_CHARS}


class Redactor:
    """Masks secret values and the API key, in every escaped form, in text.

    `redactor(text)` masks the secrets long enough to be masked; `outside(text)`, for text
    that came from outside, also withholds it whole when it holds a short secret.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {s for s in secrets if s}
        long_forms = {f for s in values if len(s) >= MIN_SECRET_CHARS for f in escaped_forms(s)}
        short_forms = {f for s in values if len(s) < MIN_SECRET_CHARS for f in escaped_forms(s)}
        # Longest first, so that a form containing another is masked whole.
        self._long = sorted(long_forms, key=len, reverse=True)
        self._short = sorted(short_forms, key=len, reverse=True)
        self._cores = {c for s in values for c in _cores(s)}

    @property
    def has_short(self) -> bool:
        return bool(self._short)

    def __call__(self, text: str) -> str:
        for form in self._long:
            text = text.replace(form, MASK)
        return text

    def outside(self, text: str) -> str:
        """Text from outside, made safe to show and keep."""
        text = self(text)
        if any(form in text for form in self._short):
            return WITHHELD
        if any(core in text for core in self._cores):
            return WITHHELD_ECHO
        return text

    def holds_secret(self, text: str) -> bool:
        """Whether `text` carries a secret long enough to be told apart (a short value
        occurs in any id by chance)."""
        return self(text) != text or any(core in text for core in self._cores)


def api_key_from(environ: Mapping[str, str], name: str) -> tuple[str, list[str]]:
    """The API key in `name`, and warnings; exit 2 (naming the variable, never the value)
    when it cannot be a key. Surrounding whitespace (`$(cat key)` of a CRLF file) is
    dropped with a warning; control or non-ASCII characters inside are refused, since
    they cannot go into an HTTP header and an error about them would show the key."""
    raw = environ.get(name, "")
    key = raw.strip()
    warnings = []
    if key != raw:
        warnings.append(
            f"{name} has spaces or line breaks around the key; they were removed "
            "(a key file written on Windows ends in CR LF)"
        )
    if name not in environ:
        raise UsageError(f"{name} (the API key) is not set; set it to your Devin API key")
    if not key:
        raise UsageError(f"{name} (the API key) is empty; set it to your Devin API key")
    bad = [c for c in key if not 0x21 <= ord(c) <= 0x7E]
    if bad:
        kind = "non-ASCII" if any(ord(c) > 0x7E for c in bad) else "control or space"
        raise UsageError(
            f"{name} (the API key) contains {len(bad)} {kind} character(s), which an API "
            f"key never has; set {name} to the key alone (its value is not shown)"
        )
    if len(key) < MIN_SECRET_CHARS:
        raise UsageError(
            f"{name} (the API key) is only {len(key)} characters long: not a Devin API key, "
            f"and too short to be kept out of messages; set {name} to your API key"
        )
    return key, warnings


def short_secret_warnings(named: Iterable[tuple[str, str, str]]) -> list[str]:
    """One warning per secret key whose value, in some entry, is too short to be masked;
    `named` holds (entry id, secret key, value)."""
    users: dict[str, list[str]] = {}
    for entry_id, key, value in named:
        if value and len(value) < MIN_SECRET_CHARS:
            users.setdefault(key, []).append(entry_id)
    return [
        f"the value of secret {key} (in {ids[0]}"
        + (f" and {len(ids) - 1} more" if len(ids) > 1 else "")
        + f") is shorter than {MIN_SECRET_CHARS} characters, too short to be masked: "
        "server messages that contain it are withheld"
        for key, ids in users.items()
    ]
