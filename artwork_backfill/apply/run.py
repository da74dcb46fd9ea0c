"""Phase three: write the plan into `library.artwork_url`, and undo a run. The only module that
writes PostgreSQL.

Plan, then execute (pip-tools style)
------------------------------------
`plan_apply(table, decisions)` is pure: the `high` band, plus `review` rows a reviewer
accepted, minus rows a reviewer rejected, never a row whose URL is empty or fails
`score.cover_problems`, and never a `reject`, `no_match` or `pending` row, whatever a decision
says. Each plan row carries the artist and title the row was resolved with, because the write
is guarded by them.

`run_apply(cache, db, plan, execute=...)` reads the rows' current state (one SELECT, also in a
dry run), leaves out rows an earlier run already wrote (`already_applied`: the row holds a URL
the journal says we wrote), and, with `execute`, writes the rest in batches. Each batch is one
transaction on one connection (`synchronous_commit=off`, `statement_timeout`, `lock_timeout`,
`application_name=wxyc-artwork-backfill`): COPY (id, url, artist, title) into a temp table
(ON COMMIT DROP), then ONE guarded statement

    UPDATE library AS l SET artwork_url = t.url FROM tmp AS t, artists AS a
    WHERE l.id = t.id AND a.id = l.artist_id AND a.artist_name = t.artist
      AND l.album_title = t.title AND l.artwork_url IS NULL AND l.discogs_unavailable = false
    RETURNING l.id

so each batch costs one catalog-watermark bump and its rows' CDC notifications. Rows the UPDATE
skipped are counted in the same transaction: `raced` (same artist and title, but someone else
filled artwork_url first: their value stays) or `stale` (the row changed artist or title, is
flagged discogs_unavailable now, or was deleted). A batch that updates nothing is rolled back,
so it bumps no watermark. `ANALYZE library` runs once after a run that wrote.

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

Resume and stop
---------------
A re-run recomputes the plan; rows written before are `already_applied` and are not sent
again, so a second run reports `applied 0` (and no `raced` noise). Rows an `undo` set back to
NULL are eligible again: keep them out with a `reject` in the decisions file. SIGINT/SIGTERM set a stop
flag: the batch in flight finishes (commit and journal), the run reports `stopped` and the CLI
exits 130 (`ExitStatus.INTERRUPTED`), so a script never mistakes a partial run for a complete
one; a re-run continues. Before each batch, when writing, a cooperative live-DJ pause probes
the flowsheet (see `LiveActivity`).

Test-only hooks (read from the environment, never set in production)
--------------------------------------------------------------------
`ARTWORK_BACKFILL_TEST_BATCH_DELAY_MS`: sleep this long in each batch, half between the intent
and COMMIT and half between COMMIT and the journal write, so a test's external `kill -9`
lands in the windows that matter. `ARTWORK_BACKFILL_TEST_KILL_AT=<point>:<batch>`: SIGKILL this
process at `after_update`, `after_intent`, `after_commit` or `after_journal` of batch `<batch>`.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl
import psycopg
from psycopg import sql

from artwork_backfill.cache.store import Cache, new_run_id
from artwork_backfill.config import APPLICATION_NAME, DbSettings
from artwork_backfill.errors import ConfigError, UserError, first_line
from artwork_backfill.judge.score import Band, cover_problems
from artwork_backfill.logs import RunLog
from artwork_backfill.resolve.candidates import connect

if TYPE_CHECKING:
    from artwork_backfill.review.decisions import Decisions

HIGH = str(Band.HIGH)
REVIEW = str(Band.REVIEW)
APPLY_BATCH = "apply-batch"
UNDO_BATCH = "undo-batch"
LOCK_RETRIES = 3
IN_PROGRESS_WAIT_S = 30.0

# -- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplySettings:
    """Knobs of a write run. `from_env` reads WXYC's variable names."""

    batch_size: int = 5000  # BACKFILL_BATCH_SIZE
    statement_timeout_ms: int = 300_000  # DB_STATEMENT_TIMEOUT_MS; 0 disables
    lock_timeout_ms: int = 5_000  # BACKFILL_LOCK_TIMEOUT_MS; fail fast behind a row lock
    live_pause: bool = True  # --live-pause/--no-live-pause
    lookback_s: int = 60  # LIVE_ACTIVITY_LOOKBACK_SECONDS; 0 disables the pause
    pause_ms: int = 30_000  # LIVE_ACTIVITY_PAUSE_MS, >= 1000
    max_pause_ms: int = 1_800_000  # LIVE_ACTIVITY_MAX_PAUSE_MS; 0 = no ceiling
    sample_size: int = 20

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        batch_size: str | int | None = None,
        live_pause: bool = True,
        sample_size: int = 20,
    ) -> ApplySettings:
        """Validated settings; an explicit `batch_size` wins over BACKFILL_BATCH_SIZE."""
        if batch_size is None:
            batch_size = env.get("BACKFILL_BATCH_SIZE")
        return cls(
            batch_size=parse_int("BACKFILL_BATCH_SIZE (--batch-size)", batch_size, 5000, minimum=1),
            statement_timeout_ms=parse_int(
                "DB_STATEMENT_TIMEOUT_MS", env.get("DB_STATEMENT_TIMEOUT_MS"), 300_000, minimum=0
            ),
            lock_timeout_ms=parse_int(
                "BACKFILL_LOCK_TIMEOUT_MS", env.get("BACKFILL_LOCK_TIMEOUT_MS"), 5_000, minimum=0
            ),
            live_pause=live_pause,
            lookback_s=parse_int(
                "LIVE_ACTIVITY_LOOKBACK_SECONDS",
                env.get("LIVE_ACTIVITY_LOOKBACK_SECONDS"),
                60,
                minimum=0,
            ),
            pause_ms=parse_int(
                "LIVE_ACTIVITY_PAUSE_MS", env.get("LIVE_ACTIVITY_PAUSE_MS"), 30_000, minimum=1000
            ),
            max_pause_ms=parse_int(
                "LIVE_ACTIVITY_MAX_PAUSE_MS",
                env.get("LIVE_ACTIVITY_MAX_PAUSE_MS"),
                1_800_000,
                minimum=0,
            ),
            sample_size=parse_int("--sample", sample_size, 20, minimum=0),
        )


def parse_int(name: str, raw: str | int | None, default: int, *, minimum: int) -> int:
    """A whole number >= minimum; unset or blank means the default. "20banana", "1.5" are refused."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    if isinstance(raw, bool):
        raise ConfigError(f"{name} must be a whole number, not {raw!r}")
    if isinstance(raw, int):
        value = raw
    else:
        text = raw.strip()
        if not (text.isdigit() or (text.startswith("-") and text[1:].isdigit())):
            raise ConfigError(f"{name} must be a whole number, not {raw!r}")
        value = int(text)
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


# -- the plan (pure) ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanRow:
    """One write: the cover for a library row, and the text the row was resolved with."""

    library_id: int
    url: str
    artist_name: str
    album_title: str
    band: str  # the verdict's band ("high", or e.g. "review" for a reviewer-accepted row)
    source: str  # "high" | "accepted"


@dataclass(frozen=True)
class Plan:
    rows: tuple[PlanRow, ...]  # sorted by library_id
    high: int  # rows planned from the high band
    accepted: int  # rows planned because a reviewer accepted them (outside the high band)
    rejected: int  # high-band rows a reviewer rejected
    invalid: int  # rows left out because their URL is missing or fails validation
    invalid_reasons: dict[str, int] = field(default_factory=dict)
    # accepted rows left out because their band is not `review` (`decisions.read_decisions`
    # refuses such a file; this guards a decisions object that reached the plan another way)
    not_reviewable: int = 0

    def __len__(self) -> int:
        return len(self.rows)


def plan_apply(table: pl.DataFrame, decisions: Decisions | None = None) -> Plan:
    """The rows to write: high band + accepted review rows - rejected, with a valid URL each.

    Only a `review` row is taken on a reviewer's accept: an accepted `reject`, `no_match` or
    `pending` row is never planned (counted in `not_reviewable`).
    """
    accepted = set(decisions.accepted) if decisions is not None else set()
    rejected = set(decisions.rejected) if decisions is not None else set()
    rows: list[PlanRow] = []
    counts = {"high": 0, "accepted": 0, "rejected": 0, "invalid": 0, "not_reviewable": 0}
    reasons: dict[str, int] = {}
    columns = [
        "library_id",
        "artist_name",
        "album_title",
        "band",
        "artwork_url",
        "matched_release_id",
        "reasons",
    ]
    for library_id, artist, title, band, url, release_id, verdict_reasons in table.select(
        columns
    ).iter_rows():
        library_id = int(library_id)
        if library_id in rejected:
            if band == HIGH:
                counts["rejected"] += 1
            continue
        if band == HIGH:
            source = "high"
        elif library_id not in accepted:
            continue
        elif band == REVIEW:
            source = "accepted"
        else:
            counts["not_reviewable"] += 1  # reject, no_match, pending: never written
            continue
        problems = cover_problems(url, release_id, verdict_reasons)
        if problems:
            counts["invalid"] += 1
            for code in problems:
                reasons[code] = reasons.get(code, 0) + 1
            continue
        counts[source] += 1
        rows.append(PlanRow(library_id, str(url), str(artist), str(title), str(band), source))
    rows.sort(key=lambda r: r.library_id)
    return Plan(
        tuple(rows),
        counts["high"],
        counts["accepted"],
        counts["rejected"],
        counts["invalid"],
        reasons,
        counts["not_reviewable"],
    )


# -- row state (read only) --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowState:
    """A library row as Postgres holds it now."""

    artwork_url: str | None
    artist_name: str | None
    album_title: str
    discogs_unavailable: bool


def classify(row: PlanRow, state: RowState | None) -> str:
    """What the guarded UPDATE does with `row` given its current state: apply, raced or stale."""
    if (
        state is None
        or state.artist_name != row.artist_name
        or state.album_title != row.album_title
        or state.discogs_unavailable
    ):
        return "stale"
    if state.artwork_url is not None:
        return "raced"
    return "apply"


def _tables(db: DbSettings) -> dict[str, sql.Composable]:
    return {
        "library": sql.Identifier(db.schema, "library"),
        "artists": sql.Identifier(db.schema, "artists"),
        "flowsheet": sql.Identifier(db.schema, "flowsheet"),
    }


def read_states(
    conn: psycopg.Connection, db: DbSettings, ids: Sequence[int]
) -> dict[int, RowState]:
    """Current state of the given library rows (missing ids were deleted)."""
    if not ids:
        return {}
    query = sql.SQL(
        "SELECT l.id, l.artwork_url, a.artist_name, l.album_title, l.discogs_unavailable "
        "FROM {library} AS l LEFT JOIN {artists} AS a ON a.id = l.artist_id "
        "WHERE l.id = ANY(%s)"
    ).format(**_tables(db))
    rows = conn.execute(query, [list(ids)]).fetchall()
    return {r[0]: RowState(r[1], r[2], r[3], bool(r[4])) for r in rows}


# -- results --------------------------------------------------------------------------------


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
    eligible: int  # planned - already_applied: what this run sends to Postgres
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
    reverted: int = 0  # set back to NULL (dry run: would be)
    skipped: int = 0  # no longer hold the value the run wrote (changed since, or undone before)
    not_attempted: int = 0
    batches: int = 0
    stopped: bool = False
    reconciled_batches: int = 0
    analyzed: bool = False
    elapsed_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class LiveActivityCeilingExceeded(UserError):
    """A DJ stayed on air longer than LIVE_ACTIVITY_MAX_PAUSE_MS: the run aborts loudly."""


# -- stop flag and signals -----------------------------------------------------------------------


class StopFlag:
    """Set by SIGINT/SIGTERM (or a test); checked between batches and during pauses."""

    def __init__(self) -> None:
        self.is_set = False
        self.signal_name: str | None = None

    def set(self, signal_name: str | None = None) -> None:
        self.is_set = True
        self.signal_name = signal_name or self.signal_name

    def sleep(self, seconds: float, slice_s: float = 0.5) -> bool:
        """Sleep in slices; False as soon as the flag is set (True: slept the whole time)."""
        deadline = time.monotonic() + seconds
        while not self.is_set:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(slice_s, left))
        return False


@contextmanager
def stop_on_signals(stop: StopFlag) -> Iterator[StopFlag]:
    """While inside: SIGINT and SIGTERM set `stop` instead of raising; repeats are harmless.

    The handler only sets the flag (writing a log line from a handler could re-enter a stream
    the main thread is writing); the batch loop logs step `signal` when it sees the flag.
    Outside the main thread (where Python cannot install handlers) this does nothing.
    """

    def handler(signum: int, frame: object) -> None:
        stop.set(signal.Signals(signum).name)

    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, handler)
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# -- connections ------------------------------------------------------------------------------


def open_session(db: DbSettings, settings: ApplySettings, *, read_only: bool) -> psycopg.Connection:
    """One autocommit connection with the bulk-write session settings.

    Autocommit between batches keeps `now()` live for the flowsheet probe; each batch opens
    its own transaction with `conn.transaction()`. A dry run's session is read only on the
    server's side (`default_transaction_read_only`), so not even a bug could write.
    """
    conn = connect(db, autocommit=True)
    for name, value in (
        ("synchronous_commit", "off"),
        ("statement_timeout", str(settings.statement_timeout_ms)),
        ("lock_timeout", str(settings.lock_timeout_ms)),
        ("application_name", APPLICATION_NAME),
        ("default_transaction_read_only", "on" if read_only else "off"),
    ):
        conn.execute("SELECT set_config(%s, %s, false)", [name, value])
    return conn


def require_source(cache: Cache, db: DbSettings) -> None:
    """The cache must have been made from this very database and schema."""
    source = cache.meta("source")
    if source is None:
        raise UserError(
            f"cache {cache.path} is not bound to any database (nothing was resolved into it): "
            "run `artwork-backfill resolve` against this database first"
        )
    cache.check_source(db.identity)


# -- live-DJ pause ---------------------------------------------------------------------------


class LiveActivity:
    """WXYC's cooperative pause: while a DJ is logging tracks, wait before the next batch.

    The probe reads the flowsheet on the autocommit connection (so `now()` is not frozen at a
    transaction's start, BS#1636). Probe errors fail open (step `probe_error`): a missing
    flowsheet must not block the backfill.
    """

    def __init__(
        self,
        conn: psycopg.Connection,
        db: DbSettings,
        settings: ApplySettings,
        log: RunLog,
        stop: StopFlag,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.log = log
        self.stop = stop
        self.enabled = settings.live_pause and settings.lookback_s > 0
        self.query = sql.SQL(
            "SELECT 1 FROM {flowsheet} WHERE entry_type = 'track' "
            "AND add_time > now() - interval '1 second' * %s LIMIT 1"
        ).format(**_tables(db))

    def active(self) -> bool:
        try:
            return self.conn.execute(self.query, [self.settings.lookback_s]).fetchone() is not None
        except psycopg.Error as exc:
            self.log.warning(
                "probe_error", f"live-activity probe failed, carrying on: {first_line(exc)}"
            )
            return False

    def wait_until_quiet(self) -> bool:
        """True when clear to write; False when stopped while waiting. Raises past the ceiling."""
        if not self.enabled:
            return True
        started = time.monotonic()
        while self.active():
            waited_ms = (time.monotonic() - started) * 1000
            ceiling = self.settings.max_pause_ms
            if ceiling and waited_ms >= ceiling:
                raise LiveActivityCeilingExceeded(
                    f"a DJ has been logging tracks for {waited_ms / 1000:.0f} s, past "
                    f"LIVE_ACTIVITY_MAX_PAUSE_MS={ceiling}: stopped before writing; run again off-air"
                )
            pause_ms = (
                self.settings.pause_ms
                if not ceiling
                else min(self.settings.pause_ms, ceiling - waited_ms)
            )
            self.log.info(
                "live_activity_pause",
                f"a DJ is on air: pausing {pause_ms / 1000:g} s",
                pause_ms=round(pause_ms),
                waited_ms=round(waited_ms),
                lookback_s=self.settings.lookback_s,
            )
            if not self.stop.sleep(max(pause_ms, 0) / 1000):
                return False
        return True


# -- the intent ledger (write-ahead for each batch) -----------------------------------------------


@dataclass(frozen=True)
class Intent:
    intent_id: str
    command: str  # APPLY_BATCH | UNDO_BATCH
    run_id: str  # the apply run (apply-batch) or the undo run (undo-batch)
    target_run_id: str | None  # the apply run an undo reverts
    xid: str
    rows: tuple[tuple[Any, ...], ...]  # apply: (id, url, artist, title, band); undo: (id, url)


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
            for row in runs.filter(pl.col("status") == "running").iter_rows(named=True):
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


def reconcile(
    cache: Cache, conn: psycopg.Connection, db: DbSettings, log: RunLog, *, persist: bool
) -> Reconciled:
    """Settle the open intents of interrupted batches by asking Postgres how each one ended.

    With `persist=False` (dry run) nothing is written; the result says what would be.
    """
    ledger = Ledger(cache)
    done = Reconciled()
    for intent in ledger.pending():
        status = _xact_status(conn, intent.xid)
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


def _xact_status(conn: psycopg.Connection, xid: str) -> str | None:
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
        int(r[0]) for r in intent.rows if (s := states.get(int(r[0]))) and s.artwork_url is None
    }


def _close_dead_runs(cache: Cache) -> None:
    """Apply/undo runs still `running` died (the cache lock proves no live process owns them)."""
    for command in ("apply", "undo"):
        runs = cache.runs(command)
        for run_id in runs.filter(pl.col("status") == "running")["run_id"].to_list():
            cache.finish_run(run_id, "interrupted", {"note": "process ended without a summary"})


# -- batch execution ---------------------------------------------------------------------------


@dataclass
class _TestHooks:
    delay_s: float = 0.0
    kill_point: str | None = None
    kill_batch: int | None = None

    @classmethod
    def from_env(cls) -> _TestHooks:
        delay = parse_int(
            "ARTWORK_BACKFILL_TEST_BATCH_DELAY_MS",
            os.environ.get("ARTWORK_BACKFILL_TEST_BATCH_DELAY_MS"),
            0,
            minimum=0,
        )
        point, batch = None, None
        raw = os.environ.get("ARTWORK_BACKFILL_TEST_KILL_AT")
        if raw:
            point, _, number = raw.partition(":")
            batch = parse_int("ARTWORK_BACKFILL_TEST_KILL_AT batch", number or "1", 1, minimum=1)
        return cls(delay / 1000, point, batch)

    def at(self, point: str, batch: int) -> None:
        if point in ("after_intent", "after_commit") and self.delay_s:
            time.sleep(self.delay_s / 2)
        if self.kill_point == point and self.kill_batch == batch:
            os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class _BatchOutcome:
    changed: list[int]  # rows the statement changed (committed)
    others: list[int]  # rows it left alone


@dataclass
class _BatchKind:
    """What differs between an apply batch and an undo batch."""

    command: str
    create: sql.SQL | sql.Composed
    copy: sql.SQL | sql.Composed
    update: sql.SQL | sql.Composed
    copy_row: Callable[[Any], tuple[Any, ...]]
    intent_row: Callable[[Any], tuple[Any, ...]]
    row_id: Callable[[Any], int]


def _apply_kind(db: DbSettings) -> _BatchKind:
    return _BatchKind(
        command=APPLY_BATCH,
        create=sql.SQL(
            "CREATE TEMP TABLE artwork_batch (id integer PRIMARY KEY, url text NOT NULL, "
            "artist text NOT NULL, title text NOT NULL) ON COMMIT DROP"
        ),
        copy=sql.SQL("COPY artwork_batch (id, url, artist, title) FROM STDIN"),
        update=sql.SQL(
            "UPDATE {library} AS l SET artwork_url = t.url "
            "FROM artwork_batch AS t, {artists} AS a "
            "WHERE l.id = t.id AND a.id = l.artist_id "
            "AND a.artist_name = t.artist AND l.album_title = t.title "
            "AND l.artwork_url IS NULL AND l.discogs_unavailable = false "
            "RETURNING l.id"
        ).format(**_tables(db)),
        copy_row=lambda r: (r.library_id, r.url, r.artist_name, r.album_title),
        intent_row=lambda r: (r.library_id, r.url, r.artist_name, r.album_title, r.band),
        row_id=lambda r: r.library_id,
    )


def _undo_kind(db: DbSettings) -> _BatchKind:
    return _BatchKind(
        command=UNDO_BATCH,
        create=sql.SQL(
            "CREATE TEMP TABLE artwork_undo (id integer PRIMARY KEY, url text NOT NULL) ON COMMIT DROP"
        ),
        copy=sql.SQL("COPY artwork_undo (id, url) FROM STDIN"),
        update=sql.SQL(
            "UPDATE {library} AS l SET artwork_url = NULL FROM artwork_undo AS t "
            "WHERE l.id = t.id AND l.artwork_url = t.url RETURNING l.id"
        ).format(**_tables(db)),
        copy_row=lambda r: (r[0], r[1]),
        intent_row=lambda r: (r[0], r[1]),
        row_id=lambda r: r[0],
    )


class _BatchWriter:
    """Runs batches of one kind: transaction, COPY, one UPDATE, intent, COMMIT, settle."""

    def __init__(
        self,
        conn: psycopg.Connection,
        cache: Cache,
        kind: _BatchKind,
        *,
        run_id: str,
        target_run_id: str | None,
        log: RunLog,
        stop: StopFlag,
    ) -> None:
        self.conn = conn
        self.ledger = Ledger(cache)
        self.kind = kind
        self.run_id = run_id
        self.target_run_id = target_run_id
        self.log = log
        self.stop = stop
        self.hooks = _TestHooks.from_env()

    def write(self, index: int, rows: Sequence[Any]) -> _BatchOutcome:
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

    def _write_once(self, index: int, attempt: int, rows: Sequence[Any]) -> _BatchOutcome:
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
                self.hooks.at("after_update", index)
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
                self.hooks.at("after_intent", index)
            # committed
        except BaseException:
            if intent is not None:
                self._settle_in_doubt(intent)
            raise
        if intent is not None:
            self.hooks.at("after_commit", index)
            self.ledger.settle(intent)
            self.hooks.at("after_journal", index)
        return _BatchOutcome(changed, others)

    def _settle_in_doubt(self, intent: Intent) -> None:
        """The batch failed after its intent was stored: settle it now if Postgres can say how."""
        try:
            status = _xact_status(self.conn, intent.xid)
        except Exception:
            return  # connection gone: the next run reconciles
        if status == "aborted":
            self.ledger.close(intent, "rolled_back")
        elif status == "committed":
            self.ledger.settle(intent)


# -- apply ----------------------------------------------------------------------------------


class RunFailed(UserError):
    """A write run stopped on an error; what it committed before is kept and journaled."""

    def __init__(self, message: str, fields: dict[str, Any]) -> None:
        super().__init__(message)
        self.fields = fields


def run_apply(
    cache: Cache,
    db: DbSettings,
    plan: Plan,
    *,
    execute: bool,
    settings: ApplySettings,
    log: RunLog,
    stop: StopFlag | None = None,
) -> ApplyResult:
    """Dry run (default) or write the plan. The run id is `log.run_id`."""
    with _logged_failure(log, "apply"):
        return _run_apply(cache, db, plan, execute, settings, log, stop or StopFlag())


def _run_apply(
    cache: Cache,
    db: DbSettings,
    plan: Plan,
    execute: bool,
    settings: ApplySettings,
    log: RunLog,
    stop: StopFlag,
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
    )
    with open_session(db, settings, read_only=not execute) as conn:
        recovered = reconcile(cache, conn, db, log, persist=execute)
        journaled = _journaled_pairs(cache) | {(i, u) for _, i, u in recovered.journal}
        states = read_states(conn, db, [r.library_id for r in plan.rows])

        pending: list[PlanRow] = []
        already = other_url = 0
        for row in plan.rows:
            state = states.get(row.library_id)
            holding = state.artwork_url if state is not None else None
            if holding is not None and (row.library_id, holding) in journaled:
                already += 1
                other_url += holding != row.url
            else:
                pending.append(row)
        result = ApplyResult(
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
        )
        result.sample = [
            {
                "library_id": r.library_id,
                "artist_name": r.artist_name,
                "album_title": r.album_title,
                "old": states[r.library_id].artwork_url if r.library_id in states else None,
                "new": r.url,
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
            result.elapsed_s = round(time.monotonic() - started, 3)
            log.info("finished", "dry run: nothing written", **_summary(result))
            return result

        cache.start_run(
            "apply",
            {
                "database": db.display,
                "batch_size": settings.batch_size,
                "planned": len(plan),
                "eligible": len(pending),
            },
            run_id=log.run_id,
        )
        log.info(
            "started",
            f"writing {len(pending)} rows in batches of {settings.batch_size}",
            eligible=len(pending),
            already_applied=already,
            batch_size=settings.batch_size,
        )
        by_id = {r.library_id: r for r in pending}

        def count(
            index: int, total: int, batch: Sequence[PlanRow], outcome: _BatchOutcome, wall_ms: float
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

        writer = _BatchWriter(
            conn, cache, _apply_kind(db), run_id=log.run_id, target_run_id=None, log=log, stop=stop
        )
        _drive(
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


def _journaled_pairs(cache: Cache) -> set[tuple[int, str]]:
    journal = cache.journal()
    if journal.height == 0:
        return set()
    return {(int(i), str(u)) for i, u in journal.select("library_id", "artwork_url").iter_rows()}


# -- undo -----------------------------------------------------------------------------------


def run_undo(
    cache: Cache,
    db: DbSettings,
    target_run_id: str,
    *,
    execute: bool,
    settings: ApplySettings,
    log: RunLog,
    stop: StopFlag | None = None,
) -> UndoResult:
    """Set artwork_url back to NULL where it still holds exactly what `target_run_id` wrote."""
    with _logged_failure(log, "undo"):
        return _run_undo(cache, db, target_run_id, execute, settings, log, stop or StopFlag())


def _run_undo(
    cache: Cache,
    db: DbSettings,
    target_run_id: str,
    execute: bool,
    settings: ApplySettings,
    log: RunLog,
    stop: StopFlag,
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
            outcome: _BatchOutcome,
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

        writer = _BatchWriter(
            conn,
            cache,
            _undo_kind(db),
            run_id=log.run_id,
            target_run_id=target_run_id,
            log=log,
            stop=stop,
        )
        _drive(
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


# -- shared ---------------------------------------------------------------------------------


def _drive(
    writer: _BatchWriter,
    rows: Sequence[Any],
    settings: ApplySettings,
    result: ApplyResult | UndoResult,
    on_batch: Callable[[int, int, Any, _BatchOutcome, float], None],
    wrote: Callable[[], bool],
    *,
    cache: Cache,
    conn: psycopg.Connection,
    db: DbSettings,
    log: RunLog,
    started: float,
) -> None:
    """The batch loop of apply and undo: live-DJ pause, one batch, count; stop between batches.

    Ends with ANALYZE when anything was written, also after a failure (which is re-raised as
    `RunFailed` carrying the counts so far).
    """
    live = LiveActivity(conn, db, settings, log, writer.stop)
    total = -(-len(rows) // settings.batch_size)
    done = 0
    try:
        for index, batch in enumerate(_chunks(rows, settings.batch_size), 1):
            if writer.stop.is_set or not live.wait_until_quiet():
                break
            t0 = time.monotonic()
            outcome = writer.write(index, batch)
            done += len(batch)
            result.batches += 1
            on_batch(index, total, batch, outcome, round((time.monotonic() - t0) * 1000, 1))
    except BaseException as exc:
        result.status = "failed"
        result.not_attempted = len(rows) - done
        _finish(conn, db, result, log, started, wrote=wrote())
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
    _finish(conn, db, result, log, started, wrote=wrote())


@contextmanager
def _logged_failure(log: RunLog, command: str) -> Iterator[None]:
    """Every failure of a run, however early, ends with one `failed` line."""
    try:
        yield
    except BaseException as exc:
        fields = exc.fields if isinstance(exc, RunFailed) else {}
        log.error("failed", f"{command} failed: {first_line(exc)}", **fields)
        raise


def _finish(
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
            conn.execute(sql.SQL("ANALYZE {library}").format(**_tables(db)))
            result.analyzed = True
            log.info("analyzed", f"ANALYZE {db.schema}.library done")
        except psycopg.Error as exc:
            log.warning("analyze_error", f"ANALYZE {db.schema}.library failed: {first_line(exc)}")
    result.elapsed_s = round(time.monotonic() - started, 3)


def _summary(result: ApplyResult) -> dict[str, Any]:
    data = result.to_json()
    data.pop("sample", None)
    data.pop("run_id", None)
    return data


def _chunks(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


__all__ = [
    "ApplyResult",
    "ApplySettings",
    "LiveActivity",
    "LiveActivityCeilingExceeded",
    "Plan",
    "PlanRow",
    "RowState",
    "StopFlag",
    "UndoResult",
    "classify",
    "new_run_id",
    "plan_apply",
    "reconcile",
    "run_apply",
    "run_undo",
    "stop_on_signals",
]
