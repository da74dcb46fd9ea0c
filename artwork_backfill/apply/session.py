"""The PostgreSQL session of a run: the connection with the bulk-write settings
(`open_session`), the check that the cache was made from this database (`require_source`),
the schema's table names (`table_names`) and the one read of the rows' current state
(`read_states`)."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from artwork_backfill.apply.plan import RowState
from artwork_backfill.apply.settings import ApplySettings
from artwork_backfill.cache.store import Cache
from artwork_backfill.config import APPLICATION_NAME, DbSettings
from artwork_backfill.db import connect, source_identity
from artwork_backfill.errors import UserError


def table_names(db: DbSettings) -> dict[str, sql.Composable]:
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
    ).format(**table_names(db))
    rows = conn.execute(query, [list(ids)]).fetchall()
    return {r[0]: RowState(r[1], r[2], r[3], bool(r[4])) for r in rows}


def open_session(db: DbSettings, settings: ApplySettings, *, read_only: bool) -> psycopg.Connection:
    """One autocommit connection with the bulk-write session settings.

    Autocommit between batches keeps `now()` live for the flowsheet probe; each batch opens
    its own transaction with `conn.transaction()`. A dry run's session is read only on the
    server's side (`default_transaction_read_only`), so not even a bug could write.

    Session hygiene: `application_name` names the tool in `pg_stat_activity` (also set in the
    connection string); `idle_in_transaction_session_timeout` ends the session of a client
    that stopped inside a batch transaction (hung, or stopped in a debugger), so its row locks
    and the catalog watermark's lock are not held for good (the batch is rolled back and its
    intent reconciled as `rolled_back`); libpq's TCP keepalives (`keepalives_*`, client side)
    notice a dead network path in about idle + interval x count seconds instead of the
    kernel's two hours.
    """
    conn = connect(db, autocommit=True, defaults=settings.keepalive_params())
    for name, value in (
        ("synchronous_commit", "off"),
        ("statement_timeout", str(settings.statement_timeout_ms)),
        ("lock_timeout", str(settings.lock_timeout_ms)),
        ("idle_in_transaction_session_timeout", str(settings.idle_in_transaction_timeout_ms)),
        ("application_name", APPLICATION_NAME),
        ("default_transaction_read_only", "on" if read_only else "off"),
    ):
        conn.execute("SELECT set_config(%s, %s, false)", [name, value])
    return conn


def require_source(cache: Cache, db: DbSettings) -> None:
    """The cache must have been made from this very database and schema.

    The database is known as `resolve` binds it: by the cluster's system identifier, the
    database and the schema (`db.source_identity`); a cache bound by the older host-name form
    (`DbSettings.identity`) is still this database's.
    """
    source = cache.meta("source")
    if source is None:
        raise UserError(
            f"cache {cache.path} is not bound to any database (nothing was resolved into it): "
            "run `artwork-backfill resolve` against this database first"
        )
    cache.check_source(source_identity(db), legacy=db.identity)


__all__ = ["open_session", "read_states", "require_source", "table_names"]
