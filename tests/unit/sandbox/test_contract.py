"""The sandbox answers as Devin's documents in schemas/ say (every status documented, JSON,
each body inside its schema), over real sockets, and refuses on create what the reference
refuses: an output schema over 64 KiB, an external `$ref`, a schema that is not Draft 7.
Its HTTP edges: a body cap (413) and `Allow` on every 405."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.handle import SandboxHandle
from launcher.sandbox.limits import MAX_BODY_BYTES
from launcher.sandbox.server import running_sandbox
from tests.support.contract import document, response_problems

KEY = "apk_contract_KEY_1234"
ORG = "org-contract"


@pytest.fixture(scope="module")
def keyed() -> Iterator[SandboxHandle]:
    # One sandbox for the module: each test tags its sessions its own way.
    config = SandboxConfig(host="127.0.0.1", port=0, api_key=KEY, work_seconds=30)
    with running_sandbox(config) as handle:
        yield handle


class Checked:
    """An httpx client whose every answer is checked against the document."""

    def __init__(self, sb: SandboxHandle, generation: str, token: str) -> None:
        self.generation = generation
        self.http = httpx.Client(
            base_url=sb.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        self.checked = 0

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        body = response.json() if response.content else None
        kind = response.headers.get("content-type", "")
        assert (
            response_problems(self.generation, method, path, response.status_code, body, kind) == []
        ), response.text
        self.checked += 1
        return response

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def v1(keyed: SandboxHandle) -> Iterator[Checked]:
    checked = Checked(keyed, "v1", KEY)
    yield checked
    checked.close()


@pytest.fixture
def v3(keyed: SandboxHandle) -> Iterator[Checked]:
    checked = Checked(keyed, "v3", f"cog_{KEY}")
    yield checked
    checked.close()


def test_every_document_says_where_it_came_from() -> None:
    for generation in ("v1", "v3"):
        doc = document(generation)
        assert doc["openapi"].startswith("3.1")
        assert all(u.startswith("https://docs.devin.ai/") for u in doc["info"]["x-source"])
        for item in doc["paths"].values():
            for op in item.values():
                if isinstance(op, dict) and "responses" in op:
                    assert op["externalDocs"]["url"].startswith("https://docs.devin.ai/")


def test_v1_answers_conform(keyed: SandboxHandle, v1: Checked) -> None:
    sid = v1("POST", "/v1/sessions", json={"prompt": "p", "tags": ["c1"]}).json()["session_id"]
    assert v1("POST", "/v1/sessions", json={"prompt": 5}).status_code == 422
    assert v1("POST", "/v1/sessions", content=b"{oops").status_code == 422
    other = v1("POST", "/v1/sessions", json={"prompt": "q", "tags": ["c1"]}).json()["session_id"]
    rows = v1("GET", "/v1/sessions", params={"tags": "c1", "skip": 1}).json()["sessions"]
    assert [r["session_id"] for r in rows] == [sid]  # newest first, the first one skipped
    assert v1("GET", "/v1/sessions", params={"skip": -1}).status_code == 422
    assert v1("POST", f"/v1/sessions/{sid}/message", json={"message": "more"}).json() is None
    keyed.control(sid, status="blocked")
    woke = v1("POST", f"/v1/sessions/{sid}/message", json={"message": "go on"})
    assert "working again" in woke.json()["detail"]
    assert v1("POST", f"/v1/sessions/{sid}/message", json={}).status_code == 422
    assert v1("PUT", f"/v1/sessions/{sid}/tags", json={"tags": ["d"]}).status_code == 200
    assert v1("PUT", f"/v1/sessions/{sid}/tags", json={"tags": [1]}).status_code == 422
    messages = v1("GET", f"/v1/sessions/{sid}").json()["messages"]
    ids = [m["event_id"] for m in messages]
    assert len(ids) == len(set(ids)) == 4  # prompt, "more", Devin's note, "go on"
    assert [m["event_id"] for m in v1("GET", f"/v1/sessions/{sid}").json()["messages"]] == ids
    assert v1("DELETE", f"/v1/sessions/{other}").status_code == 200
    assert v1("GET", f"/v1/sessions/{other}").json()["status"] == "stopped"
    again = v1("DELETE", f"/v1/sessions/{other}")
    assert again.status_code == 422 and "exited" in again.json()["detail"][0]["msg"]
    assert v1("GET", "/v1/sessions/devin-nobody").status_code == 404
    v1.http.headers["Authorization"] = "Bearer wrong"
    assert v1("GET", "/v1/sessions").status_code == 401
    assert v1.checked == 18


def test_v3_answers_conform(keyed: SandboxHandle, v3: Checked) -> None:
    base = f"/v3/organizations/{ORG}/sessions"
    sids = [v3("POST", base, json={"prompt": f"p{i}", "tags": ["c"]}).json()["session_id"]
            for i in range(3)]  # fmt: skip
    assert v3("POST", base, json={"prompt": "p", "idempotent": True}).status_code == 422
    page = v3("GET", base, params={"first": 2, "tags": "c", "created_after": 0}).json()
    assert [s["session_id"] for s in page["items"]] == sids[:0:-1] and page["has_next_page"]
    rest = v3("GET", base, params={"first": 2, "tags": "c", "after": page["end_cursor"]}).json()
    assert [s["session_id"] for s in rest["items"]] == [sids[0]]
    assert v3("GET", base, params={"session_ids": sids[1], "tags": "c"}).json()["total"] == 1
    for bad in ({"first": 0}, {"after": "x"}, {"created_after": "noon"}):
        assert v3("GET", base, params=bad).status_code == 422
    keyed.control(sids[0], status="expired")
    v3("POST", f"{base}/{sids[0]}/messages", json={"message": "wake up"})
    said = v3("GET", f"{base}/{sids[0]}/messages", params={"first": 1}).json()
    assert said["total"] == 3 and said["items"][0]["source"] == "user" and said["has_next_page"]
    assert v3("GET", f"{base}/{sids[0]}").json()["status"] == "resuming"
    assert v3("DELETE", f"{base}/{sids[1]}", params={"archive": "true"}).json()["is_archived"]
    assert v3("DELETE", f"{base}/{sids[1]}").status_code == 422
    assert v3("POST", f"{base}/{sids[2]}/archive").json()["is_archived"]
    assert v3("GET", f"{base}/devin-nobody").status_code == 404
    assert v3("GET", f"{base}/devin-nobody/messages").status_code == 404
    v3.http.headers["Authorization"] = f"Bearer {KEY}"  # not a service-user token
    assert v3("GET", base).status_code == 401
    assert v3.checked == 19


SCHEMA_CASES = [
    ({"type": "object", "properties": {"pad": {"description": "x" * 70_000}}}, (), "65,536"),
    ({"$ref": "https://example.com/schema.json"}, ("$ref",), "not local"),
    ({"type": 5}, ("type",), "Draft 7"),
]


@pytest.mark.parametrize(("schema", "where", "said"), SCHEMA_CASES)
def test_create_refuses_an_output_schema_devin_refuses(
    v1: Checked, schema: dict[str, Any], where: tuple[str, ...], said: str
) -> None:
    refused = v1("POST", "/v1/sessions", json={"prompt": "p", "structured_output_schema": schema})
    assert refused.status_code == 422
    [item] = refused.json()["detail"]
    assert item["loc"] == ["body", "structured_output_schema", *where] and said in item["msg"]


def test_create_takes_a_self_contained_draft_7_schema(v1: Checked) -> None:
    schema = {
        "definitions": {"n": {"type": "integer"}},
        "type": "object",
        "properties": {"count": {"$ref": "#/definitions/n"}},
    }
    body = {"prompt": "p", "structured_output_schema": schema}
    assert v1("POST", "/v1/sessions", json=body).status_code == 200


def test_a_body_over_the_cap_is_413_declared_or_streamed(v1: Checked, v3: Checked) -> None:
    big = b'{"prompt": "' + b"x" * MAX_BODY_BYTES + b'"}'
    assert v1("POST", "/v1/sessions", content=big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap counts what arrives
        for start in range(0, len(big), 65_536):
            yield big[start : start + 65_536]

    streamed = v3("POST", f"/v3/organizations/{ORG}/sessions", content=chunks())
    assert streamed.status_code == 413 and "at most" in streamed.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/v1/sessions", "GET, HEAD, POST"),
        ("PATCH", "/v1/sessions/devin-x", "DELETE, GET, HEAD"),
        ("PUT", f"/v3/organizations/{ORG}/sessions/devin-x/messages", "GET, HEAD, POST"),
    ],
)
def test_a_405_allows_every_method_of_the_path(
    keyed: SandboxHandle, method: str, path: str, allow: str
) -> None:
    with httpx.Client(base_url=keyed.base_url, timeout=10) as http:
        response = http.request(method, path, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 405 and response.headers["allow"] == allow
