"""Follow-through (watch, --wait, --max-active, results records): empty until it lands.

It sits beside `dispatch`, above `ledger` and `api`, and below `output` and `cli`.
"""
