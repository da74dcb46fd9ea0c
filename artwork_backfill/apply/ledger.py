"""The write-ahead ledger of batch intents (`Intent`, `Ledger`) and `reconcile`, which settles
the intents of an interrupted run by asking Postgres how each transaction ended.

Crash consistency: Postgres and the DuckDB journal
---------------------------------------------------
A batch's COMMIT and its journal rows live in two systems, and a `kill -9` can fall between
them. The journal must still end up holding every row we wrote (undo depends on it), and
nothing we did not write. Guessing from the data afterwards ("the row holds our URL, so we
must have written it") is not enough: WXYC's API writes the same LML covers to the same rows,
and undo would then erase the API's write. So each batch is written ahead:

1. in the batch transaction: COPY, UPDATE ... RETURNING (now we know exactly which rows this
   transaction changed), then `pg_current_xact_id()`;
2. an *intent* is stored in the cache, durably, before COMMIT: the rows with their URLs and the
   Postgres transaction id (a sub-run `<run_id>:batch:<n>` with command `apply-batch`, status
   `running`);
3. COMMIT;
4. the intent's rows go into the journal (`Cache.journal_write`) and the intent is closed
   (`committed`).

A kill before 2 leaves nothing (Postgres rolls the open transaction back). A kill after 2
leaves an open intent. The next `apply --execute` or `undo --execute` (and the failure path
of the run itself) reconciles every open intent by asking Postgres how its transaction ended,
`pg_xact_status(xid)`, which exists for exactly this "did my COMMIT happen?" question:
`committed` -> journal its rows; `aborted` -> close it as `rolled_back`; `in progress` -> wait
a little (the dying client's backend is rolling back), then refuse to run. When Postgres no
longer knows the xid (too old), the rows that still hold exactly the intent's URL are
journaled. Step 4 is idempotent (the journal's key is (run_id, library_id)), so a kill between
the journal write and closing the intent is harmless. A dry run reports open intents and counts
them as reconciled in memory, writing nothing. Undo batches use the same ledger (command
`undo-batch`), settled with `Cache.record_undo`.

With `synchronous_commit=off`, a Postgres *server* crash can lose the last commits after we
journaled them. The journal then names rows that are still NULL: undo skips them (it reverts
only rows holding exactly the journaled URL), and the next apply writes them again, because a
row counts as `already_applied` only while it holds the journaled URL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import psycopg

from artwork_backfill.apply.session import read_states
from artwork_backfill.cache.store import Cache
from artwork_backfill.config import DbSettings
from artwork_backfill.errors import UserError
from artwork_backfill.logs import RunLog

APPLY_BATCH = "apply-batch"
UNDO_BATCH = "undo-batch"
IN_PROGRESS_WAIT_S = 30.0
# An intent is open until it is settled (`committed`) or closed (`rolled_back`): `running`,
# or `died` once a writable open of the cache marked its process dead (`Cache` marks every
# run left `running` so, intents too). Either way only Postgres can say how its batch ended.
OPEN_STATUSES: tuple[str, ...] = ("running", "died")


@dataclass(frozen=True)
class Intent:
    intent_id: str
    command: str  # APPLY_BATCH | UNDO_BATCH
    run_id: str  # the apply run (apply-batch) or the undo run (undo-batch)
    target_run_id: str | None  # the apply run an undo reverts
    xid: str
    # apply: (id, url, artist, title, band, previous_url, verdict_id); undo: (id, url,
    # previous_url), the value the undo puts back. Intents of older versions lack the tails.
    rows: tuple[tuple[Any, ...], ...]


class Ledger:
    """Batch intents kept in the cache's run log, durable before Postgres commits."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    def begin(self, intent: Intent) -> None:
        self.cache.start_run(
            intent.command,
            {
                "run_id": intent.run_id,
                "target_run_id": intent.target_run_id,
                "xid": intent.xid,
                "rows": [list(r) for r in intent.rows],
            },
            run_id=intent.intent_id,
        )

    def settle(self, intent: Intent, committed_ids: Iterable[int] | None = None) -> int:
        """Record what a committed batch did; idempotent. Returns the rows recorded."""
        ids = None if committed_ids is None else set(committed_ids)
        rows = [r for r in intent.rows if ids is None or r[0] in ids]
        if intent.command == APPLY_BATCH:
            self.cache.journal_write(intent.run_id, rows)
        elif rows:
            assert intent.target_run_id is not None
            self.cache.record_undo(intent.run_id, intent.target_run_id, [r[0] for r in rows])
        self.cache.finish_run(intent.intent_id, "committed", {"rows": len(rows)})
        return len(rows)

    def close(self, intent: Intent, status: str) -> None:
        self.cache.finish_run(intent.intent_id, status, {"rows": 0})

    def pending(self) -> list[Intent]:
        out: list[Intent] = []
        for command in (APPLY_BATCH, UNDO_BATCH):
            runs = self.cache.runs(command)
            for row in runs.filter(pl.col("status").is_in(OPEN_STATUSES)).iter_rows(named=True):
                s = json.loads(row["settings"])
                out.append(
                    Intent(
                        row["run_id"],
                        command,
                        s["run_id"],
                        s.get("target_run_id"),
                        str(s["xid"]),
                        tuple(tuple(r) for r in s["rows"]),
                    )
                )
        return out


@dataclass
class Reconciled:
    batches: int = 0  # intents settled
    rows: int = 0  # rows they recorded (journal or undo log)
    journal: list[tuple[str, int, str]] = field(default_factory=list)  # (run_id, library_id, url)
    undone: list[tuple[str, int]] = field(default_factory=list)  # (apply run_id, library_id)


def reconcile(
    cache: Cache, conn: psycopg.Connection, db: DbSettings, log: RunLog, *, persist: bool
) -> Reconciled:
    """Settle the open intents of interrupted batches by asking Postgres how each one ended.

    With `persist=False` (dry run) nothing is written; the result says what would be.
    """
    ledger = Ledger(cache)
    done = Reconciled()
    for intent in ledger.pending():
        status = xact_status(conn, intent.xid)
        if status == "in progress":
            raise UserError(
                f"a batch of an earlier run (Postgres transaction {intent.xid}) is still open: "
                "wait for it to end (or terminate that backend) and run again"
            )
        if status == "committed":
            committed_ids = None
        elif status == "aborted":
            committed_ids = set()
        else:  # Postgres no longer knows the xid: trust only what the rows hold now
            committed_ids = _ids_holding(conn, db, intent)
        rows = [r for r in intent.rows if committed_ids is None or r[0] in committed_ids]
        if intent.command == APPLY_BATCH:
            done.journal.extend((intent.run_id, int(r[0]), str(r[1])) for r in rows)
        elif intent.target_run_id is not None:
            done.undone.extend((intent.target_run_id, int(r[0])) for r in rows)
        if persist:
            if committed_ids == set():
                ledger.close(intent, "rolled_back")
            else:
                ledger.settle(intent, committed_ids)
            log.warning(
                "reconciled",
                f"batch {intent.intent_id} of an interrupted run: Postgres says {status or 'unknown'}; "
                f"{len(rows)} rows recorded",
                intent=intent.intent_id,
                xact_status=status,
                rows=len(rows),
            )
        done.batches += 1
        done.rows += len(rows)
    if persist:
        _close_dead_runs(cache)
    return done


def xact_status(conn: psycopg.Connection, xid: str) -> str | None:
    deadline = time.monotonic() + IN_PROGRESS_WAIT_S
    while True:
        try:
            row = conn.execute("SELECT pg_xact_status(%s::xid8)", [xid]).fetchone()
        except psycopg.Error:
            return None  # e.g. "transaction ID is in the future" on a restored server
        status = None if row is None else row[0]
        if status != "in progress" or time.monotonic() > deadline:
            return status
        time.sleep(0.5)  # the dead client's backend is still rolling back


def _ids_holding(conn: psycopg.Connection, db: DbSettings, intent: Intent) -> set[int]:
    states = read_states(conn, db, [int(r[0]) for r in intent.rows])
    if intent.command == APPLY_BATCH:
        return {
            int(r[0]) for r in intent.rows if (s := states.get(int(r[0]))) and s.artwork_url == r[1]
        }
    return {
        int(r[0])
        for r in intent.rows
        if (s := states.get(int(r[0]))) and s.artwork_url == (r[2] if len(r) > 2 else None)
    }


def _close_dead_runs(cache: Cache) -> None:
    """Apply/undo runs still `running` died (the cache lock proves no live process owns them)."""
    for command in ("apply", "undo"):
        runs = cache.runs(command)
        for run_id in runs.filter(pl.col("status") == "running")["run_id"].to_list():
            cache.finish_run(run_id, "interrupted", {"note": "process ended without a summary"})


__all__ = [
    "APPLY_BATCH",
    "UNDO_BATCH",
    "Intent",
    "Ledger",
    "Reconciled",
    "reconcile",
    "xact_status",
]
