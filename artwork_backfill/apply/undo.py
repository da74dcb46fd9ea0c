"""`run_undo`: give each row an apply run wrote back the value that write replaced (NULL for a
backfill; the journal's `previous_artwork_url`), in guarded batches with the same ledger
(command `undo-batch`).

Only rows whose current value came from that run's write are reverted:
- the row still holds the run's URL (the guarded UPDATE: `artwork_url = <the run's URL>`),
  else it is `skipped` (changed since, by a person, the API or a repair);
- the run's write is still the row's latest standing write (`RowHistory.owner`): a later
  run of ours that wrote the row (even the same URL) owns it (`superseded`), and a row an
  earlier undo of this run already reverted is not touched again (`already_undone`), so a
  second undo is a no-op and the API's later write of the same URL stays.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from artwork_backfill.apply.history import RowHistory
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
    """Give back what `target_run_id`'s writes replaced, where the row still holds its write."""
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
        hooks.on_session(conn)
        recovered = reconcile(cache, conn, db, log, persist=execute)
        journal = cache.journal(target_run_id)
        previous = (
            journal["previous_artwork_url"].to_list()
            if "previous_artwork_url" in journal.columns
            else [None] * journal.height
        )
        written: list[tuple[int, str, str | None]] = [
            (int(i), str(u), p)
            for (i, u), p in zip(
                journal.select("library_id", "artwork_url").iter_rows(), previous, strict=True
            )
        ]
        if not execute:  # what reconciling would add to that run's journal
            known = {(i, u) for i, u, _ in written}
            written += [
                (i, u, None)
                for run, i, u in recovered.journal
                if run == target_run_id and (i, u) not in known
            ]
        history = RowHistory.load(
            cache,
            more_writes=() if execute else recovered.journal,
            more_undone=() if execute else recovered.undone,
        )
        rows: list[tuple[int, str, str | None]] = []
        already_undone = superseded = 0
        for row in written:
            owner = history.owner(row[0])
            if owner is not None and owner.run_id == target_run_id:
                rows.append(row)
            elif any(
                w.run_id == target_run_id and w.undone for w in history.writes.get(row[0], ())
            ):
                already_undone += 1
            else:
                superseded += 1
        result = UndoResult(
            run_id=target_run_id,
            undo_run_id=log.run_id,
            dry_run=not execute,
            status="dry_run" if not execute else "completed",
            journaled=len(written),
            reconciled_batches=recovered.batches,
            already_undone=already_undone,
            superseded=superseded,
        )
        if not execute:
            states = read_states(conn, db, [i for i, _, _ in rows])
            # a repair's clear is journaled as "": the row it wrote holds NULL
            back = [r for r in rows if (s := states.get(r[0])) and s.artwork_url == (r[1] or None)]
            result.reverted = len(back)
            result.restored_previous = sum(1 for r in back if r[2] is not None)
            result.skipped = len(rows) - result.reverted
            result.elapsed_s = round(time.monotonic() - started, 3)
            log.info(
                "finished",
                "dry run: nothing written",
                reverted=result.reverted,
                skipped=result.skipped,
                already_undone=already_undone,
                superseded=superseded,
                target_run_id=target_run_id,
            )
            return result
        cache.start_run(
            "undo",
            {
                "target_run_id": target_run_id,
                "rows": len(rows),
                "batch_size": settings.batch_size,
                "batch_pause_ms": settings.batch_pause_ms,
            },
            run_id=log.run_id,
        )
        log.info(
            "started",
            f"reverting up to {len(rows)} rows of run {target_run_id}",
            journaled=len(written),
            eligible=len(rows),
            already_undone=already_undone,
            superseded=superseded,
            target_run_id=target_run_id,
        )
        restores = {r[0]: r[2] for r in rows}

        def count(
            index: int,
            total: int,
            batch: Sequence[tuple[int, str, str | None]],
            outcome: BatchOutcome,
            wall_ms: float,
        ) -> None:
            result.reverted += len(outcome.changed)
            result.restored_previous += sum(1 for i in outcome.changed if restores[i] is not None)
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
            f"undo {result.status}: reverted {result.reverted}, skipped {result.skipped}, "
            f"already undone {result.already_undone}, superseded {result.superseded}",
            target_run_id=target_run_id,
            reverted=result.reverted,
            skipped=result.skipped,
            already_undone=result.already_undone,
            superseded=result.superseded,
            not_attempted=result.not_attempted,
            batches=result.batches,
        )
        cache.finish_run(log.run_id, result.status, result.to_json())
        return result


__all__ = ["run_undo"]
