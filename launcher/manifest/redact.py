"""Keeps secret values out of messages: a message about a secret value that would
show its text (a quote hint, a YAML reading) is replaced by one that does not."""

from __future__ import annotations

from launcher.entry import is_secret_value
from launcher.manifest.document import Document, Path

SECRET_MESSAGE = "expected a string; quote the value (secret values are never shown)"


class SecretText:
    """Keeps secret values out of messages: a message about a secret value that
    would show its text (a quote hint, a YAML reading) becomes one that does not."""

    def __init__(self, doc: Document) -> None:
        self.positions: set[tuple[int, int]] = set()
        self.texts: dict[Path, list[str]] = {}
        for path, node in doc.nodes.items():
            if is_secret_value(path):
                self.positions.add(node[:2])
                value = doc.value(path)
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
