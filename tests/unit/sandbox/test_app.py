"""The sandbox's Devin v1 routes over real sockets: validation, auth, lookups, idempotency."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from launcher.api.openapi import openapi
from launcher.sandbox.config import SandboxConfig
from launcher.sandbox.handle import SandboxHandle
from launcher.sandbox.server import running_sandbox

KEY = "apk_sandbox_test_KEY_0123456789"
SESSION_FIELDS = {
    "session_id", "status", "status_enum", "title", "tags", "created_at", "updated_at",
    "snapshot_id", "playbook_id", "pull_request", "structured_output", "requesting_user_email",
}  # fmt: skip


def client(sb: SandboxHandle, key: str | None = KEY) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.Client(base_url=sb.base_url, headers=headers, timeout=10)


# -- every CreateSessionParams constraint, found by walking the OpenAPI document ----------

COMPONENTS: dict[str, Any] = openapi()["components"]["schemas"]
ANNOTATIONS = {"title", "description", "default"}
CHECKED = {"type", "anyOf", "properties", "required", "items", "additionalProperties",
           "maxItems", "maxLength", "minLength", "exclusiveMinimum", "minimum"}  # fmt: skip
SAMPLES = {"integer": 12, "string": "12", "boolean": True, "array": [1], "object": {"a": 1}}

Violation = tuple[str, tuple[Any, ...], Any]  # (label, loc below the value, bad value)


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = COMPONENTS[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def of_another_type(accepted: set[Any]) -> Any:
    """A value whose JSON type is none of `accepted`."""
    return next(v for t, v in SAMPLES.items() if t not in accepted)


def valid(schema: dict[str, Any]) -> Any:
    """The smallest value that satisfies `schema`."""
    schema = resolve(schema)
    if "anyOf" in schema:
        return valid(next(b for b in schema["anyOf"] if resolve(b).get("type") != "null"))
    kind = schema["type"]
    if kind == "object":
        return {name: valid(schema["properties"][name]) for name in schema.get("required", [])}
    if kind == "integer":
        return schema.get("exclusiveMinimum", schema.get("minimum", 0) - 1) + 1
    return {"string": "x" * max(1, schema.get("minLength", 0)), "boolean": True, "array": []}[kind]


def violations(schema: dict[str, Any]) -> Iterator[Violation]:
    """One value per constraint in `schema` (recursively) that breaks just that one."""
    schema = resolve(schema)
    unknown = set(schema) - CHECKED - ANNOTATIONS
    assert not unknown, f"the OpenAPI uses {unknown}: teach this walk to break it"
    if "anyOf" in schema:
        branches = [resolve(b) for b in schema["anyOf"]]
        accepted = {b.get("type") for b in branches}
        yield "type", (), of_another_type(accepted)
        for branch in branches:
            if branch.get("type") != "null":
                yield from (v for v in violations(branch) if v[0] != "type")
        return
    kind = schema.get("type")
    if kind is not None:
        yield "type", (), of_another_type({kind})
    if "maxItems" in schema:
        yield "maxItems", (), [valid(schema["items"])] * (schema["maxItems"] + 1)
    if "maxLength" in schema:
        yield "maxLength", (), "x" * (schema["maxLength"] + 1)
    if schema.get("minLength", 0) > 0:
        yield "minLength", (), "x" * (schema["minLength"] - 1)
    if "exclusiveMinimum" in schema:
        yield "exclusiveMinimum", (), schema["exclusiveMinimum"]
    if "minimum" in schema:
        yield "minimum", (), schema["minimum"] - 1
    if "items" in schema:
        for label, loc, bad in violations(schema["items"]):
            yield f"items.{label}", (0, *loc), [bad]
    for name, sub in schema.get("properties", {}).items():
        for label, loc, bad in violations(sub):
            whole = valid(schema)
            whole[name] = bad
            yield f"{name}.{label}", (name, *loc), whole
    for name in schema.get("required", []):
        whole = valid(schema)
        del whole[name]
        yield f"{name}.required", (name,), whole


CASES = list(violations(COMPONENTS["CreateSessionParams"]))


@pytest.fixture(scope="module")
def shared() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(port=0, api_key=KEY)) as handle:
        yield handle


def test_the_walk_finds_the_documented_constraints() -> None:
    labels = {label for label, _, _ in CASES}
    assert {
        "prompt.required", "prompt.type", "max_acu_limit.exclusiveMinimum", "tags.maxItems",
        "tags.items.type", "session_secrets.items.key.minLength",
        "session_secrets.items.key.maxLength", "session_secrets.items.value.maxLength",
        "session_secrets.items.value.required", "structured_output_schema.type",
    } <= labels  # fmt: skip
    assert len(CASES) >= 25


def test_the_smallest_valid_body_is_accepted(shared: SandboxHandle) -> None:
    with client(shared) as c:
        assert (
            c.post("/v1/sessions", json=valid(COMPONENTS["CreateSessionParams"])).status_code == 200
        )


@pytest.mark.parametrize(("label", "loc", "body"), CASES, ids=[c[0] for c in CASES])
def test_every_constraint_gives_422_naming_the_field(
    shared: SandboxHandle, label: str, loc: tuple[Any, ...], body: Any
) -> None:
    with client(shared) as c:
        response = c.post("/v1/sessions", json=body)
    assert response.status_code == 422, label
    detail = response.json()["detail"]
    assert ["body", *loc] in [item["loc"] for item in detail]
    for item in detail:
        assert set(item) == {"loc", "msg", "type"}  # no `input`: it could be a secret
        assert item["msg"] and item["type"]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [(b"{", "json_invalid"), (b'{"prompt": "x",}', "json_invalid"), (b"\xff\xfe", "json_invalid"),
     (b"", "missing"), (b"[1]", "dict_type")],
)  # fmt: skip
def test_malformed_bodies_give_422(shared: SandboxHandle, raw: bytes, kind: str) -> None:
    with client(shared) as c:
        response = c.post("/v1/sessions", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    [item] = response.json()["detail"]
    assert item["type"] == kind and item["loc"][0] == "body"


def test_422_details_never_echo_values(shared: SandboxHandle) -> None:
    secret = "hunter2-never-echo-me"
    bodies = [
        {"prompt": "x", "session_secrets": [{"key": secret * 20, "value": secret * 4000}]},
        {"prompt": "x", "session_secrets": [{"key": "", "value": 7}], "tags": [secret] * 51},
        {"prompt": "x", "max_acu_limit": secret, "title": [secret]},
    ]
    with client(shared) as c:
        for body in bodies:
            response = c.post("/v1/sessions", json=body)
            assert response.status_code == 422
            assert secret not in response.text
        response = c.post("/v1/sessions", content=b'{"prompt": "' + secret.encode() + b'" oops}')
        assert response.status_code == 422 and secret not in response.text


def test_bearer_auth(make_sandbox: Callable[..., SandboxHandle]) -> None:
    sb = make_sandbox(api_key=KEY)
    body = {"prompt": "auth"}
    with client(sb, key=None) as anonymous, client(sb, key="wrong") as wrong, client(sb) as right:
        for c in (anonymous, wrong):
            for response in (c.post("/v1/sessions", json=body), c.get("/v1/sessions"),
                             c.get("/v1/sessions/devin-x")):  # fmt: skip
                assert response.status_code == 401
                assert isinstance(response.json()["detail"], str)
                assert KEY not in response.text
        basic = right.post("/v1/sessions", json=body, headers={"Authorization": f"Basic {KEY}"})
        assert basic.status_code == 401
        assert right.post("/v1/sessions", json=body).status_code == 200
        assert right.get("/v1/sessions").status_code == 200
    stats = sb.stats()
    assert stats["requests"] == 4 and stats["sessions"] == 1
    assert stats["status_counts"] == {"200": 1, "401": 3}


def test_no_api_key_accepts_any_token(sandbox: SandboxHandle) -> None:
    with client(sandbox, key=None) as c:
        assert c.post("/v1/sessions", json={"prompt": "x"}).status_code == 200
        assert c.get("/v1/sessions").status_code == 200


def test_get_session_and_unknown_404(make_sandbox: Callable[..., SandboxHandle]) -> None:
    sb = make_sandbox(api_key=KEY)
    with client(sb) as c:
        assert c.get("/v1/sessions/devin-0000").status_code == 404
        assert c.get("/v1/sessions/devin-0000").json() == {"detail": "Session not found"}
        body = {"prompt": "Fix it\nplease", "tags": ["a"], "snapshot_id": "snap-1"}
        created = c.post("/v1/sessions", json=body).json()
        assert set(created) == {"session_id", "url"}  # no is_new_session unless idempotent
        assert created["session_id"].startswith("devin-") and len(created["session_id"]) == 38
        assert created["url"] == f"{sb.base_url}/sessions/{created['session_id']}"
        got = c.get(f"/v1/sessions/{created['session_id']}").json()
        assert set(got) == SESSION_FIELDS | {"messages"}
        assert isinstance(got["messages"], list)
        assert (got["title"], got["tags"], got["snapshot_id"]) == ("Fix it", ["a"], "snap-1")
        assert httpx.get(created["url"]).status_code == 200  # the link a user would open
        [listed] = c.get("/v1/sessions").json()["sessions"]
        assert set(listed) == SESSION_FIELDS


def test_idempotent_twin_and_duplicate_bodies(sandbox: SandboxHandle) -> None:
    with client(sandbox) as c:

        def post(body: Any) -> dict[str, Any]:
            response = c.post("/v1/sessions", json=body)
            assert response.status_code == 200
            return response.json()  # type: ignore[no-any-return]

        first = post({"prompt": "p", "idempotent": True, "tags": ["t"]})
        assert first["is_new_session"] is True
        # Same body, other key order and spacing: the same session.
        twin = c.post("/v1/sessions", content=b'{"tags":["t"],  "idempotent":true,"prompt":"p"}')
        assert twin.json() == {**first, "is_new_session": False}
        # Another body with the same prompt: the same session too, as Devin is reported to.
        other = post({"prompt": "p", "idempotent": True, "tags": ["u"]})
        assert other == {**first, "is_new_session": False}
        assert sandbox.stats()["duplicate_bodies"] == 0

        plain = [post({"prompt": "q"}) for _ in range(3)]
        assert len({p["session_id"] for p in plain}) == 3
        assert all("is_new_session" not in p for p in plain)
    stats = sandbox.stats()
    assert stats["duplicate_bodies"] == 2 and stats["sessions"] == 4


def test_idempotent_body_match_keeps_other_bodies_apart(make_sandbox: Any) -> None:
    sb = make_sandbox(idempotent_match="body")
    with client(sb) as c:
        first = c.post("/v1/sessions", json={"prompt": "p", "idempotent": True, "tags": ["t"]})
        twin = c.post("/v1/sessions", json={"tags": ["t"], "prompt": "p", "idempotent": True})
        other = c.post("/v1/sessions", json={"prompt": "p", "idempotent": True, "tags": ["u"]})
    assert twin.json() == {**first.json(), "is_new_session": False}
    assert other.json()["is_new_session"] is True
    assert other.json()["session_id"] != first.json()["session_id"]


def test_tags_filter_all_of_and_pagination_newest_first(sandbox: SandboxHandle) -> None:
    tag_sets = [["a"], ["a", "b"], ["b"], ["a", "b", "c"], [], ["a"], ["c", "a"]]
    with client(sandbox) as c:
        ids = [c.post("/v1/sessions", json={"prompt": f"p{i}", "tags": t}).json()["session_id"]
               for i, t in enumerate(tag_sets)]  # fmt: skip

        def listed(**params: Any) -> list[str]:
            response = c.get("/v1/sessions", params=params)
            assert response.status_code == 200
            return [s["session_id"] for s in response.json()["sessions"]]

        newest_first = ids[::-1]
        assert listed() == newest_first
        assert listed(tags="a") == [i for i, t in zip(ids, tag_sets, strict=True) if "a" in t][::-1]
        assert listed(tags=["a", "b"]) == [ids[3], ids[1]]
        assert listed(tags=["a", "c"]) == [ids[6], ids[3]]
        assert listed(tags="nope") == []
        assert listed(limit=2) == newest_first[:2]
        assert listed(limit=2, offset=2) == newest_first[2:4]
        assert listed(limit=10, offset=6) == newest_first[6:]
        assert listed(offset=99) == []
        assert listed(tags="a", limit=1, offset=1) == [ids[5]]
        assert listed(user_email="someone@example.com") == newest_first  # accepted, ignored
        for bad in ({"limit": "x"}, {"limit": 0}, {"offset": -1}):
            response = c.get("/v1/sessions", params=bad)
            assert response.status_code == 422
            assert response.json()["detail"][0]["loc"] == ["query", next(iter(bad))]
    assert [s["session_id"] for s in sandbox.list_sessions(tags=["b"])] == [ids[3], ids[2], ids[1]]


@pytest.mark.slow
def test_status_turns_finished_after_work_seconds(
    make_sandbox: Callable[..., SandboxHandle],
) -> None:
    sb = make_sandbox(work_seconds=0.3)
    with client(sb) as c:
        session_id = c.post("/v1/sessions", json={"prompt": "x"}).json()["session_id"]
        early = c.get(f"/v1/sessions/{session_id}").json()
        assert (early["status"], early["status_enum"]) == ("working", "working")
        assert early["updated_at"] == early["created_at"]
        time.sleep(0.35)
        late = c.get(f"/v1/sessions/{session_id}").json()
        assert (late["status"], late["status_enum"]) == ("finished", "finished")
        assert late["updated_at"] > late["created_at"]
        assert c.get("/v1/sessions").json()["sessions"][0]["status_enum"] == "finished"


def test_stats_log_and_reset(sandbox: SandboxHandle) -> None:
    with client(sandbox) as c:
        c.post("/v1/sessions", json={"prompt": "x", "idempotent": True, "tags": ["k"]})
        c.post("/v1/sessions", json={"prompt": 3})
        assert c.get("/nowhere").json() == {"detail": "Not Found"}
    stats = sandbox.stats()
    assert stats["requests"] == 2 and stats["sessions"] == 1
    assert stats["status_counts"] == {"200": 1, "422": 1}
    for name in ("duplicate_bodies", "rate_limited", "early_retries", "dropped", "failed"):
        assert stats[name] == 0
    log = sandbox.requests_log()
    assert [e["status"] for e in log] == [200, 422]
    assert log[0]["idempotent"] is True and log[0]["tags"] == ["k"]
    assert 0 <= log[0]["t"] <= log[1]["t"] and len(log[0]["body_sha"]) == 64
    assert set(log[0]) == {"t", "status", "body_sha", "idempotent", "tags", "session_id"}
    sandbox.reset()
    assert sandbox.stats()["requests"] == 0 and sandbox.list_sessions() == []
