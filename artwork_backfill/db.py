"""Opening a PostgreSQL connection to WXYC's database: the one place that turns settings into
a connection, with a failure as one redacted line."""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from artwork_backfill.config import DbSettings
from artwork_backfill.errors import UserError, first_line


def connect(
    db: DbSettings, *, autocommit: bool = False, defaults: Mapping[str, str] | None = None
) -> psycopg.Connection:
    """Open a connection; a failure is a one-line UserError with no password in it.

    `defaults` are libpq connection parameters (e.g. the write session's TCP keepalives)
    used where the settings do not name them: a DATABASE_URL that sets one wins.
    """
    given = conninfo_to_dict(db.conninfo) if defaults else {}
    extra = {k: v for k, v in (defaults or {}).items() if k not in given}
    try:
        conninfo = make_conninfo(db.conninfo, **extra) if extra else db.conninfo
        return psycopg.connect(conninfo, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        first = db.redact(first_line(exc))
        raise UserError(f"cannot connect to PostgreSQL at {db.display}: {first}") from None


def source_identity(db: DbSettings) -> str:
    """Which database this is, whatever name reaches it: `pg:<system identifier>/<database>/
    <schema>`.

    The system identifier (`pg_control_system()`) is fixed when a cluster is created and is
    the same through an SSH tunnel on localhost and on the server's own endpoint, while two
    clusters both reached as `localhost:5432` differ. A restored copy (`pg_basebackup`, a
    snapshot) keeps it; `pg_dump` into a new cluster does not (see `rebind`). Where the
    function is not allowed (some poolers), the host string (`DbSettings.identity`) stands in.
    """
    with connect(db, autocommit=True) as conn:
        try:
            row = conn.execute(
                "SELECT (SELECT system_identifier FROM pg_control_system())::text, "
                "current_database()"
            ).fetchone()
        except psycopg.Error:
            return db.identity
    if row is None or not row[0]:
        return db.identity
    return f"pg:{row[0]}/{row[1]}/{db.schema}"
