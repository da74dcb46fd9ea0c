"""`apply` and `undo`: the commands that write WXYC's Postgres (thin; the work is in `apply/`).

Both are dry runs unless `--execute`; `--dry-run` is accepted and changes nothing; both
together are an error. Exit status: 0 done (or dry run), 1 an error (one line, no traceback;
what was committed before stays committed and journaled), 130 stopped by SIGINT/SIGTERM after
finishing the batch in flight (run the same command again to continue).

Log lines (`--log-format text|json`) go to stdout, errors to stderr; with `--json` every log
line goes to stderr and stdout carries only the JSON result.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

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
    ThresholdOption,
    db_options,
    emit_json,
    parse_thresholds,
    redact_secrets,
    stdout,
)
from artwork_backfill.errors import ExitStatus, UserError
from artwork_backfill.logs import LOG_FORMATS, RunLog

if TYPE_CHECKING:
    from artwork_backfill.apply.results import ApplyResult
    from artwork_backfill.cache.store import Cache

ExecuteFlag = Annotated[
    bool, typer.Option("--execute", help="Write. Without it: a dry run that writes nothing.")
]
DryRunFlag = Annotated[
    bool, typer.Option("--dry-run", help="The default; accepted for explicitness.")
]
BatchSize = Annotated[
    str | None,
    typer.Option(
        "--batch-size",
        envvar="BACKFILL_BATCH_SIZE",
        show_envvar=True,
        show_default=False,
        help="Rows per transaction and UPDATE statement (default 5000).",
    ),
]
IncludeUndone = Annotated[
    bool,
    typer.Option(
        "--include-undone",
        help="Also write rows whose latest write an `undo` took back (left out by default).",
    ),
]
LogFormat = Annotated[
    str,
    typer.Option("--log-format", help="Log lines as `text` or `json` (WXYC's tagged JSON lines)."),
]
LivePause = Annotated[
    bool,
    typer.Option(
        "--live-pause/--no-live-pause",
        help="Wait while a DJ is logging tracks (LIVE_ACTIVITY_* settings; "
        "LIVE_ACTIVITY_LOOKBACK_SECONDS=0 also disables it).",
    ),
]


def _mode(execute: bool, dry_run: bool) -> bool:
    if execute and dry_run:
        raise UserError(
            "contradictory flags: --execute and --dry-run; pass one (a dry run is the default)"
        )
    return execute


def _log(command: str, run_id: str, log_format: str, as_json: bool) -> RunLog:
    fmt = log_format.strip().lower()
    if fmt not in LOG_FORMATS:
        raise UserError(f"--log-format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    return RunLog(
        tool=f"artwork-backfill {command}",
        run_id=run_id,
        fmt=fmt,
        out=sys.stderr if as_json else sys.stdout,
        err=sys.stderr,
        redact=redact_secrets,
    )


def _open_cache(path: Path, *, execute: bool) -> Cache:
    from artwork_backfill.cache.store import Cache

    if not path.exists():
        raise UserError(f"cache {path} does not exist: run `artwork-backfill resolve` first")
    return Cache(path, read_only=not execute)


def apply(
    ctx: typer.Context,
    database_url: DatabaseUrl = None,
    db_host: DbHost = None,
    db_port: DbPort = None,
    db_name: DbName = None,
    db_user: DbUser = None,
    db_password: DbPassword = None,
    schema: SchemaName = "wxyc_schema",
    decisions: Annotated[
        Path | None,
        typer.Option(
            "--decisions",
            help="A reviewer's decisions file: accepted rows are written, rejected never.",
        ),
    ] = None,
    execute: ExecuteFlag = False,
    dry_run: DryRunFlag = False,
    batch_size: BatchSize = None,
    live_pause: LivePause = True,
    include_undone: IncludeUndone = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Replace the values `audit` found wrong with the gate's high cover (or a "
            "reviewer-accepted one), only where the row still holds the value audited.",
        ),
    ] = False,
    clear_wrong: Annotated[
        bool,
        typer.Option(
            "--clear-wrong",
            help="With --repair: clear (NULL) wrong values that have no safe replacement.",
        ),
    ] = False,
    sample: Annotated[int, typer.Option("--sample", min=0, help="Rows shown as old -> new.")] = 20,
    threshold: ThresholdOption = None,
    as_json: JsonFlag = False,
    log_format: LogFormat = "text",
) -> int:
    """Write the plan into library.artwork_url: the high band plus reviewer-accepted rows.

    Guarded, batched (COPY + one UPDATE per batch), journaled and undoable. A dry run unless
    --execute. A re-run writes only what is left (not what an undo took back, unless
    --include-undone); stop it with Ctrl-C or SIGTERM at any time.
    """
    import dataclasses
    import hashlib

    from artwork_backfill.apply.plan import plan_apply
    from artwork_backfill.apply.run import run_apply
    from artwork_backfill.apply.session import require_source
    from artwork_backfill.apply.settings import ApplySettings
    from artwork_backfill.cache.store import new_run_id
    from artwork_backfill.review.matches import match_table
    from artwork_backfill.stopping import StopFlag, stop_on_signals

    opts: GlobalOptions = ctx.obj
    if clear_wrong and not repair:
        raise UserError("--clear-wrong goes with --repair (it clears wrong values the audit found)")
    do_write = _mode(execute, dry_run)
    db = db_options(database_url, db_host, db_port, db_name, db_user, db_password, schema)
    settings = ApplySettings.from_env(
        os.environ, batch_size=batch_size, live_pause=live_pause, sample_size=sample
    )
    thresholds = parse_thresholds(threshold)
    log = _log("apply", new_run_id(), log_format, as_json)
    with _open_cache(opts.cache, execute=do_write) as cache:
        require_source(cache, db)
        # with the audit's rows, so a decisions file exported with them reads back whole; the
        # plan takes the backfill's rows, or with --repair the audit's wrong ones
        table = match_table(cache, thresholds, include_audit=True)
        if repair and not table["audit"].is_not_null().any():
            raise UserError(
                f"cache {opts.cache} holds no audit: run `artwork-backfill audit` first"
            )
        chosen = None
        decisions_sha256 = None
        if decisions is not None:
            from artwork_backfill.review.decisions import read_decisions

            chosen = read_decisions(decisions, table)
            decisions_sha256 = hashlib.sha256(decisions.read_bytes()).hexdigest()
        plan = plan_apply(table, chosen, repair=repair, clear_wrong=clear_wrong)
        stop = StopFlag()
        with stop_on_signals(stop):
            result = run_apply(
                cache,
                db,
                plan,
                execute=do_write,
                settings=settings,
                log=log,
                stop=stop,
                include_undone=include_undone,
                thresholds=dataclasses.asdict(thresholds),
                decisions_sha256=decisions_sha256,
            )
    if as_json:
        emit_json(result.to_json())
    else:
        _render_apply(result)
    return ExitStatus.INTERRUPTED if result.stopped else ExitStatus.OK


def _render_apply(r: ApplyResult) -> None:
    title = (
        "apply: dry run, nothing written (add --execute to write)"
        if r.dry_run
        else f"apply {r.status}"
    )
    table = Table(title=title, show_header=False)
    invalid = f"{r.invalid}" + (
        " (" + ", ".join(f"{k} {v}" for k, v in sorted(r.invalid_reasons.items())) + ")"
        if r.invalid_reasons
        else ""
    )
    snap = r.snapshot
    rows: list[tuple[str, Any]] = [
        ("run id", r.run_id),
        (
            "snapshot",
            f"{snap.get('rows', 0)} rows of {snap.get('snapshot', '?')}, exported "
            f"{snap.get('exported_to') or '?'} by run {(snap.get('runs') or ['?'])[-1]}"
            + (f" (+{len(snap['runs']) - 1} partial)" if len(snap.get("runs") or []) > 1 else ""),
        ),
        ("high band", r.high),
        ("accepted by a reviewer", r.accepted),
        ("rejected by a reviewer", r.rejected),
        ("refused by the URL check", invalid),
        ("planned", r.planned),
        ("already applied (earlier runs)", r.already_applied),
        (
            "undone earlier (written again)" if r.include_undone else "undone earlier (skipped)",
            r.undone_included if r.include_undone else r.skipped_undone,
        ),
        ("eligible this run", r.eligible),
    ]
    if r.repair:
        rows.insert(1, ("mode", "repair of the audit's wrong values"))
        rows += [
            ("wrong, no replacement: cleared" if r.cleared_planned else "wrong, no replacement: kept",
             r.cleared_planned or r.left_wrong),
            ("repaired" if not r.dry_run else "would repair", r.repaired),
            ("kept (changed since the audit)", r.kept_changed),
        ]  # fmt: skip
    if r.dry_run:
        rows += [
            ("would apply", r.would_apply),
            ("would race (filled since)", r.would_race),
            ("would be stale (row changed)", r.would_stale),
        ]
    else:
        rows += [
            ("applied", r.applied),
            ("raced (someone else filled it; kept)", r.raced),
            ("stale (row changed; skipped)", r.stale),
            ("batches", r.batches),
            ("not attempted (stopped)", r.not_attempted),
            ("remaining", r.remaining),
            ("ANALYZE", "done" if r.analyzed else "not needed" if not r.applied else "failed"),
        ]
    if r.reconciled_batches:
        rows.append(
            (
                "batches of an interrupted run reconciled",
                f"{r.reconciled_batches} ({r.reconciled_rows} rows)",
            )
        )
    rows += [
        ("thresholds", _thresholds_text(r.thresholds)),
        # the first 16 hex digits (the whole hash is in --json and the run log)
        (
            "decisions file SHA-256",
            f"{r.decisions_sha256[:16]}..." if r.decisions_sha256 else "none",
        ),
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    stdout.print(table)
    if r.sample:
        stdout.print(
            "sample (old -> new):" if r.dry_run else "sample of the rows sent (old -> new):"
        )
        for s in r.sample:
            stdout.print(
                f"  {s['library_id']}  {s['artist_name']} - {s['album_title']} [{s['source']}]: "
                f"{s['old'] or 'NULL'} -> {s['new']}",
                markup=False,
            )
    if r.stopped:
        stdout.print(
            "stopped: every committed batch is journaled; run the same command again to continue"
        )


def _thresholds_text(thresholds: dict[str, float] | None) -> str:
    """The thresholds that differ from the defaults (the run records them all)."""
    if thresholds is None:
        return "not recorded"
    import dataclasses

    from artwork_backfill.judge.thresholds import DEFAULT_THRESHOLDS

    defaults = dataclasses.asdict(DEFAULT_THRESHOLDS)
    changed = [f"{k}={v:g}" for k, v in thresholds.items() if defaults.get(k) != v]
    return "defaults" if not changed else "defaults except " + ", ".join(changed)


def undo(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run_id of an `apply --execute` run.")],
    database_url: DatabaseUrl = None,
    db_host: DbHost = None,
    db_port: DbPort = None,
    db_name: DbName = None,
    db_user: DbUser = None,
    db_password: DbPassword = None,
    schema: SchemaName = "wxyc_schema",
    execute: ExecuteFlag = False,
    dry_run: DryRunFlag = False,
    batch_size: BatchSize = None,
    live_pause: LivePause = True,
    as_json: JsonFlag = False,
    log_format: LogFormat = "text",
) -> int:
    """Put back what RUN_ID's writes replaced (NULL for a backfill) where the row still holds
    exactly what RUN_ID wrote.

    Rows changed since (by a person, the API or another run) are skipped, and so are rows a
    later run wrote (even the same URL) and rows an earlier undo already reverted. A dry run
    unless --execute.
    """
    from artwork_backfill.apply.settings import ApplySettings
    from artwork_backfill.apply.undo import run_undo
    from artwork_backfill.cache.store import new_run_id
    from artwork_backfill.stopping import StopFlag, stop_on_signals

    opts: GlobalOptions = ctx.obj
    do_write = _mode(execute, dry_run)
    db = db_options(database_url, db_host, db_port, db_name, db_user, db_password, schema)
    settings = ApplySettings.from_env(os.environ, batch_size=batch_size, live_pause=live_pause)
    log = _log("undo", new_run_id(), log_format, as_json)
    with _open_cache(opts.cache, execute=do_write) as cache:
        stop = StopFlag()
        with stop_on_signals(stop):
            result = run_undo(
                cache, db, run_id, execute=do_write, settings=settings, log=log, stop=stop
            )
    if as_json:
        emit_json(result.to_json())
    else:
        title = (
            "undo: dry run, nothing written (add --execute to write)"
            if result.dry_run
            else f"undo {result.status}"
        )
        table = Table(title=title, show_header=False)
        for label, value in (
            ("apply run", result.run_id),
            ("rows it wrote (journal)", result.journaled),
            ("would revert" if result.dry_run else "reverted", result.reverted),
            ("  of them to an earlier cover (not NULL)", result.restored_previous),
            ("skipped (changed since)", result.skipped),
            ("skipped (already undone)", result.already_undone),
            ("skipped (a later run wrote the row)", result.superseded),
            ("not attempted (stopped)", result.not_attempted),
        ):
            table.add_row(label, str(value))
        stdout.print(table)
    return ExitStatus.INTERRUPTED if result.stopped else ExitStatus.OK
