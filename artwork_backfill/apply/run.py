"""`run_apply`: a dry run, or the write of a plan in batches, resumable and stoppable.

`run_apply(cache, db, plan, execute=...)` reads the rows' current state (one SELECT, also in a
dry run), leaves out rows an earlier run already wrote (`already_applied`: the row holds a URL
the journal says we wrote), and, with `execute`, writes the rest in batches (`apply.writer`).
Each batch is one transaction on one connection (`synchronous_commit=off`,
`statement_timeout`, `lock_timeout`, `application_name=wxyc-artwork-backfill`). Rows the
UPDATE skipped are counted: `raced` (same artist and title, but someone else filled
artwork_url first: their value stays) or `stale` (the row changed artist or title, is flagged
discogs_unavailable now, or was deleted). `ANALYZE library` runs once after a run that wrote.

Resume and stop
---------------
A re-run recomputes the plan; rows written before are `already_applied` and are not sent
again, so a second run reports `applied 0` (and no `raced` noise). A row whose latest write of
ours an `undo` took back is left out (`skipped_undone`): undo sticks until asked otherwise
(`include_undone`, `apply --include-undone`). SIGINT/SIGTERM set a stop
flag: the batch in flight finishes (commit and journal), the run reports `stopped` and the CLI
exits 130 (`ExitStatus.INTERRUPTED`), so a script never mistakes a partial run for a complete
one; a re-run continues. Between batches the loop pauses `BACKFILL_BATCH_PAUSE_MS` (see
`apply.loop`), and before each batch, when writing, a cooperative live-DJ pause probes the
flowsheet (see `LiveActivity`).

Each run records what its plan was made with (the scorer's thresholds, the decisions file's
SHA-256) in the run log and its result; the journal keeps the verdict each row was written
from (`verdict_id`) and the value the write replaced (NULL for a backfill).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from artwork_backfill.apply.history import RowHistory
from artwork_backfill.apply.hooks import BatchHooks, injected
from artwork_backfill.apply.ledger import reconcile
from artwork_backfill.apply.loop import drive, logged_failure
from artwork_backfill.apply.plan import Plan, PlanRow, classify
from artwork_backfill.apply.results import ApplyResult
from artwork_backfill.apply.session import open_session, read_states, require_source
from artwork_backfill.apply.settings import ApplySettings
from artwork_backfill.apply.writer import BatchOutcome, BatchWriter, apply_kind, repair_kind
from artwork_backfill.cache.store import Cache
from artwork_backfill.config import DbSettings
from artwork_backfill.logs import RunLog
from artwork_backfill.stopping import StopFlag


def run_apply(
    cache: Cache,
    db: DbSettings,
    plan: Plan,
    *,
    execute: bool,
    settings: ApplySettings,
    log: RunLog,
    stop: StopFlag | None = None,
    hooks: BatchHooks | None = None,
    include_undone: bool = False,
    thresholds: Mapping[str, float] | None = None,
    decisions_sha256: str | None = None,
) -> ApplyResult:
    """Dry run (default) or write the plan. The run id is `log.run_id`.

    `stop` is checked between batches and sleeps the pauses (see `artwork_backfill.stopping`);
    `hooks` are called at the points of each batch (no-ops unless a test injects some, see
    `apply.hooks`). `include_undone` sends rows an undo took back again. `thresholds` and
    `decisions_sha256` say what the plan was made with; they are recorded with the run.
    """
    with logged_failure(log, "apply"):
        return _run_apply(
            cache,
            db,
            plan,
            execute,
            settings,
            log,
            stop or StopFlag(),
            hooks if hooks is not None else injected(),
            _Provenance(
                include_undone,
                None if thresholds is None else dict(thresholds),
                decisions_sha256,
            ),
        )


@dataclass(frozen=True)
class _Provenance:
    """What the plan was made with, and whether undone rows are sent again."""

    include_undone: bool
    thresholds: dict[str, float] | None
    decisions_sha256: str | None


def _run_apply(
    cache: Cache,
    db: DbSettings,
    plan: Plan,
    execute: bool,
    settings: ApplySettings,
    log: RunLog,
    stop: StopFlag,
    hooks: BatchHooks,
    made_with: _Provenance,
) -> ApplyResult:
    started = time.monotonic()
    require_source(cache, db)
    log.info(
        "init",
        "apply " + ("--execute" if execute else "dry run"),
        database=db.display,
        cache=str(cache.path),
        batch_size=settings.batch_size,
        planned=len(plan),
        live_pause=settings.live_pause and settings.lookback_s > 0,
        include_undone=made_with.include_undone,
        decisions_sha256=made_with.decisions_sha256,
        thresholds=made_with.thresholds,
    )
    with open_session(db, settings, read_only=not execute) as conn:
        hooks.on_session(conn)
        recovered = reconcile(cache, conn, db, log, persist=execute)
        history = RowHistory.load(
            cache,
            more_writes=() if execute else recovered.journal,
            more_undone=() if execute else recovered.undone,
        )
        states = read_states(conn, db, [r.library_id for r in plan.rows])

        pending: list[PlanRow] = []
        already = other_url = skipped_undone = undone_included = 0
        for row in plan.rows:
            state = states.get(row.library_id)
            holding = state.artwork_url if state is not None else None
            owner = history.owner(row.library_id)
            latest = history.latest(row.library_id)
            if row.previous is not None:  # a repair: done when the row holds its replacement
                if holding == (row.url or None):
                    already += 1
                elif (
                    latest is not None
                    and latest.undone
                    and latest.previous == row.previous
                    and not made_with.include_undone
                ):
                    skipped_undone += 1  # this repair was undone: it stays undone
                else:
                    undone_included += bool(latest is not None and latest.undone)
                    pending.append(row)
            elif holding is not None and owner is not None and holding == owner.url:
                already += 1  # the row holds what our latest standing write put there
                other_url += holding != row.url
            elif latest is not None and latest.undone:
                if made_with.include_undone:
                    undone_included += 1
                    pending.append(row)
                else:
                    skipped_undone += 1  # undone: stays undone unless asked
            elif holding is not None and history.journaled(row.library_id, holding):
                already += 1
                other_url += holding != row.url
            else:
                pending.append(row)
        result = ApplyResult(
            snapshot=cache.snapshot_info("audit_rows" if plan.repair else "candidates"),
            repair=plan.repair,
            cleared_planned=plan.cleared,
            left_wrong=plan.left_wrong,
            run_id=log.run_id,
            dry_run=not execute,
            status="dry_run" if not execute else "completed",
            planned=len(plan),
            high=plan.high,
            accepted=plan.accepted,
            rejected=plan.rejected,
            invalid=plan.invalid,
            invalid_reasons=dict(plan.invalid_reasons),
            already_applied=already,
            already_applied_other_url=other_url,
            eligible=len(pending),
            reconciled_batches=recovered.batches,
            reconciled_rows=recovered.rows,
            skipped_undone=skipped_undone,
            undone_included=undone_included,
            include_undone=made_with.include_undone,
            thresholds=made_with.thresholds,
            decisions_sha256=made_with.decisions_sha256,
            batch_pause_ms=settings.batch_pause_ms,
        )
        result.sample = [
            {
                "library_id": r.library_id,
                "artist_name": r.artist_name,
                "album_title": r.album_title,
                "old": states[r.library_id].artwork_url if r.library_id in states else None,
                "new": r.url or None,
                "band": r.band,
                "source": r.source,
            }
            for r in pending[: settings.sample_size]
        ]
        if not execute:
            predicted = [classify(r, states.get(r.library_id)) for r in pending]
            result.would_apply = predicted.count("apply")
            result.would_race = predicted.count("raced")
            result.would_stale = predicted.count("stale")
            result.remaining = result.would_apply
            if plan.repair:
                result.repaired, result.kept_changed = result.would_apply, result.would_race
            result.elapsed_s = round(time.monotonic() - started, 3)
            log.info("finished", "dry run: nothing written", **_summary(result))
            return result

        cache.start_run(
            "apply",
            {
                "database": db.display,
                "batch_size": settings.batch_size,
                "batch_pause_ms": settings.batch_pause_ms,
                "planned": len(plan),
                "eligible": len(pending),
                "include_undone": made_with.include_undone,
                "thresholds": made_with.thresholds,
                "decisions_sha256": made_with.decisions_sha256,
                "repair": plan.repair,
                "snapshot": result.snapshot,
            },
            run_id=log.run_id,
        )
        log.info(
            "started",
            f"writing {len(pending)} rows in batches of {settings.batch_size}",
            eligible=len(pending),
            already_applied=already,
            skipped_undone=skipped_undone,
            batch_size=settings.batch_size,
            batch_pause_ms=settings.batch_pause_ms,
        )
        by_id = {r.library_id: r for r in pending}

        def count(
            index: int, total: int, batch: Sequence[PlanRow], outcome: BatchOutcome, wall_ms: float
        ) -> None:
            raced = stale = 0
            if outcome.others:
                now = read_states(conn, db, outcome.others)
                stale = sum(1 for i in outcome.others if classify(by_id[i], now.get(i)) == "stale")
                raced = len(outcome.others) - stale
            result.applied += len(outcome.changed)
            result.raced += raced
            result.stale += stale
            log.info(
                "batch_done",
                f"batch {index}/{total}: applied {len(outcome.changed)}, raced {raced}, stale {stale}",
                batch_index=index,
                batches=total,
                page_rows=len(batch),
                last_id=batch[-1].library_id,
                page_applied=len(outcome.changed),
                page_raced=raced,
                page_stale=stale,
                wall_clock_ms=wall_ms,
                applied=result.applied,
                raced=result.raced,
                stale=result.stale,
            )

        writer = BatchWriter(
            conn,
            cache,
            repair_kind(db) if plan.repair else apply_kind(db),
            run_id=log.run_id,
            target_run_id=None,
            log=log,
            stop=stop,
            hooks=hooks,
        )
        drive(
            writer,
            pending,
            settings,
            result,
            count,
            lambda: result.applied > 0,
            cache=cache,
            conn=conn,
            db=db,
            log=log,
            started=started,
        )
        result.remaining = _remaining(conn, db, pending)
        if plan.repair:
            result.repaired, result.kept_changed = result.applied, result.raced
        log.info(
            "stopped" if result.stopped else "finished",
            f"apply {result.status}: applied {result.applied}, raced {result.raced}, "
            f"stale {result.stale}",
            **_summary(result),
        )
        cache.finish_run(log.run_id, result.status, result.to_json())
        return result


def _remaining(conn: psycopg.Connection, db: DbSettings, rows: Sequence[PlanRow]) -> int:
    """Rows of this run still NULL and unchanged: what a re-run would write (0 when complete)."""
    states = read_states(conn, db, [r.library_id for r in rows])
    return sum(1 for r in rows if classify(r, states.get(r.library_id)) == "apply")


def _summary(result: ApplyResult) -> dict[str, Any]:
    data = result.to_json()
    for name in ("sample", "run_id", "thresholds", "decisions_sha256"):  # (in the init line)
        data.pop(name, None)
    return data


__all__ = ["run_apply"]
