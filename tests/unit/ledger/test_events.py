"""Ledger events: run ids."""

from __future__ import annotations

from launcher.ledger import events as ledger


def test_new_run_id_is_sortable_and_distinct() -> None:
    a, b = ledger.new_run_id(), ledger.new_run_id()
    assert a != b and len(a) == len("20261129T083000Z-3f9a1c") and a[8] == "T" and a[15] == "Z"
