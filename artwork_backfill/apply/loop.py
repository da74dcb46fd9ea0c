"""The batch loop shared by apply and undo (`drive`): the pause between batches, live-DJ
pause, one batch, count; stop between batches when the `StopFlag` is set; ANALYZE once after a
run that wrote (`finish`); every failure ends with one `failed` line (`logged_failure`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from artwork_backfill.apply.pause import LiveActivity
from artwork_backfill.apply.results import ApplyResult, RunFailed, UndoResult
from artwork_backfill.apply.session import table_names
from artwork_backfill.apply.settings import ApplySettings
from artwork_backfill.apply.writer import BatchOutcome, BatchWriter
from artwork_backfill.cache.store import Cache
from artwork_backfill.config import DbSettings
from artwork_backfill.errors import UserError, first_line
from artwork_backfill.logs import RunLog


def drive(
    writer: BatchWriter,
    rows: Sequence[Any],
    settings: ApplySettings,
    result: ApplyResult | UndoResult,
    on_batch: Callable[[int, int, Any, BatchOutcome, float], None],
    wrote: Callable[[], bool],
    *,
    cache: Cache,
    conn: psycopg.Connection,
    db: DbSettings,
    log: RunLog,
    started: float,
) -> None:
    """The batch loop of apply and undo: live-DJ pause, one batch, count; stop between batches.

    After a batch that committed, the loop waits `batch_pause_ms` before the next (in the stop
    flag's slices, so a signal ends the wait at once): the COMMIT fired one CDC notification
    per row and its WAL goes to the standby; the pause lets the listener and replication
    catch up. A batch that changed nothing (rolled back) sent nothing, and needs no pause.

    Ends with ANALYZE when anything was written, also after a failure (which is re-raised as
    `RunFailed` carrying the counts so far).
    """
    live = LiveActivity(conn, db, settings, log, writer.stop)
    total = -(-len(rows) // settings.batch_size)
    done = 0
    pause_s = settings.batch_pause_ms / 1000
    committed = False  # the batch before this one committed rows
    try:
        for index, batch in enumerate(chunks(rows, settings.batch_size), 1):
            if writer.stop.is_set:
                break
            if committed and pause_s > 0 and not writer.stop.sleep(pause_s):
                break
            if not live.wait_until_quiet():
                break
            t0 = time.monotonic()
            outcome = writer.write(index, batch)
            committed = bool(outcome.changed)
            done += len(batch)
            result.batches += 1
            on_batch(index, total, batch, outcome, round((time.monotonic() - t0) * 1000, 1))
    except BaseException as exc:
        result.status = "failed"
        result.not_attempted = len(rows) - done
        finish(conn, db, result, log, started, wrote=wrote())
        cache.finish_run(log.run_id, "failed", result.to_json())
        fields = {k: v for k, v in result.to_json().items() if k not in ("sample", "run_id")}
        if isinstance(exc, UserError):
            raise RunFailed(str(exc), fields) from exc
        if isinstance(exc, psycopg.Error):
            raise RunFailed(
                f"batch {result.batches + 1} failed: {first_line(exc)}; the {result.batches} "
                "batches before it are committed and journaled: run again to continue",
                fields,
            ) from None
        raise
    result.not_attempted = len(rows) - done
    if writer.stop.is_set:
        log.warning(
            "signal",
            f"{writer.stop.signal_name or 'stop'} received: stopped after the batch in flight",
            signal=writer.stop.signal_name,
            batches=result.batches,
            not_attempted=result.not_attempted,
        )
    if result.not_attempted:
        result.stopped, result.status = True, "stopped"
    finish(conn, db, result, log, started, wrote=wrote())


@contextmanager
def logged_failure(log: RunLog, command: str) -> Iterator[None]:
    """Every failure of a run, however early, ends with one `failed` line."""
    try:
        yield
    except BaseException as exc:
        fields = exc.fields if isinstance(exc, RunFailed) else {}
        log.error("failed", f"{command} failed: {first_line(exc)}", **fields)
        raise


def finish(
    conn: psycopg.Connection,
    db: DbSettings,
    result: ApplyResult | UndoResult,
    log: RunLog,
    started: float,
    *,
    wrote: bool,
) -> None:
    """ANALYZE once after a run that wrote (a failure is a warning), and stamp the elapsed time."""
    if wrote and not conn.closed:
        try:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
            conn.execute(sql.SQL("ANALYZE {library}").format(**table_names(db)))
            result.analyzed = True
            log.info("analyzed", f"ANALYZE {db.schema}.library done")
        except psycopg.Error as exc:
            log.warning("analyze_error", f"ANALYZE {db.schema}.library failed: {first_line(exc)}")
    result.elapsed_s = round(time.monotonic() - started, 3)


def chunks(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


__all__ = ["chunks", "drive", "finish", "logged_failure"]
