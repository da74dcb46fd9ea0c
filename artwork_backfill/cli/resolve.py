"""`artwork-backfill resolve`: export the candidates, ask LML once per key, cache every answer."""

from __future__ import annotations

from typing import Annotated

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
from artwork_backfill.config import DEFAULT_PARK_AFTER_RUNS, DEFAULT_RATE_PER_MIN, lml_settings
from artwork_backfill.errors import ExitStatus, UserError

LmlUrl = Annotated[
    str | None,
    typer.Option(
        "--lml-url",
        envvar="LIBRARY_METADATA_URL",
        show_envvar=True,
        show_default=False,
        help="LML's base URL; /api/v1/lookup is appended.",
    ),
]
LmlKey = Annotated[
    str | None,
    typer.Option(
        "--lml-api-key",
        envvar="LML_API_KEY",
        show_envvar=True,
        show_default=False,
        help="Sent as Authorization: Bearer.",
    ),
]


def resolve(
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
            help="HTTP requests per minute, evenly spaced. LML's budget (about 50/min) is "
            "shared with the DJs' live lookups: the default leaves them most of it.",
        ),
    ] = DEFAULT_RATE_PER_MIN,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Requests in flight at most.")
    ] = 4,
    bulk: Annotated[
        bool, typer.Option("--bulk/--no-bulk", help="Use /api/v1/lookup/bulk where LML has it.")
    ] = True,
    single_followup: Annotated[
        bool,
        typer.Option(
            "--single-followup/--no-single-followup",
            help="Ask /lookup again for keys bulk answered without artwork.",
        ),
    ] = True,
    max_attempts: Annotated[
        int, typer.Option("--max-attempts", help="Tries per key and run for transient failures.")
    ] = 4,
    max_consecutive_failures: Annotated[
        int,
        typer.Option(
            "--max-consecutive-failures",
            min=1,
            help="Stop when this many HTTP requests in a row fail (LML down or failing).",
        ),
    ] = 20,
    request_timeout: Annotated[
        float,
        typer.Option(
            "--request-timeout", help="Client timeout in seconds for one /lookup (bulk scales it)."
        ),
    ] = 29.0,
    only_discogs_artists: Annotated[
        bool,
        typer.Option("--only-discogs-artists", help="Only rows whose artist has a Discogs id."),
    ] = False,
    recheck_no_match_days: Annotated[
        float | None,
        typer.Option(
            "--recheck-no-match-days",
            min=0,
            help="Ask again about confirmed no-matches older than this many days (default: never).",
        ),
    ] = None,
    park_after_runs: Annotated[
        int,
        typer.Option(
            "--park-after-runs",
            min=1,
            help="Park a key (ask it no more) after this many completed runs asked it without "
            "a final answer (errors, timeouts).",
        ),
    ] = DEFAULT_PARK_AFTER_RUNS,
    retry_parked: Annotated[
        bool, typer.Option("--retry-parked", help="Ask parked keys again this run.")
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Ask about at most N keys this run.")
    ] = None,
    as_json: JsonFlag = False,
) -> int:
    """Export candidate rows, ask LML once per distinct (artist, album), cache every answer.

    Safe to stop at any moment (Ctrl-C or kill): a re-run asks only what has no final answer.
    """
    opts: GlobalOptions = ctx.obj
    db = db_options(database_url, db_host, db_port, db_name, db_user, db_password, schema)
    if not 1 <= max_attempts <= 20:
        raise UserError("--max-attempts must be between 1 and 20")
    if not 0.1 <= request_timeout <= 600:
        raise UserError("--request-timeout must be between 0.1 and 600 seconds")
    lml = lml_settings(
        base_url=lml_url,
        api_key=lml_api_key,
        rate_per_min=rate_per_min,
        concurrency=concurrency,
        use_bulk=bulk,
        single_followup=single_followup,
        max_attempts=max_attempts,
        max_consecutive_failures=max_consecutive_failures,
        timeout_s=request_timeout,
    )
    remember_secret(lml.api_key)
    with Cache(opts.cache) as cache:
        result = resolve_with_progress(
            cache,
            db,
            lml,
            only_discogs_artists=only_discogs_artists,
            limit=limit,
            recheck_no_match_days=recheck_no_match_days,
            park_after_runs=park_after_runs,
            retry_parked=retry_parked,
        )
    if as_json:
        emit_json(result.to_json())
        stderr.print(result.summary_line(), markup=False, highlight=False)
    else:
        table = Table(title=f"resolve {result.status}", show_header=False)
        for label, value in (
            ("run id", result.run_id),
            ("candidate rows", result.candidates),
            ("distinct keys", result.keys),
            ("keys asked this run", result.asked),
            ("HTTP requests", result.requests),
            (
                "requests per minute",
                f"{result.requests_per_min:g} (configured {lml.rate_per_min:g})",
            ),
            ("keys with a final answer", result.final),
            ("keys still transient", result.transient),
            ("keys not asked yet", result.not_asked),
            ("cache", str(opts.cache)),
        ):
            table.add_row(label, str(value))
        stdout.print(table)
        if result.transient_reasons:
            stdout.print(
                "still pending: "
                + ", ".join(f"{r} {n}" for r, n in sorted(result.transient_reasons.items()))
            )
        if result.parked:
            stdout.print(
                f"parked (asked in {park_after_runs} runs without a final answer, not asked "
                f"again until --retry-parked): {result.parked} keys: "
                + ", ".join(f"{r} {n}" for r, n in result.parked_reasons.items())
            )
        if result.slowdowns:
            stdout.print(
                f"LML pushed back {result.slowdowns} times: the pace slowed to one request "
                f"every {result.max_interval_s:g} s at most, and recovered on good answers"
            )
        if result.bulk_unavailable:
            stdout.print("LML has no /lookup/bulk (404): used single lookups")
        if result.transient:
            stdout.print("Re-run `artwork-backfill resolve` later to retry the transient keys.")
        stdout.print(result.summary_line(), markup=False, highlight=False)
    return ExitStatus.INTERRUPTED if result.status == "interrupted" else ExitStatus.OK
