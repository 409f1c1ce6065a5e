"""`launcher log`: each session's conversation as text for people (every line escaped for
the terminal) or as JSON Lines, one object per message, for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import IO, Any

from launcher.follow.log import MAX_PAGES, Conversation, Said
from launcher.output.reporter import Answer
from launcher.text import printable

SPEAKER_WORD = {"user": "user", "devin": "devin", "other": "event"}


def _text(conversations: Sequence[Conversation], out: IO[str]) -> None:
    for i, conv in enumerate(conversations):
        s = conv.subject
        status = f"  ({conv.status})" if conv.status else ""
        print(("\n" if i else "") + printable(f"== {s.entry}  {s.session_id}{status}"), file=out)
        if conv.error:
            print(printable(f"   cannot read it: {conv.error}"), file=out)
            continue
        if conv.skipped:
            print(f"   ({conv.skipped} older messages not shown)", file=out)
        if not conv.messages:
            print("   (no messages)", file=out)
        for said in conv.messages:
            _said(said, out)
        if conv.newer_unread:
            print(
                f"   (over {MAX_PAGES} pages of messages: the newer ones were not read)", file=out
            )


def _said(said: Said, out: IO[str]) -> None:
    word = SPEAKER_WORD[said.speaker]
    if said.type == "initial_user_message":
        word = "prompt"
    head = printable(f"-- {said.timestamp or '?'}  {word}")
    print(head, file=out)
    # Each line escaped on its own, so that the text keeps its line breaks and nothing
    # in it (an escape sequence, a carriage return) can move the cursor.
    for line in said.text.splitlines() or [""]:
        print("   " + printable(line), file=out)
    if said.cut:
        print(f"   … ({said.cut:,} more characters not shown)", file=out)


def _jsonl(conversations: Sequence[Conversation], out: IO[str]) -> None:
    for conv in conversations:
        s = conv.subject
        base: dict[str, Any] = {"entry": s.entry, "name": s.name, "session_id": s.session_id}
        if conv.error:
            out.write(json.dumps({**base, "error": conv.error}) + "\n")
            continue
        for said in conv.messages:
            record = {
                **base,
                "status": conv.status or None,
                "speaker": said.speaker,
                "type": said.type,
                "timestamp": said.timestamp or None,
                "message": said.text,
                "cut": said.cut,
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def log_answer(conversations: Sequence[Conversation]) -> Answer:
    """`launcher log --format json`: one document, every session with its messages."""
    sessions = [
        {
            "entry": c.subject.entry,
            "name": c.subject.name,
            "session_id": c.subject.session_id,
            "status": c.status or None,
            "error": c.error,
            "older_messages_not_shown": c.skipped,
            "newer_messages_not_read": c.newer_unread,
            "messages": [
                {
                    "speaker": m.speaker,
                    "type": m.type,
                    "timestamp": m.timestamp or None,
                    "message": m.text,
                    "cut": m.cut,
                }
                for m in c.messages
            ],
        }
        for c in conversations
    ]
    failed = sum(1 for c in conversations if c.error)
    return Answer(
        lines=[],
        body={"count": len(sessions), "sessions": sessions},
        exit_code=1 if failed else 0,
        error=f"{failed} conversations could not be read",
    )


LOG_WRITER_BY_NAME: dict[str, Callable[[Sequence[Conversation], IO[str]], None]] = {
    "text": _text,
    "jsonl": _jsonl,
}


def write_log(conversations: Sequence[Conversation], fmt: str, out: IO[str]) -> None:
    LOG_WRITER_BY_NAME[fmt](conversations, out)
    out.flush()
