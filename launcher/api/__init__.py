"""The Devin API: the one reader of its OpenAPI document, the HTTP client, and the outcome types."""

import sys

# httpx imports its own command line (`httpx._main`: click, rich's syntax highlighting,
# pygments' lexers) whenever click is installed, and uvicorn (the sandbox extra) installs
# it: some 50 ms of CPU in every launcher process that speaks HTTP, for a command the
# launcher never runs. A None in sys.modules makes that import fail, and httpx then
# defines its placeholder `main` instead. Set before any module here imports httpx.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
