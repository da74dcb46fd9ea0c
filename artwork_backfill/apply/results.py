"""What a write run reports: `ApplyResult`, `UndoResult` (both recorded in the cache's run log
as JSON), and `RunFailed`, the error that carries the counts of a run that failed midway."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from artwork_backfill.errors import UserError


@dataclass
class ApplyResult:
    run_id: str
    dry_run: bool
    status: str  # "dry_run" | "completed" | "stopped" | "failed" (recorded in the cache's run log)
    planned: int  # rows in the plan (valid URL, decisions applied)
    high: int
    accepted: int
    rejected: int
    invalid: int
    already_applied: int  # rows holding a URL an earlier run of ours wrote (not sent again)
    eligible: int  # planned - already_applied - skipped_undone: what this run sends to Postgres
    applied: int = 0
    raced: int = 0
    stale: int = 0
    not_attempted: int = 0  # eligible rows left for the next run (stopped)
    batches: int = 0
    stopped: bool = False
    would_apply: int | None = None  # dry run: predicted from the rows' current state
    would_race: int | None = None
    would_stale: int | None = None
    already_applied_other_url: int = 0  # of already_applied: the plan now names another URL
    reconciled_batches: int = 0  # open intents of an interrupted run settled at start
    reconciled_rows: int = 0  # rows those intents added to the journal
    remaining: int = -1  # eligible rows still NULL and unchanged after the run (-1: not checked)
    analyzed: bool = False
    elapsed_s: float = 0.0
    invalid_reasons: dict[str, int] = field(default_factory=dict)
    # rows whose latest write of ours an undo took back: left out (sent with --include-undone)
    skipped_undone: int = 0
    undone_included: int = 0  # --include-undone: such rows sent again
    include_undone: bool = False
    # what the plan was made with: the scorer's thresholds and the decisions file's SHA-256
    thresholds: dict[str, float] | None = None
    decisions_sha256: str | None = None
    batch_pause_ms: int = 0
    # apply --repair: the audit's wrong values replaced (dry run: would be), the rows whose
    # value changed since the audit (left alone), and the wrong values with no replacement
    # planned to be cleared (--clear-wrong) or kept
    # the snapshot the plan was made from (rows, the runs that exported it, when)
    snapshot: dict[str, Any] = field(default_factory=dict)
    repair: bool = False
    repaired: int = 0
    kept_changed: int = 0
    cleared_planned: int = 0
    left_wrong: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UndoResult:
    run_id: str  # the apply run being undone
    undo_run_id: str
    dry_run: bool
    status: str  # "dry_run" | "completed" | "stopped" | "failed"
    journaled: int  # rows the apply run wrote
    reverted: int = 0  # set back to the value the write replaced (dry run: would be)
    restored_previous: int = 0  # of reverted: to a cover (a repair's), not to NULL
    skipped: int = 0  # no longer hold the value the run wrote (changed since)
    already_undone: int = 0  # reverted by an earlier undo of this run: not touched again
    superseded: int = 0  # a later run of ours wrote the row since: its value is not this run's
    not_attempted: int = 0
    batches: int = 0
    stopped: bool = False
    reconciled_batches: int = 0
    analyzed: bool = False
    elapsed_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RunFailed(UserError):
    """A write run stopped on an error; what it committed before is kept and journaled."""

    def __init__(self, message: str, fields: dict[str, Any]) -> None:
        super().__init__(message)
        self.fields = fields


__all__ = ["ApplyResult", "RunFailed", "UndoResult"]
