"""Uploads at send time, with a fake API (the sandbox proves the whole path): one upload
per content however many entries wait for it, the ledger's record used by a later run,
retries of a transient failure only, and a file changed since the check refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import anyio
import pytest

from launcher.api.outcomes import ApiError
from launcher.api.retry import RetryPolicy
from launcher.dispatch import attachments
from launcher.dispatch.attachments import UploadFailed, Uploads
from launcher.entry import Attachment, Entry
from launcher.ledger.writer import LedgerWriter

API = {"v": 1, "base_url": "https://api.devin.ai", "generation": "v1", "org": None}


class FakeApi:
    generation = "v1"

    def __init__(self, failures: list[int | None]) -> None:
        self.failures, self.calls = failures, 0

    async def upload_attachment(self, name: str, content: bytes) -> str:
        self.calls += 1
        await anyio.sleep(0.01)  # the entries sharing the file queue up meanwhile
        if self.failures:
            raise ApiError("nope", self.failures.pop(0))
        return f"https://files.example/{self.calls}/{name}"


def _entries(tmp_path: Path, count: int) -> list[Entry]:
    log = tmp_path / "build.log"
    log.write_bytes(b"boom\n")
    shared = Attachment("build.log", str(log), hashlib.sha256(b"boom\n").hexdigest(), 5)
    return [
        Entry(f"e{i}", "m.yaml", "m.yaml", 1, {"prompt": "p"}, attachments=(shared,))
        for i in range(count)
    ]


def _attach_all(ledger: Path, api: FakeApi, entries: list[Entry]) -> list[Entry]:
    """Each entry attached, as the dispatcher's tasks do it at once; the first refusal."""

    async def go() -> list[Entry]:
        with LedgerWriter.open(ledger, "run-1", {**API, "sandbox": False}) as writer:
            uploads = Uploads(api, writer)
            done: list[Entry] = []
            failed: list[UploadFailed] = []

            async def one(entry: Entry) -> None:
                try:
                    done.append(await uploads.attach(entry))
                except UploadFailed as exc:
                    failed.append(exc)

            async with anyio.create_task_group() as tg:
                for entry in entries:
                    tg.start_soon(one, entry)
            if failed:
                raise failed[0]
            return done

    return anyio.run(go)


def test_one_upload_for_every_entry_and_run_and_transient_failures_are_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attachments, "RETRY", RetryPolicy(attempts=3, initial=0, longest=0))
    ledger, api = tmp_path / "l.jsonl", FakeApi([503, None])
    done = _attach_all(ledger, api, _entries(tmp_path, 5))
    assert api.calls == 3  # two 503s, then the one upload
    prompts = {e.body({})["prompt"] for e in done}
    assert prompts == {'p\n\nATTACHMENT:"https://files.example/3/build.log"\n'}
    again = FakeApi([])
    _attach_all(ledger, again, _entries(tmp_path, 2))
    assert again.calls == 0  # the ledger's record


def test_a_refused_upload_or_a_changed_file_fails_the_entry(tmp_path: Path) -> None:
    api = FakeApi([413])
    with pytest.raises(UploadFailed, match="nope") as refused:
        _attach_all(tmp_path / "a.jsonl", api, _entries(tmp_path, 3))
    # a 4xx is not retried, and the entries that share the file fail with it
    assert refused.value.status == 413 and api.calls == 1
    entries = _entries(tmp_path, 1)
    (tmp_path / "build.log").write_bytes(b"other\n")
    with pytest.raises(UploadFailed, match="changed since the manifests were checked"):
        _attach_all(tmp_path / "b.jsonl", FakeApi([]), entries)
