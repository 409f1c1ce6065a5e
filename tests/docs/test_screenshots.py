"""The docs show the live table as a real image: the PNG is there, small, shown on the
"What you see" page, and the script that makes it is named there."""

from __future__ import annotations

import struct

from tests.support.paths import ROOT

IMAGE = ROOT / "docs" / "assets" / "live-table.png"
PAGE = ROOT / "docs" / "guides" / "what-you-see.md"
SCRIPT = ROOT / "scripts" / "live_table_png.py"


def test_the_live_table_image_is_a_small_png_shown_on_its_page() -> None:
    data = IMAGE.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert 600 <= width <= 2000 and 200 <= height <= 1200, (width, height)
    assert len(data) < 100_000
    page = PAGE.read_text()
    assert "](../assets/live-table.png)" in page
    assert "![The live table" in page  # with its alt text
    assert SCRIPT.is_file() and "scripts/live_table_png.py" in page
