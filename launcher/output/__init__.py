"""What the user sees: reporters picked once by name (text, json) and the live progress line.

Only `launcher.cli` imports this package; it renders result values and decides nothing.
"""
