"""The ledger, the record of truth for "exactly one session per task": events
(the line format), state (the fold), read, writer (lock, group fsync) and summary."""
