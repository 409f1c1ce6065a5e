"""The glue of reviewed plans: `plan --out FILE` writes one, `run --plan FILE` takes its
PATHs, run key, selection and ledger from it (`launcher.planfile` holds the logic)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from launcher.errors import UsageError

if TYPE_CHECKING:
    from launcher.ledger.state import LedgerState
    from launcher.output.reporter import Reporter
    from launcher.plan import PlanItem
    from launcher.planfile import PlanFile


def write_plan(
    args: argparse.Namespace, items: Sequence[PlanItem], state: LedgerState, reporter: Reporter
) -> None:
    from launcher import planfile
    from launcher.ledger.events import new_run_id

    selection = planfile.Selection(
        tuple(args.paths),
        args.run_key,
        tuple(args.select or ()),
        None if args.shard is None else str(args.shard),
        args.ledger,
    )
    doc = planfile.make(selection, items, state, os.environ, new_run_id())
    planfile.write(args.out, doc)
    creates = sum(1 for i in items if i.action == "create")
    reporter.note(
        f"launcher: plan written to {args.out} ({creates} to create); review it, then "
        f"apply it with `launcher run --plan {args.out}`"
    )


def planned_args(args: argparse.Namespace) -> PlanFile:
    """Read the plan; refuse at once (exit 2) when a manifest changed since it was made,
    and take its PATHs, run key, selection and ledger for the run."""
    from launcher import planfile
    from launcher.shard import shard_flag

    plan = planfile.read(args.plan)
    if args.paths:
        raise UsageError("run --plan takes no PATH: the plan names its manifests")
    changed = planfile.changed_manifests(plan)
    if changed:
        shown = "\n".join(f"  {path} changed since the plan was made" for path in changed)
        raise UsageError(
            f"{args.plan} no longer matches; nothing was sent:\n{shown}\n"
            "make the plan again (launcher plan … --out) and review it"
        )
    sel = plan.selection
    if args.config["ledger"].source == "flag" and args.ledger != sel.ledger:
        raise UsageError(
            f"{args.plan} was made against the ledger {sel.ledger}, not {args.ledger}; "
            "leave out --ledger"
        )
    args.paths, args.run_key, args.select = list(sel.paths), sel.run_key, list(sel.select)
    args.shard = None if sel.shard is None else shard_flag(sel.shard)
    args.ledger = sel.ledger
    return plan
