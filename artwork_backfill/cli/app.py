"""The command line: a thin typer layer over the library. Only __main__ calls sys.exit."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from artwork_backfill import __version__
from artwork_backfill.cache.store import Cache
from artwork_backfill.config import (
    DEFAULT_CACHE,
    DbSettings,
    LmlSettings,
    db_settings,
    lml_settings,
    redact,
)
from artwork_backfill.errors import ExitStatus, UserError, first_line
from artwork_backfill.resolve.run import ResolveResult, run_resolve

app = typer.Typer(
    name="artwork-backfill",
    help="Fill WXYC's library.artwork_url from LML: resolve (ask once, cache everything), "
    "report (score and review), apply (guarded, batched, undoable writes).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class GlobalOptions:
    cache: Path


def _secrets() -> list[str]:
    """Every secret this process could know, so no message ever shows one."""
    found = [os.environ.get("DB_PASSWORD"), os.environ.get("LML_API_KEY")]
    url = os.environ.get("DATABASE_URL")
    if url:
        try:
            from psycopg.conninfo import conninfo_to_dict

            found.append(str(conninfo_to_dict(url).get("password") or ""))
        except Exception:
            pass
    return [s for s in found if s]


_EXTRA_SECRETS: list[str] = []


def _redact(text: str) -> str:
    return redact(text, *_secrets(), *_EXTRA_SECRETS)


def emit_json(data: Any) -> None:
    stdout.out(json.dumps(data, indent=2, default=str), highlight=False)


@app.callback()
def main_options(
    ctx: typer.Context,
    cache: Annotated[
        Path,
        typer.Option(
            "--cache",
            envvar="ARTWORK_BACKFILL_CACHE",
            show_envvar=True,
            help="The DuckDB cache file (answers, snapshot, journal).",
        ),
    ] = DEFAULT_CACHE,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        stdout.print(f"artwork-backfill {__version__}")
        raise typer.Exit(0)
    ctx.obj = GlobalOptions(cache=cache)


# -- shared options ------------------------------------------------------------------------

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="DATABASE_URL",
        show_envvar=True,
        show_default=False,
        help="PostgreSQL URL; wins over the DB_* settings.",
    ),
]
DbHost = Annotated[
    str | None, typer.Option("--db-host", envvar="DB_HOST", show_envvar=True, show_default=False)
]
DbPort = Annotated[
    str | None, typer.Option("--db-port", envvar="DB_PORT", show_envvar=True, help="Default 5432.")
]
DbName = Annotated[
    str | None, typer.Option("--db-name", envvar="DB_NAME", show_envvar=True, show_default=False)
]
DbUser = Annotated[
    str | None,
    typer.Option("--db-user", envvar="DB_USERNAME", show_envvar=True, show_default=False),
]
DbPassword = Annotated[
    str | None,
    typer.Option(
        "--db-password",
        envvar="DB_PASSWORD",
        show_envvar=True,
        show_default=False,
        help="Prefer the environment variable: options show up in `ps`.",
    ),
]
SchemaName = Annotated[
    str,
    typer.Option(
        "--schema", envvar="WXYC_SCHEMA_NAME", show_envvar=True, help="WXYC's schema name."
    ),
]
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
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _db(
    database_url: str | None,
    host: str | None,
    port: str | None,
    name: str | None,
    user: str | None,
    password: str | None,
    schema: str,
) -> DbSettings:
    settings = db_settings(
        database_url=database_url,
        host=host,
        port=port,
        name=name,
        user=user,
        password=password,
        schema=schema,
    )
    if settings.password:
        _EXTRA_SECRETS.append(settings.password)
    return settings


# -- resolve -------------------------------------------------------------------------------


@app.command()
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
            help="HTTP requests per minute, evenly spaced (LML's budget is shared with live traffic).",
        ),
    ] = 50.0,
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
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Ask about at most N keys this run.")
    ] = None,
    as_json: JsonFlag = False,
) -> int:
    """Export candidate rows, ask LML once per distinct (artist, album), cache every answer.

    Safe to stop at any moment (Ctrl-C or kill): a re-run asks only what has no final answer.
    """
    opts: GlobalOptions = ctx.obj
    db = _db(database_url, db_host, db_port, db_name, db_user, db_password, schema)
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
    if lml.api_key:
        _EXTRA_SECRETS.append(lml.api_key)
    with Cache(opts.cache) as cache:
        result = resolve_with_progress(
            cache,
            db,
            lml,
            only_discogs_artists=only_discogs_artists,
            limit=limit,
            recheck_no_match_days=recheck_no_match_days,
        )
    if as_json:
        emit_json(result.to_json())
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
        if result.bulk_unavailable:
            stdout.print("LML has no /lookup/bulk (404): used single lookups")
        if result.transient:
            stdout.print("Re-run `artwork-backfill resolve` later to retry the transient keys.")
    return ExitStatus.INTERRUPTED if result.status == "interrupted" else ExitStatus.OK


def resolve_with_progress(
    cache: Cache,
    db: DbSettings,
    lml: LmlSettings,
    *,
    only_discogs_artists: bool = False,
    limit: int | None = None,
    recheck_no_match_days: float | None = None,
) -> ResolveResult:
    """Run resolve with a progress bar (keys done, requests, rate, ETA) on stderr."""
    progress = Progress(
        TextColumn("[bold]resolve"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("keys"),
        TextColumn("{task.fields[requests]} req"),
        TextColumn("{task.fields[rate]}/min"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr,
        transient=False,
    )
    task_id = None
    started = time.monotonic()

    def on_start(candidates: int, keys: int, to_ask: int) -> None:
        nonlocal task_id
        stderr.print(
            f"{candidates} candidate rows, {keys} distinct keys, {to_ask} to ask "
            f"(LML {lml.display}, {lml.rate_per_min:g}/min, {lml.concurrency} in flight)"
        )
        task_id = progress.add_task("resolve", total=to_ask, requests=0, rate="0")
        progress.start()

    def on_progress(done: int, total: int, requests: int) -> None:
        if task_id is not None:
            elapsed = max(time.monotonic() - started, 1e-6)
            progress.update(
                task_id, completed=done, requests=requests, rate=f"{requests / elapsed * 60:.1f}"
            )

    try:
        return run_resolve(
            cache,
            db,
            lml,
            only_discogs_artists=only_discogs_artists,
            limit=limit,
            recheck_no_match_days=recheck_no_match_days,
            progress=on_progress,
            on_start=on_start,
        )
    finally:
        progress.stop()


@app.command()
def demo(
    rows: Annotated[
        int, typer.Option("--rows", min=50, max=200_000, help="Library rows to generate.")
    ] = 3000,
    seed: Annotated[
        int, typer.Option("--seed", help="Catalog seed (same seed, same catalog).")
    ] = 7,
    workdir: Annotated[
        Path, typer.Option("--workdir", help="Where the demo's cache, review page and CSV go.")
    ] = Path("data/demo"),
    rate_per_min: Annotated[
        float, typer.Option("--rate-per-min", help="Resolve's pace against the local simulator.")
    ] = 3000.0,
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave PostgreSQL and the simulator up until Ctrl-C.")
    ] = False,
) -> int:
    """The whole flow on embedded defaults: throwaway PostgreSQL + LML simulator, resolve,
    report, apply --execute, and a check of every written cover against the ground truth."""
    from artwork_backfill.demo.run import run_demo

    result = run_demo(
        rows=rows,
        seed=seed,
        workdir=workdir,
        rate_per_min=rate_per_min,
        keep=keep,
        console=stdout,
        resolve_step=resolve_with_progress,
    )
    return ExitStatus.OK if result.wrong_covers == 0 else ExitStatus.ERROR


@app.command("export-parquet")
def export_parquet(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Where to write the answers (.parquet).")],
) -> int:
    """Write every cached LML answer to a Parquet file (reads the cache only)."""
    from artwork_backfill.cache.store import Cache

    opts: GlobalOptions = ctx.obj
    with Cache(opts.cache, read_only=True) as cache:
        count = cache.export_parquet(path)
    stdout.print(f"wrote {count} answers to {path}")
    return ExitStatus.OK


# -- entry ---------------------------------------------------------------------------------


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run(argv: list[str]) -> int:
    """Run the CLI; returns the exit status. Errors a user can fix print one line."""
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="artwork-backfill", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        stderr.print("interrupted")
        return ExitStatus.INTERRUPTED
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        exc.message = _redact(exc.message)
        show = getattr(exc, "show", None)
        if show is not None:
            show(file=sys.stderr)
        else:
            stderr.print(f"error: {exc.message}", markup=False)
        return int(exc.exit_code)
    except UserError as exc:
        stderr.print(f"error: {_redact(str(exc))}", markup=False, highlight=False)
        return int(exc.exit_status)
    except KeyboardInterrupt:
        stderr.print(
            "interrupted: everything answered so far is saved; run the command again to continue"
        )
        return ExitStatus.INTERRUPTED
    except psycopg.Error as exc:  # the database refused: permissions, timeouts, a lost server
        first = first_line(exc)
        stderr.print(f"error: database: {_redact(first)}", markup=False)
        return ExitStatus.ERROR
    except Exception as exc:  # a bug: say what, never a secret
        stderr.print(f"error: unexpected {type(exc).__name__}: {_redact(str(exc))}", markup=False)
        if os.environ.get("ARTWORK_BACKFILL_DEBUG"):
            stderr.print(_redact("".join(traceback.format_exception(exc))), markup=False)
        else:
            stderr.print("(set ARTWORK_BACKFILL_DEBUG=1 for the traceback)")
        return ExitStatus.ERROR
    if isinstance(result, int):
        return result
    return ExitStatus.OK


# Commands that live in their own modules register themselves on `app` when imported.
from artwork_backfill.cli import apply, report  # noqa: E402, F401
