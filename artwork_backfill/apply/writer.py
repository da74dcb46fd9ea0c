"""The batch writer (`BatchWriter`): the only code that writes PostgreSQL. One batch of apply
(`apply_kind`) or undo (`undo_kind`) is one transaction on the run's session.

Each batch: COPY (id, url, artist, title) into a temp table (ON COMMIT DROP), then ONE
guarded statement

    UPDATE library AS l SET artwork_url = t.url FROM tmp AS t, artists AS a
    WHERE l.id = t.id AND a.id = l.artist_id AND a.artist_name = t.artist
      AND l.album_title = t.title AND l.artwork_url IS NULL AND l.discogs_unavailable = false
    RETURNING l.id

so each batch costs one catalog-watermark bump and its rows' CDC notifications. A batch that
updates nothing is rolled back, so it bumps no watermark. Before COMMIT the batch's intent is
stored in the ledger (see `apply.ledger`), after COMMIT it is settled into the journal. A lock
timeout or deadlock retries the batch. The `BatchHooks` points (see `apply.hooks`) are no-ops
unless a test injects something there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from artwork_backfill.apply.hooks import BatchHooks
from artwork_backfill.apply.ledger import APPLY_BATCH, UNDO_BATCH, Intent, Ledger, xact_status
from artwork_backfill.apply.session import table_names
from artwork_backfill.cache.store import Cache
from artwork_backfill.config import DbSettings
from artwork_backfill.errors import first_line
from artwork_backfill.logs import RunLog
from artwork_backfill.stopping import StopFlag

LOCK_RETRIES = 3


@dataclass
class BatchOutcome:
    changed: list[int]  # rows the statement changed (committed)
    others: list[int]  # rows it left alone


@dataclass
class BatchKind:
    """What differs between an apply batch and an undo batch."""

    command: str
    create: sql.SQL | sql.Composed
    copy: sql.SQL | sql.Composed
    update: sql.SQL | sql.Composed
    copy_row: Callable[[Any], tuple[Any, ...]]
    intent_row: Callable[[Any], tuple[Any, ...]]
    row_id: Callable[[Any], int]


def apply_kind(db: DbSettings) -> BatchKind:
    """The backfill: each row gets its cover only while it is still NULL, with the same
    artist and title, not flagged."""
    return _write_kind(db, holds=sql.SQL("l.artwork_url IS NULL"))


def repair_kind(db: DbSettings) -> BatchKind:
    """`apply --repair`: each row gets its replacement (NULL for a clear) only where it still
    holds the value audited (`previous`), with the same artist and title, not flagged."""
    return _write_kind(db, holds=sql.SQL("l.artwork_url = t.previous"))


def _write_kind(db: DbSettings, *, holds: sql.SQL) -> BatchKind:
    """An apply batch; `holds` is what the row must hold now for the write to take it."""
    return BatchKind(
        command=APPLY_BATCH,
        create=sql.SQL(
            "CREATE TEMP TABLE artwork_batch (id integer PRIMARY KEY, url text, previous text, "
            "artist text NOT NULL, title text NOT NULL) ON COMMIT DROP"
        ),
        copy=sql.SQL("COPY artwork_batch (id, url, previous, artist, title) FROM STDIN"),
        update=sql.SQL(
            "UPDATE {library} AS l SET artwork_url = t.url "
            "FROM artwork_batch AS t, {artists} AS a "
            "WHERE l.id = t.id AND a.id = l.artist_id "
            "AND a.artist_name = t.artist AND l.album_title = t.title "
            "AND {holds} AND l.discogs_unavailable = false "
            "RETURNING l.id"
        ).format(holds=holds, **table_names(db)),
        copy_row=lambda r: (
            r.library_id,
            None if r.clear else r.url,
            r.previous,
            r.artist_name,
            r.album_title,
        ),
        # journaled with the value the write replaced (None for a backfill); a repair's clear
        # is journaled as "" (NULL was written)
        intent_row=lambda r: (
            r.library_id,
            "" if r.clear else r.url,
            r.artist_name,
            r.album_title,
            r.band,
            r.previous,
            r.verdict_id,
        ),
        row_id=lambda r: r.library_id,
    )


def undo_kind(db: DbSettings) -> BatchKind:
    """Rows (library_id, url the run wrote, previous value): each row that still holds the
    run's URL gets back the value that write replaced (NULL for a backfill)."""
    return BatchKind(
        command=UNDO_BATCH,
        create=sql.SQL(
            "CREATE TEMP TABLE artwork_undo (id integer PRIMARY KEY, url text, "
            "previous text) ON COMMIT DROP"
        ),
        copy=sql.SQL("COPY artwork_undo (id, url, previous) FROM STDIN"),
        # a repair's clear is journaled as "" (it wrote NULL): undo finds the row still NULL
        update=sql.SQL(
            "UPDATE {library} AS l SET artwork_url = t.previous FROM artwork_undo AS t "
            "WHERE l.id = t.id AND l.artwork_url IS NOT DISTINCT FROM t.url RETURNING l.id"
        ).format(**table_names(db)),
        copy_row=lambda r: (r[0], r[1] or None, r[2]),
        intent_row=lambda r: (r[0], r[1], r[2]),
        row_id=lambda r: r[0],
    )


class BatchWriter:
    """Runs batches of one kind: transaction, COPY, one UPDATE, intent, COMMIT, settle."""

    def __init__(
        self,
        conn: psycopg.Connection,
        cache: Cache,
        kind: BatchKind,
        *,
        run_id: str,
        target_run_id: str | None,
        log: RunLog,
        stop: StopFlag,
        hooks: BatchHooks,
    ) -> None:
        self.conn = conn
        self.ledger = Ledger(cache)
        self.kind = kind
        self.run_id = run_id
        self.target_run_id = target_run_id
        self.log = log
        self.stop = stop
        self.hooks = hooks

    def write(self, index: int, rows: Sequence[Any]) -> BatchOutcome:
        """One batch, retried on a lock timeout or deadlock (the rows are locked by a live writer)."""
        for attempt in range(1, LOCK_RETRIES + 1):
            try:
                return self._write_once(index, attempt, rows)
            except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected) as exc:
                if attempt == LOCK_RETRIES:
                    raise
                self.log.warning(
                    "batch_retry",
                    f"batch {index}: {first_line(exc)}; retrying",
                    batch_index=index,
                    attempt=attempt,
                )
                self.stop.sleep(attempt)
        raise AssertionError("unreachable")

    def _write_once(self, index: int, attempt: int, rows: Sequence[Any]) -> BatchOutcome:
        kind = self.kind
        intent: Intent | None = None
        try:
            with self.conn.transaction() as tx:
                cur = self.conn.cursor()
                cur.execute(kind.create)
                with cur.copy(kind.copy) as copy:
                    for row in rows:
                        copy.write_row(kind.copy_row(row))
                changed = [r[0] for r in cur.execute(kind.update).fetchall()]
                self.hooks.after_update(index)
                changed_set = set(changed)
                others = [kind.row_id(r) for r in rows if kind.row_id(r) not in changed_set]
                if not changed:
                    raise psycopg.Rollback(tx)  # nothing to keep: no watermark bump
                xid_row = cur.execute("SELECT pg_current_xact_id()::text").fetchone()
                assert xid_row is not None
                intent = Intent(
                    intent_id=f"{self.run_id}:batch:{index}:{attempt}",
                    command=kind.command,
                    run_id=self.run_id,
                    target_run_id=self.target_run_id,
                    xid=str(xid_row[0]),
                    rows=tuple(kind.intent_row(r) for r in rows if kind.row_id(r) in changed_set),
                )
                self.ledger.begin(intent)
                self.hooks.after_intent(index)
            # committed
        except BaseException:
            if intent is not None:
                self._settle_in_doubt(intent)
            raise
        if intent is not None:
            self.hooks.after_commit(index)
            self.ledger.settle(intent)
            self.hooks.after_journal(index)
        return BatchOutcome(changed, others)

    def _settle_in_doubt(self, intent: Intent) -> None:
        """The batch failed after its intent was stored: settle it now if Postgres can say how."""
        try:
            status = xact_status(self.conn, intent.xid)
        except Exception:
            return  # connection gone: the next run reconciles
        if status == "aborted":
            self.ledger.close(intent, "rolled_back")
        elif status == "committed":
            self.ledger.settle(intent)


__all__ = ["BatchKind", "BatchOutcome", "BatchWriter", "apply_kind", "repair_kind", "undo_kind"]
