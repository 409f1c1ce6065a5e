"""Where a base URL points: loopback or not. Light on purpose: `plan` and the flag
converters use it without loading httpx."""

from __future__ import annotations

import ipaddress
import urllib.parse


def is_loopback(url: str) -> bool:
    """Whether `url`'s host is this machine (127.0.0.0/8, ::1, localhost)."""
    host = (urllib.parse.urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
