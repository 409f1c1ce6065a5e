"""A client's view of a running sandbox: its URL, and its stats and log over HTTP.

Going through HTTP rather than the state object means one handle type serves both the
in-thread and the subprocess sandbox, and never reads state across threads.
"""

from __future__ import annotations

from typing import Any

import httpx

ANY_TOKEN = "sandbox"  # sent when the sandbox accepts any bearer token


class SandboxHandle:
    """A running sandbox: `base_url` to dispatch to, and read-outs for assertions."""

    def __init__(self, base_url: str, api_key: str | None) -> None:
        self.base_url = base_url
        self.api_key = api_key
        token = api_key if api_key is not None else ANY_TOKEN
        self._http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0
        )

    def __repr__(self) -> str:  # no api_key: reprs end up in test reports
        return f"{type(self).__name__}({self.base_url!r})"

    def stats(self) -> dict[str, Any]:
        """GET /_sandbox/stats."""
        return self._get_json("/_sandbox/stats")  # type: ignore[no-any-return]

    def requests_log(self) -> list[dict[str, Any]]:
        """GET /_sandbox/requests: one item per POST /v1/sessions, in arrival order."""
        return self._get_json("/_sandbox/requests")  # type: ignore[no-any-return]

    def list_sessions(self, tags: list[str] | None = None) -> list[dict[str, Any]]:
        """Every session (all pages of GET /v1/sessions), newest first."""
        found: list[dict[str, Any]] = []
        page = 500
        while True:
            params: dict[str, Any] = {"limit": page, "offset": len(found)}
            if tags:
                params["tags"] = tags
            answer = self._get_json("/v1/sessions", params=params)
            batch = answer if isinstance(answer, list) else answer["sessions"]  # --list-shape
            found.extend(batch)
            if len(batch) < page:
                return found

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        response = self._http.get(f"/v1/sessions/{session_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def control(self, session_id: str, **changes: Any) -> dict[str, Any]:
        """Steer one session (POST /_sandbox/sessions/{id}): `status`, `remaining`,
        `end`, `output`, `pr`; returns the session as GET shows it afterwards."""
        response = self._http.post(f"/_sandbox/sessions/{session_id}", json=changes)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def reset(self) -> None:
        """Forget every session, counter and log entry (POST /_sandbox/reset)."""
        self._http.post("/_sandbox/reset").raise_for_status()

    def close(self) -> None:
        self._http.close()

    def _get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self._http.get(path, params=params)
        response.raise_for_status()
        return response.json()
