"""Manifests: PATH arguments → checked entries, or every diagnostic at once.

The stages, one module each: `discover` (PATHs → files, read safely), `loader` with
`compose`, `scalars` and `aliases` (strict YAML with positions), `matrix`, `templates`,
`names` and `expand` (entries), `requests` and `output_schema` (checks), `messages` and
`redact` (wording), and `check`, which runs them all and fills a `CheckResult`.
"""

from launcher.manifest.check import CheckResult, Speaking, check
from launcher.manifest.discover import Source, find_manifests
from launcher.manifest.document import Document, Node, format_path
from launcher.manifest.loader import load

__all__ = [
    "CheckResult",
    "Document",
    "Node",
    "Source",
    "Speaking",
    "check",
    "find_manifests",
    "format_path",
    "load",
]
