"""The local DuckDB cache's queries: `Cache` (with `cache.schema`, which owns the layout and
its migrations, the only package that imports duckdb).

It keeps the candidate snapshot, the distinct lookup keys, every raw LML answer (never a
verdict: scoring is a pure function over this cache), the run log, and the apply journal.
Every append is one transaction, committed as soon as an HTTP request's answers are in, so a
`kill -9` loses at most the requests in flight. A cache is bound to the database and schema it
was made from and refuses any other.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from artwork_backfill.cache.schema import open_layout
from artwork_backfill.errors import CacheDamagedError, CacheMismatchError, UserError, first_line
from artwork_backfill.judge.answers import body_has_artwork
from artwork_backfill.model import Answer, CandidateRow, LookupKey

_SMALL_APPEND = 8
RESPONSE_COLUMNS = [
    "run_id",
    "key_id",
    "endpoint",
    "http_status",
    "classification",
    "reason",
    "has_artwork",
    "body",
    "attempt",
    "latency_ms",
    "requested_at",
    "received_at",
]


# Writable handles open in this process, per cache file (see `Cache._mark_dead_runs`).
_OPEN_WRITABLE: dict[str, int] = {}


def _snapshot_table(snapshot: str) -> str:
    if snapshot not in ("candidates", "audit_rows"):
        raise ValueError(f"unknown snapshot {snapshot!r}")
    return snapshot


def _is_io(text: str) -> bool:
    lowered = text.lower()
    return any(
        word in lowered
        for word in (
            "no space",
            "disk",
            "i/o",
            "read-only file system",
            "could not write",
            "failed to write",
        )
    )


def live_path(cache_path: Path) -> Path:
    """Where a running resolve publishes the copy readers open (`Cache.publish_live`)."""
    return cache_path.with_name(cache_path.name + ".live")


def new_run_id() -> str:
    return str(uuid.uuid4())


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


# The candidates table's columns as `Cache.candidates()` returns them, in this order.
CANDIDATE_COLUMNS = (
    "library_id",
    "legacy_release_id",
    "artist_name",
    "album_title",
    "format_name",
    "has_discogs_artist",
    "discogs_artist_id",
    "key_id",
    "snapshot_run",
    "exported_at",
)


class Cache:
    """One open cache file. Use as a context manager, or call close()."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise UserError(
                f"cache {self.path} does not exist: run `artwork-backfill resolve` first"
            )
        if not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(
                    f"cannot create the cache's directory {self.path.parent}: {exc.strerror or exc}"
                ) from None
        self.live = False  # reading the copy a running resolve publishes (see publish_live)
        try:
            self.conn = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower() and read_only and live_path(self.path).exists():
                self.conn = self._open_live()
            elif "lock" in text.lower():
                raise UserError(
                    f"cache {self.path} is in use by another artwork-backfill process; "
                    "wait for it to finish (or stop it) and run again"
                ) from None
            else:
                raise UserError(f"cannot open cache {self.path}: {first_line(exc)}") from None
        except duckdb.Error as exc:
            raise UserError(f"{self.path} is not a usable cache file: {first_line(exc)}") from None
        try:
            with self._operational_errors():
                self._candidate_columns = open_layout(self.conn, self.path, read_only=read_only)
        except duckdb.Error as exc:
            self.conn.close()
            raise UserError(f"{self.path} is not a usable cache file: {first_line(exc)}") from None
        except BaseException:
            self.conn.close()
            raise
        if not read_only:
            key = str(self.path.resolve())
            if _OPEN_WRITABLE.get(key, 0) == 0:
                self._mark_dead_runs()
            _OPEN_WRITABLE[key] = _OPEN_WRITABLE.get(key, 0) + 1
            self._registered = key

    _registered: str | None = None

    # -- the live copy a running resolve publishes ---------------------------------------

    def _open_live(self) -> duckdb.DuckDBPyConnection:
        """Open the copy a running resolve publishes, read-only (the cache itself is locked).

        The publisher holds the copy only for the moments it appends to it: a reader that
        meets it there waits a little and tries again (bounded)."""
        path = live_path(self.path)
        for _ in range(100):
            try:
                conn = duckdb.connect(str(path), read_only=True)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise
                time.sleep(0.05)
                continue
            self.live = True
            return conn
        raise UserError(
            f"cache {self.path} is in use by a running resolve, and its published copy {path} "
            "stayed busy: run the command again"
        )

    def publish_live(self) -> bool:
        """Bring the live copy (`<cache>.live`) up to date for readers; False if a reader has
        it open right now (the next publish catches up).

        DuckDB lets one process hold a file for writing and nobody else read it, so a running
        resolve publishes what readers need (`report`, a dry-run `apply`): the answers are
        appended (only those newer than the copy's), the small tables (meta, runs, keys, the
        snapshot, journal, undo log) copied whole, in one transaction of the copy. Call it
        from the thread that writes the answers, on its own cursor.
        """
        target = str(live_path(self.path)).replace("'", "''")
        try:
            self._all(f"ATTACH '{target}' AS live")
        except UserError:
            return False  # a reader holds it (DuckDB's lock): try on the next publish
        try:
            self._all("BEGIN TRANSACTION")
            for table in ("meta", "runs", "keys", "candidates", "journal", "undo_log"):
                self._all(f"CREATE OR REPLACE TABLE live.{table} AS SELECT * FROM main.{table}")
            self._all(
                "CREATE TABLE IF NOT EXISTS live.responses AS SELECT * FROM main.responses LIMIT 0"
            )
            self._all(
                "INSERT INTO live.responses SELECT * FROM main.responses WHERE response_id > "
                "(SELECT coalesce(max(response_id), 0) FROM live.responses)"
            )
            self._all("COMMIT")
        except BaseException:
            with suppress(Exception):
                self._all("ROLLBACK")
            raise
        finally:
            self._all("DETACH live")
        return True

    def remove_live(self) -> None:
        """The run is over: readers read the cache itself again."""
        for path in (
            live_path(self.path),
            live_path(self.path).with_name(live_path(self.path).name + ".wal"),
        ):
            path.unlink(missing_ok=True)

    def _mark_dead_runs(self) -> None:
        """Runs still `running` when the file is opened for writing are dead: DuckDB's file
        lock keeps every other process out, and no other handle of this process has the file
        open, so whatever left them running (a kill -9, a lost machine) is gone. They are
        marked `died`, with the time it was noticed."""
        self._all(
            "UPDATE runs SET status = 'died', finished_at = ? WHERE status = 'running'",
            [_ts(time.time())],
        )

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        if self._registered is not None:
            _OPEN_WRITABLE[self._registered] -= 1
            self._registered = None
        self.conn.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cursor(self) -> Cache:
        """Another handle on this open cache, for another thread: a DuckDB connection is not
        thread-safe, each thread needs its own cursor (same database, same transactions
        rules). Close it when that thread is done; the file stays open."""
        other = object.__new__(Cache)
        other.path, other.read_only = self.path, self.read_only
        other.conn = self.conn.cursor()
        other._candidate_columns = self._candidate_columns
        return other

    def _all(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a statement to completion (duckdb 2 refuses new work while a result is open)."""
        with self._operational_errors():
            return self.conn.execute(query, params or []).fetchall()

    def _one(self, query: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
        rows = self._all(query, params)
        return rows[0] if rows else None

    def has_audit(self) -> bool:
        """Whether this cache holds an audit snapshot (an older layout read as it is has none)."""
        row = self._one(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_name = 'audit_rows'"
        )
        return bool(row and row[0]) and bool(self._one("SELECT 1 FROM audit_rows LIMIT 1"))

    def audit_rows(self) -> pl.DataFrame:
        """The audit snapshot: the filled rows, their current value, their keys."""
        return self._frame(
            f"SELECT {', '.join(CANDIDATE_COLUMNS)}, artwork_url FROM audit_rows ORDER BY library_id"
        )

    def _frame(self, query: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run a query and return its rows as a polars frame."""
        with self._operational_errors():
            return self.conn.sql(query, params=params).pl()

    @contextmanager
    def _operational_errors(self) -> Iterator[None]:
        """The file failing under us (a full disk, a read-only or vanished directory, damaged
        blocks) is an operational error with one clear line, not a bug. What was committed
        before stays in the file: DuckDB's write-ahead log keeps the last transaction whole."""
        try:
            yield
        except (duckdb.IOException, duckdb.TransactionException) as exc:
            # a commit that cannot reach the disk surfaces as a TransactionException
            text = first_line(exc)
            if isinstance(exc, duckdb.TransactionException) and not _is_io(text):
                raise
            if "corrupt" in text.lower() or "checksum" in text.lower():
                raise CacheDamagedError(self.path, text) from None
            raise UserError(
                f"cache {self.path}: the file could not be read or written ({text}); free disk "
                "space or fix the directory's permissions, then run again: every answer and "
                "journal entry committed so far is kept"
            ) from None
        except (
            duckdb.InternalException,
            duckdb.FatalException,
            duckdb.SerializationException,
        ) as exc:
            raise CacheDamagedError(self.path, first_line(exc)) from None

    # -- identity ------------------------------------------------------------------------

    def meta(self, name: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE name = ?", [name])
        return None if row is None else str(row[0])

    def bind_source(self, identity: str, *, legacy: str | None = None) -> None:
        """Record which database/schema this cache belongs to, or refuse a different one.

        `legacy` is the same database in the older form of identity (host:port/db/schema): a
        cache bound that way is bound again to `identity`, once.
        """
        current = self.meta("source")
        if current is None:
            self._all("INSERT INTO meta VALUES ('source', ?)", [identity])
        elif current != identity and legacy is not None and current == legacy:
            self._all("UPDATE meta SET value = ? WHERE name = 'source'", [identity])
        elif current != identity:
            raise CacheMismatchError(self._mismatch(current, identity))

    def check_source(self, identity: str, *, legacy: str | None = None) -> None:
        current = self.meta("source")
        if current is not None and current not in (identity, legacy):
            raise CacheMismatchError(self._mismatch(current, identity))

    def rebind_source(self, identity: str) -> str | None:
        """Bind this cache to another database on purpose (a restored copy); returns the old
        binding. Recorded as a `rebind` run, so the move is on the record."""
        old = self.meta("source")
        run_id = self.start_run("rebind", {"from": old, "to": identity})
        self._all(
            "INSERT INTO meta VALUES ('source', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [identity],
        )
        self.finish_run(run_id, "completed", {"from": old, "to": identity})
        return old

    def _mismatch(self, current: str, identity: str) -> str:
        return (
            f"cache {self.path} was made from {current}, not {identity}; use the --cache file "
            "that belongs to this database, or, if this database is a restored copy of that "
            "one, bind the cache to it on purpose with `artwork-backfill rebind --execute`"
        )

    # -- runs ----------------------------------------------------------------------------

    def start_run(self, command: str, settings: dict[str, Any], run_id: str | None = None) -> str:
        run_id = run_id or new_run_id()
        self._all(
            "INSERT INTO runs (run_id, command, started_at, status, settings) VALUES (?, ?, ?, 'running', ?)",
            [run_id, command, _ts(time.time()), json.dumps(settings, default=str)],
        )
        return run_id

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        self._all(
            "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE run_id = ?",
            [_ts(time.time()), status, json.dumps(summary, default=str), run_id],
        )

    def runs(self, command: str | None = None) -> pl.DataFrame:
        where = "WHERE command = ?" if command else ""
        params = [command] if command else []
        return self._frame(f"SELECT * FROM runs {where} ORDER BY started_at", params)

    # -- candidates and keys -------------------------------------------------------------

    def replace_candidates(
        self,
        run_id: str,
        rows: Sequence[CandidateRow],
        keys: Iterable[LookupKey],
        *,
        partial: bool = False,
        snapshot: str = "candidates",
    ) -> None:
        """Swap in a fresh candidate snapshot and register new keys, atomically.

        `snapshot` "audit_rows" is the audit's snapshot instead: the filled rows, each with
        its current `artwork_url`.

        With `partial` (an export of a subset, e.g. `--only-discogs-artists`), the rows are
        added to the snapshot or refreshed in it, and the snapshot's other rows stay: a
        partial run never shrinks what a later `apply` plans from.
        """
        now = _ts(time.time())
        frame = pl.DataFrame(
            {
                "library_id": [r.library_id for r in rows],
                "legacy_release_id": [r.legacy_release_id for r in rows],
                "artist_name": [r.artist_name for r in rows],
                "album_title": [r.album_title for r in rows],
                "format_name": [r.format_name for r in rows],
                "has_discogs_artist": [
                    r.has_discogs_artist or r.discogs_artist_id is not None for r in rows
                ],
                "discogs_artist_id": [r.discogs_artist_id for r in rows],
                "key_id": [r.key_id for r in rows],
                "artwork_url": [r.artwork_url or "" for r in rows],
            },
            schema={
                "library_id": pl.Int32,
                "legacy_release_id": pl.Int64,
                "artist_name": pl.String,
                "album_title": pl.String,
                "format_name": pl.String,
                "has_discogs_artist": pl.Boolean,
                "discogs_artist_id": pl.Int64,
                "key_id": pl.String,
                "artwork_url": pl.String,
            },
        )
        table = _snapshot_table(snapshot)
        url_column = ", artwork_url" if table == "audit_rows" else ""
        key_list = list(keys)
        key_frame = pl.DataFrame(
            {
                "key_id": [k.key_id for k in key_list],
                "artist": [k.artist for k in key_list],
                "album": [k.album for k in key_list],
            },
            schema={"key_id": pl.String, "artist": pl.String, "album": pl.String},
        )
        self._all("BEGIN TRANSACTION")
        try:
            self.conn.register("_new_candidates", frame)
            self.conn.register("_new_keys", key_frame)
            if partial:
                self._all(
                    f"DELETE FROM {table} WHERE library_id IN "
                    "(SELECT library_id FROM _new_candidates)"
                )
            else:
                self._all(f"DELETE FROM {table}")
            self._all(
                f"INSERT INTO {table} (library_id, legacy_release_id, artist_name, album_title, "
                f"format_name, has_discogs_artist, discogs_artist_id, key_id{url_column}, "
                "snapshot_run, exported_at) SELECT library_id, legacy_release_id, artist_name, "
                f"album_title, format_name, has_discogs_artist, discogs_artist_id, key_id"
                f"{url_column}, ?, ? FROM _new_candidates",
                [run_id, now],
            )
            self._all(
                "INSERT INTO keys SELECT key_id, artist, album, ? FROM _new_keys ON CONFLICT (key_id) DO NOTHING",
                [run_id],
            )
            self._all("COMMIT")
        except BaseException:
            self._all("ROLLBACK")
            raise
        finally:
            self.conn.unregister("_new_candidates")
            self.conn.unregister("_new_keys")

    def candidates(self) -> pl.DataFrame:
        """The current snapshot, one row per library row, columns as CANDIDATE_COLUMNS.

        A cache of an older layout opened read-only lacks some columns: they read as null
        (`discogs_artist_id`, unknown until the next resolve exports the rows again).
        """
        columns = ", ".join(
            c if c in self._candidate_columns else f"CAST(NULL AS BIGINT) AS {c}"
            for c in CANDIDATE_COLUMNS
        )
        return self._frame(f"SELECT {columns} FROM candidates ORDER BY library_id")

    def snapshot_info(self, snapshot: str = "candidates") -> dict[str, Any]:
        """Which snapshot a plan is made from: its rows, the runs that exported them (a partial
        resolve adds to the last full one) and when."""
        table = _snapshot_table(snapshot)
        rows = self._all(
            f"SELECT snapshot_run, count(*), min(exported_at), max(exported_at) FROM {table} "
            "GROUP BY snapshot_run ORDER BY max(exported_at)"
        )
        return {
            "snapshot": table,
            "rows": sum(int(r[1]) for r in rows),
            "runs": [str(r[0]) for r in rows],
            "exported_from": rows[0][2].isoformat() if rows else None,
            "exported_to": rows[-1][3].isoformat() if rows else None,
        }

    def candidate_count(self) -> tuple[int, int]:
        row = self._one("SELECT count(*), count(DISTINCT key_id) FROM candidates")
        assert row is not None
        return int(row[0]), int(row[1])

    # Keys with a final answer that needs no new question. `?` 1 is the recheck cutoff (the
    # epoch when not rechecking), `?` 2 whether bulk answers without a cover get a single
    # follow-up. A match with a usable cover is done for good; any other final answer (a
    # no-match, or a match whose results hold no usable cover) only while younger than the
    # cutoff.
    _DONE_SQL = """
        SELECT DISTINCT key_id FROM responses
        WHERE ((classification = 'match' AND has_artwork)
               OR (classification IN ('match', 'no_match') AND received_at >= ?))
          AND (endpoint = 'single' OR has_artwork OR NOT ?)
    """

    # Per key: the completed resolve runs that asked it and got no final answer (`failed_runs`),
    # and whether LML ever answered it `timeout: true`. A run stopped by the breaker, by a
    # signal or by a crash does not count: the key was not given its fair tries.
    _TRIES_SQL = """
        SELECT r.key_id,
               count(DISTINCT r.run_id) FILTER (
                   WHERE per_run.final = 0 AND ru.status = 'completed') AS failed_runs,
               bool_or(r.reason = 'timeout_flag') AS timed_out
        FROM responses r
        JOIN (SELECT key_id, run_id,
                     count(*) FILTER (WHERE classification IN ('match', 'no_match')) AS final
              FROM responses GROUP BY key_id, run_id) per_run USING (key_id, run_id)
        LEFT JOIN runs ru ON ru.run_id = r.run_id
        GROUP BY r.key_id
    """

    def keys_to_ask(
        self,
        *,
        single_followup: bool,
        limit: int | None = None,
        no_match_asked_before: datetime | None = None,
        park_after_runs: int | None = None,
        retry_parked: bool = False,
        snapshot: str = "candidates",
    ) -> list[LookupKey]:
        """Keys of the current snapshot that have no final answer yet, never-asked first.

        With `single_followup`, a key whose only final answers came from bulk without a usable
        cover is not done: single /lookup can still find it (row-less probe, live recheck).
        With `no_match_asked_before`, a final answer without a usable cover (a confirmed
        no-match, or a match whose results carry none) received before that time is asked
        again (LML's catalog and Discogs' cache grow); a match with a usable cover is never
        asked again. Each key carries its rows' `legacy_release_ids` (sorted, distinct), and
        whether LML ever answered it `timeout: true`.

        With `park_after_runs`, a key that `park_after_runs` completed runs asked without a
        final answer (errors, timeouts, garbled answers) is parked: not asked, unless
        `retry_parked`. See `parked()`.
        """
        sql = f"""
            WITH snap AS (
                SELECT key_id, list_sort(list_distinct(list(legacy_release_id))) AS legacy
                FROM {_snapshot_table(snapshot)} GROUP BY key_id),
                 done AS ({self._DONE_SQL}),
                 tried AS (SELECT key_id, count(*) AS n FROM responses GROUP BY key_id),
                 tries AS ({self._TRIES_SQL})
            SELECT k.key_id, k.artist, k.album, s.legacy, coalesce(f.timed_out, false)
            FROM keys k JOIN snap s USING (key_id)
            LEFT JOIN done d USING (key_id)
            LEFT JOIN tried t USING (key_id)
            LEFT JOIN tries f USING (key_id)
            WHERE d.key_id IS NULL
              AND (? OR coalesce(f.failed_runs, 0) < ?)
            ORDER BY coalesce(t.n, 0), k.key_id
        """
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        cutoff = no_match_asked_before or datetime.fromtimestamp(0, tz=UTC)
        no_parking = retry_parked or park_after_runs is None
        rows = self._all(sql, [cutoff, single_followup, no_parking, park_after_runs or 0])
        return [
            LookupKey(
                key_id=r[0],
                artist=r[1],
                album=r[2],
                legacy_release_ids=tuple(int(i) for i in (r[3] or ())),
                timed_out=bool(r[4]),
            )
            for r in rows
        ]

    def parked(self, park_after_runs: int) -> pl.DataFrame:
        """Keys of the snapshot parked after `park_after_runs` completed runs without a final
        answer: key_id, artist, album, failed_runs, and the latest answer's reason (why)."""
        return self._frame(
            f"""
            WITH snap AS (SELECT DISTINCT key_id FROM candidates),
                 done AS ({self._DONE_SQL}),
                 tries AS ({self._TRIES_SQL}),
                 latest AS (SELECT key_id, arg_max(reason, response_id) AS reason
                            FROM responses GROUP BY key_id)
            SELECT k.key_id, k.artist, k.album, f.failed_runs, l.reason
            FROM keys k JOIN snap USING (key_id)
            JOIN tries f USING (key_id)
            LEFT JOIN latest l USING (key_id)
            LEFT JOIN done d USING (key_id)
            WHERE d.key_id IS NULL AND f.failed_runs >= ?
            ORDER BY k.key_id
            """,
            [datetime.fromtimestamp(0, tz=UTC), True, park_after_runs],
        )

    def bulk_final_keys(self) -> set[str]:
        """Keys that already have a final bulk answer (a re-run goes straight to single for them)."""
        rows = self._all(
            "SELECT DISTINCT key_id FROM responses WHERE endpoint = 'bulk' AND classification IN ('match','no_match')"
        )
        return {r[0] for r in rows}

    # -- answers -------------------------------------------------------------------------

    def append_answers(self, run_id: str, answers: Sequence[Answer]) -> None:
        """Store one request's answers in one transaction (durable when this returns)."""
        if not answers:
            return
        cols = ", ".join(RESPONSE_COLUMNS)
        if len(answers) <= _SMALL_APPEND:
            # A single lookup's answer: one multi-row VALUES statement is ~4x cheaper than a frame.
            placeholders = "(" + ", ".join("?" * len(RESPONSE_COLUMNS)) + ")"
            params: list[Any] = []
            for a in answers:
                params += [
                    run_id,
                    a.key_id,
                    a.endpoint,
                    a.http_status,
                    str(a.classification),
                    a.reason,
                    body_has_artwork(a.body),
                    None if a.body is None else json.dumps(a.body, ensure_ascii=False),
                    a.attempt,
                    float(a.latency_ms),
                    _ts(a.requested_at),
                    _ts(a.received_at),
                ]
            values = ", ".join([placeholders] * len(answers))
            self._all(f"INSERT INTO responses ({cols}) VALUES {values}", params)
            return
        frame = pl.DataFrame(
            {
                "run_id": [run_id] * len(answers),
                "key_id": [a.key_id for a in answers],
                "endpoint": [a.endpoint for a in answers],
                "http_status": [a.http_status for a in answers],
                "classification": [str(a.classification) for a in answers],
                "reason": [a.reason for a in answers],
                "has_artwork": [body_has_artwork(a.body) for a in answers],
                "body": [
                    None if a.body is None else json.dumps(a.body, ensure_ascii=False)
                    for a in answers
                ],
                "attempt": [a.attempt for a in answers],
                "latency_ms": [float(a.latency_ms) for a in answers],
                "requested_at": [_ts(a.requested_at) for a in answers],
                "received_at": [_ts(a.received_at) for a in answers],
            },
            schema={
                "run_id": pl.String,
                "key_id": pl.String,
                "endpoint": pl.String,
                "http_status": pl.Int32,
                "classification": pl.String,
                "reason": pl.String,
                "has_artwork": pl.Boolean,
                "body": pl.String,
                "attempt": pl.Int32,
                "latency_ms": pl.Float64,
                "requested_at": pl.Datetime("us", "UTC"),
                "received_at": pl.Datetime("us", "UTC"),
            },
        )
        self.conn.register("_new_answers", frame)
        try:
            self._all(f"INSERT INTO responses ({cols}) SELECT {cols} FROM _new_answers")
        finally:
            self.conn.unregister("_new_answers")

    def response_count(self, run_id: str | None = None) -> int:
        if run_id is None:
            row = self._one("SELECT count(*) FROM responses")
        else:
            row = self._one("SELECT count(*) FROM responses WHERE run_id = ?", [run_id])
        assert row is not None
        return int(row[0])

    def key_states(self, snapshot: str = "candidates") -> pl.DataFrame:
        """Per key of the current snapshot: its latest answer, and its state.

        The answer scoring uses is the latest *final* one (a single follow-up supersedes the
        bulk answer it followed); with none final, the latest answer of any kind, whose
        classification says why the key is still pending. A bulk answer without a usable
        cover whose single follow-up failed (a truncated body, a 401 mid-run) is not the
        key's answer yet: the follow-up is owed, so the key is pending with the failure's
        reason, not a no-match. The answer id is chosen first and
        the body joined after, so only one body per key is ever read.
        """
        return self._frame(
            """
            WITH snap AS (SELECT DISTINCT key_id FROM {table}),
            per_key AS (
                SELECT r.key_id,
                       max(r.response_id) FILTER (WHERE r.classification IN ('match','no_match'))
                           AS final_id,
                       arg_max(r.endpoint = 'bulk' AND NOT r.has_artwork, r.response_id)
                           FILTER (WHERE r.classification IN ('match','no_match'))
                           AS final_owes_followup,
                       max(r.response_id) FILTER (
                           WHERE r.endpoint = 'single'
                             AND r.classification NOT IN ('match','no_match')) AS single_failed_id,
                       max(r.response_id) AS last_id,
                       count(*) AS answers
                FROM responses r JOIN snap USING (key_id)
                GROUP BY r.key_id),
            best AS (
                SELECT key_id, answers,
                       CASE WHEN final_id IS NULL THEN last_id
                            WHEN final_owes_followup AND single_failed_id > final_id THEN last_id
                            ELSE final_id END AS response_id
                FROM per_key)
            SELECT k.key_id, k.artist, k.album, r.response_id, r.endpoint, r.http_status,
                   r.classification, r.reason, r.has_artwork, r.body, r.received_at,
                   coalesce(b.answers, 0) AS answers
            FROM keys k JOIN snap USING (key_id)
            LEFT JOIN best b USING (key_id)
            LEFT JOIN responses r ON r.response_id = b.response_id
            ORDER BY k.key_id
            """.replace("{table}", _snapshot_table(snapshot))
        )

    def responses(self) -> pl.DataFrame:
        return self._frame("SELECT * FROM responses ORDER BY response_id")

    def export_parquet(self, path: Path) -> int:
        """Write every cached answer (with its key's text) to one Parquet file."""
        path = Path(path)
        if path.suffix.lower() != ".parquet":
            raise UserError(f"{path}: the export file name must end in .parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        target = str(path).replace("'", "''")
        self._all(
            f"""COPY (SELECT r.*, k.artist, k.album FROM responses r LEFT JOIN keys k USING (key_id)
                     ORDER BY r.response_id)
                TO '{target}' (FORMAT parquet)"""
        )
        return self.response_count()

    # -- journal (apply / undo) -----------------------------------------------------------

    def journal_write(self, run_id: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Record rows a run wrote: (library_id, artwork_url, artist_name, album_title, band),
        optionally followed by (previous_artwork_url, verdict_id): the value the write
        replaced (None for a backfill, the old cover for a repair) and the verdict written."""
        if not rows:
            return
        now = _ts(time.time())

        def extra(r: tuple[Any, ...], i: int) -> Any:
            return r[i] if len(r) > i else None

        frame = pl.DataFrame(
            {
                "run_id": [run_id] * len(rows),
                "library_id": [r[0] for r in rows],
                "artwork_url": [r[1] for r in rows],
                "artist_name": [r[2] for r in rows],
                "album_title": [r[3] for r in rows],
                "band": [r[4] for r in rows],
                "written_at": [now] * len(rows),
                "previous_artwork_url": [extra(r, 5) for r in rows],
                "verdict_id": [extra(r, 6) for r in rows],
            },
            schema={
                "run_id": pl.String,
                "library_id": pl.Int32,
                "artwork_url": pl.String,
                "artist_name": pl.String,
                "album_title": pl.String,
                "band": pl.String,
                "written_at": pl.Datetime("us", "UTC"),
                "previous_artwork_url": pl.String,
                "verdict_id": pl.String,
            },
        )
        cols = ", ".join(frame.columns)
        self.conn.register("_journal_rows", frame)
        try:
            self._all(
                f"INSERT INTO journal ({cols}) SELECT {cols} FROM _journal_rows "
                "ON CONFLICT (run_id, library_id) DO NOTHING"
            )
        finally:
            self.conn.unregister("_journal_rows")

    def journal(self, run_id: str | None = None) -> pl.DataFrame:
        if run_id is None:
            return self._frame("SELECT * FROM journal ORDER BY written_at, library_id")
        return self._frame("SELECT * FROM journal WHERE run_id = ? ORDER BY library_id", [run_id])

    def undo_log(self) -> pl.DataFrame:
        """What undo reverted: (undo_run_id, run_id, library_id, reverted_at) rows."""
        return self._frame("SELECT * FROM undo_log ORDER BY reverted_at, library_id")

    def record_undo(self, undo_run_id: str, run_id: str, library_ids: Sequence[int]) -> None:
        if not library_ids:
            return
        now = _ts(time.time())
        frame = pl.DataFrame(
            {
                "undo_run_id": [undo_run_id] * len(library_ids),
                "run_id": [run_id] * len(library_ids),
                "library_id": list(library_ids),
                "reverted_at": [now] * len(library_ids),
            },
            schema={
                "undo_run_id": pl.String,
                "run_id": pl.String,
                "library_id": pl.Int32,
                "reverted_at": pl.Datetime("us", "UTC"),
            },
        )
        self.conn.register("_undo_rows", frame)
        try:
            self._all("INSERT INTO undo_log SELECT * FROM _undo_rows ON CONFLICT DO NOTHING")
        finally:
            self.conn.unregister("_undo_rows")
