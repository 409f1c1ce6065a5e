"""What tests share: paths, sandbox fixtures, run helpers, hostile servers, deploy readers.

Imported one way, `from tests.support.X import Y`; no test module imports another.
"""
