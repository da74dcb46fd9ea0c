"""`artwork-backfill audit`: judge the covers already in the catalog (ok / wrong / unverified)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

import typer
from rich.table import Table

from artwork_backfill.cache.store import Cache
from artwork_backfill.cli.options import (
    DatabaseUrl,
    DbHost,
    DbName,
    DbPassword,
    DbPort,
    DbUser,
    GlobalOptions,
    JsonFlag,
    SchemaName,
    db_options,
    emit_json,
    remember_secret,
    stderr,
    stdout,
)
from artwork_backfill.cli.progress import resolve_with_progress
from artwork_backfill.cli.resolve import LmlKey, LmlUrl
from artwork_backfill.config import DEFAULT_RATE_PER_MIN, LmlSettings, lml_settings
from artwork_backfill.errors import ExitStatus

VERDICTS = ("ok", "wrong", "unverified")


def audit(
    ctx: typer.Context,
    database_url: DatabaseUrl = None,
    db_host: DbHost = None,
    db_port: DbPort = None,
    db_name: DbName = None,
    db_user: DbUser = None,
    db_password: DbPassword = None,
    schema: SchemaName = "wxyc_schema",
    lml_url: LmlUrl = None,
    lml_api_key: LmlKey = None,
    rate_per_min: Annotated[
        float,
        typer.Option(
            "--rate-per-min",
            envvar="LML_RATE_PER_MIN",
            show_envvar=True,
            help="HTTP requests per minute, evenly spaced (as resolve).",
        ),
    ] = DEFAULT_RATE_PER_MIN,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Requests in flight at most.")
    ] = 4,
    lookup: Annotated[
        bool,
        typer.Option(
            "--lookup/--no-lookup",
            help="Ask LML about keys with no cached answer (--no-lookup: judge from the URLs "
            "and the cache only, no request at all).",
        ),
    ] = True,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Ask about at most N keys this run.")
    ] = None,
    sample: Annotated[int, typer.Option("--sample", min=0, help="Example rows per verdict.")] = 5,
    as_json: JsonFlag = False,
) -> int:
    """Judge every cover already in library.artwork_url: ok, wrong (a logo, a photo, another
    album's or artist's cover, an unusable URL) or unverified, with reasons.

    Takes the filled rows as the audit snapshot and asks LML about their keys like resolve
    (an answer already cached is reused, never asked again). Writes nothing to the catalog:
    `report` shows the audit, `apply --repair` replaces wrong values.
    """
    from artwork_backfill.review.matches import audit_rows

    opts: GlobalOptions = ctx.obj
    db = db_options(database_url, db_host, db_port, db_name, db_user, db_password, schema)
    lml = (
        lml_settings(
            base_url=lml_url,
            api_key=lml_api_key,
            rate_per_min=rate_per_min,
            concurrency=concurrency,
        )
        if lookup
        else LmlSettings(base_url=lml_url or "http://127.0.0.1:9", api_key=None)  # never asked
    )
    remember_secret(lml.api_key)
    with Cache(opts.cache) as cache:
        result = resolve_with_progress(cache, db, lml, limit=limit, audit=True, lookup=lookup)
        table = audit_rows(cache)
    verdicts = Counter(table["audit"].to_list())
    reasons: Counter[str] = Counter()
    for joined in table["audit_reasons"].to_list():
        reasons.update(r.partition(":")[0] for r in (joined or "").split(";") if r)
    data: dict[str, Any] = {
        "run_id": result.run_id,
        "status": result.status,
        "rows": table.height,
        "keys": result.keys,
        "requests": result.requests,
        "asked": result.asked,
        "verdicts": {v: verdicts.get(v, 0) for v in VERDICTS},
        "reasons": dict(reasons.most_common()),
        "replacements": {
            band: int(((table["audit"] == "wrong") & (table["band"] == band)).sum())
            for band in ("high", "review")
        },
    }
    if as_json:
        emit_json(data)
        stderr.print(result.summary_line(), markup=False, highlight=False)
        return ExitStatus.INTERRUPTED if result.status == "interrupted" else ExitStatus.OK
    summary = Table(title=f"audit of {table.height} filled rows ({result.status})")
    summary.add_column("verdict")
    summary.add_column("rows", justify="right")
    for v in VERDICTS:
        summary.add_row(v, str(verdicts.get(v, 0)))
    stdout.print(summary)
    stdout.print(
        "reasons: " + ", ".join(f"{r} {n}" for r, n in reasons.most_common()), markup=False
    )
    repl = data["replacements"]
    stdout.print(
        f"wrong values with a replacement: {repl['high']} high (apply --repair writes them), "
        f"{repl['review']} for review (accept them on the report's page)",
        markup=False,
    )
    for v in ("wrong", "unverified"):
        rows = table.filter(table["audit"] == v).head(sample)
        for r in rows.iter_rows(named=True):
            stdout.print(
                f"  {v}: library {r['library_id']} {r['artist_name']} - {r['album_title']}: "
                f"{r['audit_reasons']}: {r['current_artwork_url']}",
                markup=False,
                highlight=False,
            )
    stdout.print(result.summary_line(), markup=False, highlight=False)
    return ExitStatus.INTERRUPTED if result.status == "interrupted" else ExitStatus.OK
