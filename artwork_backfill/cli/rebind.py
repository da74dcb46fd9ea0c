"""`artwork-backfill rebind`: bind a cache to another database on purpose (a restored copy)."""

from __future__ import annotations

from typing import Annotated

import typer

from artwork_backfill.cache.store import Cache
from artwork_backfill.cli.options import (
    DatabaseUrl,
    DbHost,
    DbName,
    DbPassword,
    DbPort,
    DbUser,
    GlobalOptions,
    SchemaName,
    db_options,
    stdout,
)
from artwork_backfill.db import source_identity
from artwork_backfill.errors import ExitStatus


def rebind(
    ctx: typer.Context,
    database_url: DatabaseUrl = None,
    db_host: DbHost = None,
    db_port: DbPort = None,
    db_name: DbName = None,
    db_user: DbUser = None,
    db_password: DbPassword = None,
    schema: SchemaName = "wxyc_schema",
    execute: Annotated[
        bool, typer.Option("--execute", help="Bind it (without: only say what would change).")
    ] = False,
) -> int:
    """Bind the cache to this database: after a restore into a new cluster, or a move.

    A cache refuses any database but the one it was made from (its system identifier,
    database and schema). When that database was restored elsewhere on purpose, this moves
    the binding; the move is kept in the cache's runs. Undo and apply then check the rows'
    current values as always, so a copy that drifted is still safe.
    """
    opts: GlobalOptions = ctx.obj
    db = db_options(database_url, db_host, db_port, db_name, db_user, db_password, schema)
    identity = source_identity(db)
    with Cache(opts.cache, read_only=not execute) as cache:
        current = cache.meta("source")
        if current == identity:
            stdout.print(f"cache {opts.cache} is already bound to {identity}", markup=False)
            return ExitStatus.OK
        if not execute:
            stdout.print(
                f"dry run: cache {opts.cache} is bound to {current}; with --execute it is bound "
                f"to {identity} ({db.display})",
                markup=False,
            )
            return ExitStatus.OK
        old = cache.rebind_source(identity)
    stdout.print(f"cache {opts.cache}: bound to {identity} (was {old})", markup=False)
    return ExitStatus.OK
