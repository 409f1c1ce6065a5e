"""`Entry` with attachments: their content is part of its key, and their uploads' URLs go
into the body as the API takes them (prompt lines on v1, `attachment_urls` on v3)."""

from __future__ import annotations

from typing import Any

from launcher.entry import Attachment, Entry, add_batch_tag, batch_tag
from tests.support.followkit import entry

LOG = Attachment("build.log", "logs/build.log", "a" * 64, 23)


def _entry(*attachments: Attachment, request: dict[str, object] | None = None) -> Entry:
    body = request or {"prompt": "Fix the build\n", "tags": ["t"]}
    return Entry("fix", "m.yaml", "m.yaml", 3, body, attachments=attachments)


def test_the_attachments_content_is_part_of_the_key_and_uploading_keeps_it() -> None:
    plain, attached = _entry(), _entry(LOG)
    other = _entry(Attachment("build.log", "elsewhere/build.log", "b" * 64, 23))
    moved = _entry(Attachment("build.log", "moved/build.log", "a" * 64, 23))
    assert len({plain.key, attached.key, other.key}) == 3
    assert moved.key == attached.key  # where the file is does not change the task
    sent = attached.attached({"a" * 64: "https://f/1/build.log"}, urls_field=False)
    assert sent.key == attached.key and sent.content == attached.content


def test_v1_gets_attachment_lines_after_the_prompt_and_v3_gets_attachment_urls() -> None:
    entry = _entry(LOG, request={"prompt": "Fix it\n", "attachment_urls": ["https://f/0"]})
    urls = {"a" * 64: "https://f/1/build.log"}
    v1 = entry.attached(urls, urls_field=False).body({})
    assert v1["prompt"] == 'Fix it\n\nATTACHMENT:"https://f/1/build.log"\n'
    v3 = entry.attached(urls, urls_field=True).body({})
    assert v3["prompt"] == "Fix it\n"
    assert v3["attachment_urls"] == ["https://f/0", "https://f/1/build.log"]
    assert entry.body({})["attachment_urls"] == ["https://f/0"]  # not sent before uploads


def test_batch_tag_only_when_there_is_room() -> None:
    body: dict[str, Any] = {"tags": ["a"] * 49}
    tag = batch_tag("r1")
    assert add_batch_tag(body, tag) == "launcher-batch:r1" and len(body["tags"]) == 50
    full: dict[str, Any] = {"tags": ["a"] * 50}
    assert add_batch_tag(full, tag) is None and len(full["tags"]) == 50


def test_batch_tag_is_not_part_of_the_dispatch_key() -> None:
    e = entry("k")
    body = e.body({})
    add_batch_tag(body, batch_tag("r1"))
    assert entry("k").key == e.key and "launcher-batch:r1" not in e.masked_body().get("tags", [])
