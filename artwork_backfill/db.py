"""Opening a PostgreSQL connection to WXYC's database: the one place that turns settings into
a connection, with a failure as one redacted line."""

from __future__ import annotations

import psycopg

from artwork_backfill.config import DbSettings
from artwork_backfill.errors import UserError, first_line


def connect(db: DbSettings, *, autocommit: bool = False) -> psycopg.Connection:
    """Open a connection; a failure is a one-line UserError with no password in it."""
    try:
        return psycopg.connect(db.conninfo, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        first = db.redact(first_line(exc))
        raise UserError(f"cannot connect to PostgreSQL at {db.display}: {first}") from None
