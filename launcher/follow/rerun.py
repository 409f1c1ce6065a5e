"""`rerun`: which of the selected entries get one new session. An entry whose session ended
in one of the asked states (or with an output its schema refused) gets one; so does an
entry whose earlier rerun has no session yet (a rerun that was stopped is finished, never
started over). The dispatcher records the new session as the entry's next rerun."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from launcher.follow.targets import Target


@dataclass(frozen=True)
class RerunAsk:
    """What `rerun` was asked for: the states (`Target.state`: a session status, or
    `cancelled`) and whether a refused structured output counts too."""

    states: frozenset[str] = frozenset()
    invalid_output: bool = False

    def __post_init__(self) -> None:
        if not self.states and not self.invalid_output:
            raise ValueError("a rerun needs a state or invalid_output")

    def why(self, target: Target) -> str | None:
        """Why `target`'s session is to be replaced, or None when it is not."""
        if target.session_id is None:
            return None
        if target.state in self.states:
            return target.state
        if self.invalid_output and target.output_valid is False:
            return "invalid output"
        return None

    def describe(self) -> str:
        parts = sorted(self.states) + (["with an invalid output"] if self.invalid_output else [])
        return " or ".join(parts)


@dataclass
class RerunChoice:
    """The entries a rerun acts on, each with why, and those it leaves, each with why."""

    replace: list[tuple[Target, str]] = field(default_factory=list)  # a new session each
    resume: list[Target] = field(default_factory=list)  # an earlier rerun, not yet created
    changed: list[Target] = field(default_factory=list)  # edited since sent: `run` sends it

    @property
    def targets(self) -> list[Target]:
        return [t for t, _ in self.replace] + self.resume

    @property
    def replaced(self) -> dict[str, str]:
        """Dispatch key -> the session its new one replaces."""
        return {t.key: t.session_id for t, _ in self.replace if t.session_id is not None}


def choose(targets: Sequence[Target], ask: RerunAsk) -> RerunChoice:
    """The entries to rerun, in the order given; each entry once."""
    choice = RerunChoice()
    seen: set[str] = set()
    for target in targets:
        if target.key in seen:
            continue
        seen.add(target.key)
        record = target.record
        # A rerun stopped before its session was known is finished, whatever was asked.
        unfinished = record is not None and record.rerun > 0 and record.outcome != "created"
        why = None if unfinished else ask.why(target)
        if not unfinished and why is None:
            continue
        if target.changed:  # the request sent is not the manifest's any more
            choice.changed.append(target)
        elif why is None:
            choice.resume.append(target)
        else:
            choice.replace.append((target, why))
    return choice
