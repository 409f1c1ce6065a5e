"""How many examples the costlier property tests draw.

`make test` must stay within minutes on two cores, so it draws a quarter of the number
each test names; `make test-all` (nox's `full` session, `HYPOTHESIS_PROFILE=thorough`)
draws them all. A test whose count is a promise (the counting property's 200 histories)
names it directly instead.
"""

from __future__ import annotations

import os

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"


def examples(thorough: int) -> int:
    """`thorough` under the thorough profile, else a quarter of it (at least 10)."""
    return thorough if THOROUGH else max(10, thorough // 4)
