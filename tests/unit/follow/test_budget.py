"""The budget's arithmetic: what a batch has committed, and how its ACUs are reported."""

from __future__ import annotations

from launcher.follow.budget import Budget, spent_line
from launcher.follow.targets import Target
from launcher.manifest import check
from tests.support.runkit import write_manifest


def _targets(tmp_path: object) -> list[Target]:
    from pathlib import Path

    folder = Path(str(tmp_path))
    path = write_manifest(folder / "m.yaml", 3, secret=False)
    path.write_text(path.read_text().replace("defaults:\n", "defaults:\n  max_acu_limit: 4\n"))
    return [Target(entry) for entry in check([str(folder)]).entries]


def test_working_sessions_count_at_their_limit_settled_ones_at_what_they_spent(
    tmp_path: object,
) -> None:
    working, settled, unstarted = _targets(tmp_path)
    working.session_id, working.acus_consumed = "s1", 1.5
    settled.session_id, settled.status, settled.acus_consumed = "s2", "finished", 2.25
    budget = Budget(total=10, recheck=1, reserved={"k": 4.0})
    assert budget.committed([working, settled, unstarted]) == 4 + 2.25 + 4
    settled.acus_consumed = None  # v1: nothing reported, the limit counts
    assert budget.committed([working, settled, unstarted]) == 4 + 4 + 4


def test_the_batch_acus_are_said_only_where_the_api_reports_them(tmp_path: object) -> None:
    one, two, _ = _targets(tmp_path)
    one.session_id, one.acus_consumed = "s1", 1.5
    two.session_id, two.acus_consumed = "s2", 2.0
    assert spent_line([one, two], "v3").startswith("ACUs: 3.5 consumed by 2 sessions")
    assert spent_line([one, two], "v1") == "ACUs: not reported (the API v1 does not report them)"
