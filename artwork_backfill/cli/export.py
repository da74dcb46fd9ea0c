"""`artwork-backfill export-parquet`: every cached LML answer to a Parquet file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from artwork_backfill.cache.store import Cache
from artwork_backfill.cli.options import GlobalOptions, stdout
from artwork_backfill.errors import ExitStatus


def export_parquet(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Where to write the answers (.parquet).")],
) -> int:
    """Write every cached LML answer to a Parquet file (reads the cache only)."""
    opts: GlobalOptions = ctx.obj
    with Cache(opts.cache, read_only=True) as cache:
        count = cache.export_parquet(path)
    stdout.print(f"wrote {count} answers to {path}")
    return ExitStatus.OK
