"""Keeps secret values out of messages (SPEC §8): a message about a secret value that would
show its text (a quote hint, a YAML reading) is replaced by one that does not."""

from __future__ import annotations

from typing import Any

from launcher.entry import is_secret_value
from launcher.manifest.document import Document, Path

SECRET_MESSAGE = "expected a string; quote the value (secret values are never shown)"


class SecretText:
    """Keeps secret values out of messages (SPEC §8): a message about a secret value that
    would show its text (a quote hint, a YAML reading) becomes one that does not."""

    def __init__(self, doc: Document) -> None:
        self.positions: set[tuple[int, int]] = set()
        self.texts: dict[Path, list[str]] = {}
        for path, node in doc.nodes.items():
            if is_secret_value(path):
                self.positions.add(node[:2])
                value = _value_at(doc.data, path)
                shown = [node.plain or ""]
                if isinstance(value, (str, int, float)):
                    shown.append(str(value))
                self.texts[path] = [t for t in shown if t]

    def __call__(self, path: Path, message: str, position: tuple[int, int]) -> str:
        if not (is_secret_value(path) or position in self.positions):
            return message
        if "template" in message or "matrix variable" in message:
            return message  # about `${{ … }}`, never the text around it
        if "`" in message or any(t in message for t in self.texts.get(path, ())):
            return SECRET_MESSAGE
        return message


def _value_at(data: Any, path: Path) -> Any:
    for part in path:
        if isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data
