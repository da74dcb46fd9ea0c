"""The cache's layout: the tables (DDL), the layout version, and the migrations of older
layouts (a writable open migrates them in one transaction; a read-only open reads them as
they are). `cache.store` opens a file through `open_layout` and owns every query after that."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from artwork_backfill.errors import UserError
from artwork_backfill.judge.answers import body_has_artwork, classify_body

SCHEMA_VERSION = "3"
# Layouts this tool still opens: a writable open migrates them to SCHEMA_VERSION, a read-only
# one reads them as they are (missing columns read as null).
#   1 -> 2: candidates.discogs_artist_id (the shelf artist's Discogs id) added; stored
#           answers judged again: has_artwork means "a usable cover URL" (a spacer,
#           placeholder, artist photo or label logo no longer counts), and final answers
#           without a results list or whose shed tail took the own row's cover are transient.
#   2 -> 3: journal.previous_artwork_url (the value a write replaced: NULL for a backfill, the
#           old cover for an audit's repair) and journal.verdict_id (the verdict written);
#           the audit snapshot (audit_rows: filled rows with their current value).
OLDER_VERSIONS = ("1", "2")

DDL = [
    """CREATE TABLE IF NOT EXISTS meta (
        name VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR PRIMARY KEY,
        command VARCHAR NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        status VARCHAR NOT NULL,
        settings VARCHAR,
        summary VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS keys (
        key_id VARCHAR PRIMARY KEY,
        artist VARCHAR NOT NULL,
        album VARCHAR NOT NULL,
        first_seen_run VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS candidates (
        library_id INTEGER PRIMARY KEY,
        legacy_release_id BIGINT NOT NULL,
        artist_name VARCHAR NOT NULL,
        album_title VARCHAR NOT NULL,
        format_name VARCHAR,
        has_discogs_artist BOOLEAN NOT NULL,
        key_id VARCHAR NOT NULL,
        snapshot_run VARCHAR NOT NULL,
        exported_at TIMESTAMPTZ NOT NULL,
        discogs_artist_id BIGINT)""",
    "CREATE SEQUENCE IF NOT EXISTS response_seq START 1",
    """CREATE TABLE IF NOT EXISTS responses (
        response_id BIGINT PRIMARY KEY DEFAULT nextval('response_seq'),
        run_id VARCHAR NOT NULL,
        key_id VARCHAR NOT NULL,
        endpoint VARCHAR NOT NULL,
        http_status INTEGER,
        classification VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        has_artwork BOOLEAN NOT NULL,
        body VARCHAR,
        attempt INTEGER NOT NULL,
        latency_ms DOUBLE NOT NULL,
        requested_at TIMESTAMPTZ NOT NULL,
        received_at TIMESTAMPTZ NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS journal (
        run_id VARCHAR NOT NULL,
        library_id INTEGER NOT NULL,
        artwork_url VARCHAR NOT NULL,
        artist_name VARCHAR,
        album_title VARCHAR,
        band VARCHAR,
        written_at TIMESTAMPTZ NOT NULL,
        previous_artwork_url VARCHAR,
        verdict_id VARCHAR,
        PRIMARY KEY (run_id, library_id))""",
    """CREATE TABLE IF NOT EXISTS audit_rows (
        library_id INTEGER PRIMARY KEY,
        legacy_release_id BIGINT NOT NULL,
        artist_name VARCHAR NOT NULL,
        album_title VARCHAR NOT NULL,
        format_name VARCHAR,
        has_discogs_artist BOOLEAN NOT NULL,
        discogs_artist_id BIGINT,
        key_id VARCHAR NOT NULL,
        artwork_url VARCHAR NOT NULL,
        snapshot_run VARCHAR NOT NULL,
        exported_at TIMESTAMPTZ NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS undo_log (
        undo_run_id VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        library_id INTEGER NOT NULL,
        reverted_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (undo_run_id, run_id, library_id))""",
]


def _run(
    conn: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run a statement to completion (duckdb 2 refuses new work while a result is open)."""
    return conn.execute(query, params or []).fetchall()


def open_layout(conn: duckdb.DuckDBPyConnection, path: Path, *, read_only: bool) -> set[str]:
    """Create the tables of a new cache, check an existing cache's layout, migrate old ones.

    Returns the candidates table's columns (an old layout opened read-only lacks some).
    """
    if not read_only:
        for statement in DDL:
            _run(conn, statement)
    row = _run(conn, "SELECT value FROM meta WHERE name = 'schema_version'")
    version = str(row[0][0]) if row else None
    if version is None and not read_only:
        _run(
            conn,
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (name) DO NOTHING",
            [SCHEMA_VERSION],
        )
        version = SCHEMA_VERSION
    if version is not None and version != SCHEMA_VERSION:
        if version not in OLDER_VERSIONS:
            raise UserError(
                f"cache {path} has layout version {version}; this tool reads "
                f"{', '.join((*OLDER_VERSIONS, SCHEMA_VERSION))}: use a newer artwork-backfill"
            )
        if not read_only:
            migrate(conn, version)
    return {
        str(r[0])
        for r in _run(
            conn,
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = 'candidates'",
        )
    }


def migrate(conn: duckdb.DuckDBPyConnection, version: str) -> None:
    """Bring an older layout up to SCHEMA_VERSION, in one transaction."""
    _run(conn, "BEGIN TRANSACTION")
    try:
        if version == "1":
            _run(conn, "ALTER TABLE candidates ADD COLUMN IF NOT EXISTS discogs_artist_id BIGINT")
            rejudge_answers(conn)
        if version in ("1", "2"):
            _run(conn, "ALTER TABLE journal ADD COLUMN IF NOT EXISTS previous_artwork_url VARCHAR")
            _run(conn, "ALTER TABLE journal ADD COLUMN IF NOT EXISTS verdict_id VARCHAR")
        _run(conn, "UPDATE meta SET value = ? WHERE name = 'schema_version'", [SCHEMA_VERSION])
        _run(conn, "COMMIT")
    except BaseException:
        _run(conn, "ROLLBACK")
        raise


# Stored answers that today's rules may judge differently from layout 1's: any that
# counted a cover (a spacer, placeholder, photo or logo no longer does), and final ones
# without a results list or with a shed tail (contract §5.5: not answers, ask again).
_REJUDGE_SQL = """
    SELECT r.response_id, r.classification, r.reason, r.has_artwork, r.body, s.legacy
    FROM responses r
    LEFT JOIN (SELECT key_id, list_sort(list_distinct(list(legacy_release_id))) AS legacy
               FROM candidates GROUP BY key_id) s USING (key_id)
    WHERE r.response_id > ?
      AND (r.has_artwork
           OR (r.classification IN ('match', 'no_match')
               AND CASE WHEN r.body IS NULL OR NOT json_valid(r.body) THEN true
                        ELSE coalesce(json_type(r.body, '$.results'), '') <> 'ARRAY'
                             OR coalesce(json_extract_string(r.body, '$.degraded'), '')
                                = 'true'
                   END))
    ORDER BY r.response_id
    LIMIT ?
"""


def rejudge_answers(conn: duckdb.DuckDBPyConnection, page: int = 2000) -> None:
    """Judge stored answers by today's rules (layout 1 -> 2), so resume and scoring agree.

    `has_artwork` is derived again (a usable cover URL); a final answer that today's
    classification calls otherwise (no results list, or a shed tail that took the key's
    own row's cover: transient) takes the new classification and reason. The bodies
    themselves are never changed.
    """
    changed: list[tuple[int, bool, str, str]] = []
    last = -1
    while True:
        rows = _run(conn, _REJUDGE_SQL, [last, page])
        if not rows:
            break
        for response_id, cls, reason, has_artwork, body, legacy in rows:
            try:
                parsed = json.loads(body) if body else None
            except ValueError:
                parsed = None
            has = body_has_artwork(parsed)
            new_cls, new_reason = str(cls), str(reason)
            if new_cls in ("match", "no_match"):
                judged, why = classify_body(parsed, tuple(int(i) for i in legacy or ()))
                if str(judged) != new_cls:
                    new_cls, new_reason = str(judged), why
            if has != bool(has_artwork) or new_cls != cls:
                changed.append((int(response_id), has, new_cls, new_reason))
        last = int(rows[-1][0])
    if not changed:
        return
    frame = pl.DataFrame(
        changed,
        schema={
            "response_id": pl.Int64,
            "has_artwork": pl.Boolean,
            "classification": pl.String,
            "reason": pl.String,
        },
        orient="row",
    )
    conn.register("_rejudged", frame)
    try:
        _run(
            conn,
            "UPDATE responses SET has_artwork = u.has_artwork, "
            "classification = u.classification, reason = u.reason "
            "FROM _rejudged u WHERE responses.response_id = u.response_id",
        )
    finally:
        conn.unregister("_rejudged")
