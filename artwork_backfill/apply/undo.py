"""`run_undo`: set artwork_url back to NULL where it still holds exactly what an apply run
wrote (its journal), in guarded batches with the same ledger (command `undo-batch`)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from artwork_backfill.apply.hooks import BatchHooks, injected
from artwork_backfill.apply.ledger import reconcile
from artwork_backfill.apply.loop import drive, logged_failure
from artwork_backfill.apply.results import UndoResult
from artwork_backfill.apply.session import open_session, read_states, require_source
from artwork_backfill.apply.settings import ApplySettings
from artwork_backfill.apply.writer import BatchOutcome, BatchWriter, undo_kind
from artwork_backfill.cache.store import Cache
from artwork_backfill.config import DbSettings
from artwork_backfill.errors import UserError
from artwork_backfill.logs import RunLog
from artwork_backfill.stopping import StopFlag


def run_undo(
    cache: Cache,
    db: DbSettings,
    target_run_id: str,
    *,
    execute: bool,
    settings: ApplySettings,
    log: RunLog,
    stop: StopFlag | None = None,
    hooks: BatchHooks | None = None,
) -> UndoResult:
    """Set artwork_url back to NULL where it still holds exactly what `target_run_id` wrote."""
    with logged_failure(log, "undo"):
        return _run_undo(
            cache,
            db,
            target_run_id,
            execute,
            settings,
            log,
            stop or StopFlag(),
            hooks if hooks is not None else injected(),
        )


def _run_undo(
    cache: Cache,
    db: DbSettings,
    target_run_id: str,
    execute: bool,
    settings: ApplySettings,
    log: RunLog,
    stop: StopFlag,
    hooks: BatchHooks,
) -> UndoResult:
    started = time.monotonic()
    require_source(cache, db)
    if target_run_id not in set(cache.runs("apply")["run_id"].to_list()):
        raise UserError(
            f"no apply run {target_run_id!r} in cache {cache.path} "
            "(a dry run records none; use the run_id an `apply --execute` printed)"
        )
    log.info(
        "init",
        "undo " + ("--execute" if execute else "dry run"),
        database=db.display,
        target_run_id=target_run_id,
        batch_size=settings.batch_size,
    )
    with open_session(db, settings, read_only=not execute) as conn:
        recovered = reconcile(cache, conn, db, log, persist=execute)
        journal = cache.journal(target_run_id)
        rows = [
            (int(i), str(u)) for i, u in journal.select("library_id", "artwork_url").iter_rows()
        ]
        if not execute:  # what reconciling would add to that run's journal
            known = set(rows)
            rows += [
                (i, u)
                for run, i, u in recovered.journal
                if run == target_run_id and (i, u) not in known
            ]
        result = UndoResult(
            run_id=target_run_id,
            undo_run_id=log.run_id,
            dry_run=not execute,
            status="dry_run" if not execute else "completed",
            journaled=len(rows),
            reconciled_batches=recovered.batches,
        )
        if not execute:
            states = read_states(conn, db, [i for i, _ in rows])
            result.reverted = sum(1 for i, u in rows if (s := states.get(i)) and s.artwork_url == u)
            result.skipped = len(rows) - result.reverted
            result.elapsed_s = round(time.monotonic() - started, 3)
            log.info(
                "finished",
                "dry run: nothing written",
                reverted=result.reverted,
                skipped=result.skipped,
                target_run_id=target_run_id,
            )
            return result
        cache.start_run(
            "undo", {"target_run_id": target_run_id, "rows": len(rows)}, run_id=log.run_id
        )
        log.info(
            "started",
            f"reverting up to {len(rows)} rows of run {target_run_id}",
            journaled=len(rows),
            target_run_id=target_run_id,
        )

        def count(
            index: int,
            total: int,
            batch: Sequence[tuple[int, str]],
            outcome: BatchOutcome,
            wall_ms: float,
        ) -> None:
            result.reverted += len(outcome.changed)
            result.skipped += len(outcome.others)
            log.info(
                "batch_done",
                f"batch {index}/{total}: reverted {len(outcome.changed)}, skipped {len(outcome.others)}",
                batch_index=index,
                batches=total,
                page_rows=len(batch),
                last_id=batch[-1][0],
                wall_clock_ms=wall_ms,
                reverted=result.reverted,
                skipped=result.skipped,
            )

        writer = BatchWriter(
            conn,
            cache,
            undo_kind(db),
            run_id=log.run_id,
            target_run_id=target_run_id,
            log=log,
            stop=stop,
            hooks=hooks,
        )
        drive(
            writer,
            rows,
            settings,
            result,
            count,
            lambda: result.reverted > 0,
            cache=cache,
            conn=conn,
            db=db,
            log=log,
            started=started,
        )
        log.info(
            "stopped" if result.stopped else "finished",
            f"undo {result.status}: reverted {result.reverted}, skipped {result.skipped}",
            target_run_id=target_run_id,
            reverted=result.reverted,
            skipped=result.skipped,
            not_attempted=result.not_attempted,
            batches=result.batches,
        )
        cache.finish_run(log.run_id, result.status, result.to_json())
        return result


__all__ = ["run_undo"]
