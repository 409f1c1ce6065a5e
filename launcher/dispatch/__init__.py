"""Dispatch: each entry becomes exactly one Devin session, recorded in the ledger, at a pace
the API accepts; the settings, the result types, and the loop that fills them."""
