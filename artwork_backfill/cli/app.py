"""The command line: the typer app, its global options, the commands' registration, and
`run()`, which turns every error into one line and an exit status. Only __main__ calls sys.exit.

Each command lives in a module of its own (`cli.resolve`, `cli.report`, `cli.apply` (apply and
undo), `cli.export`, `cli.demo`, `cli.rebind`, `cli.audit`); what they share is in `cli.options`. This
module imports them and registers their functions; they never import it, so there is no
import cycle.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import psycopg
import typer

from artwork_backfill import __version__
from artwork_backfill.cli import apply, audit, demo, export, rebind, report, resolve
from artwork_backfill.cli.options import GlobalOptions, redact_secrets, stderr, stdout
from artwork_backfill.config import DEFAULT_CACHE
from artwork_backfill.errors import ExitStatus, UserError, first_line
from artwork_backfill.stopping import sigterm_interrupts

app = typer.Typer(
    name="artwork-backfill",
    help="Fill WXYC's library.artwork_url from LML: resolve (ask once, cache everything), "
    "report (score and review), apply (guarded, batched, undoable writes).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# In the order `--help` lists them.
app.command()(resolve.resolve)
app.command()(demo.demo)
app.command("export-parquet")(export.export_parquet)
app.command()(apply.apply)
app.command()(apply.undo)
app.command()(report.report)
app.command()(audit.audit)
app.command()(rebind.rebind)


def _print_version(value: bool) -> None:
    if value:
        stdout.print(f"artwork-backfill {__version__}")
        raise typer.Exit(0)


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
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            is_eager=True,  # before the command is looked for: `--version` alone works
            callback=_print_version,
        ),
    ] = False,
) -> None:
    ctx.obj = GlobalOptions(cache=cache)


def run(argv: list[str]) -> int:
    """Run the CLI; returns the exit status. Errors a user can fix print one line."""
    sigterm_interrupts()  # long commands set a stop flag instead (artwork_backfill.stopping)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="artwork-backfill", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        stderr.print("interrupted")
        return ExitStatus.INTERRUPTED
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        exc.message = redact_secrets(exc.message)
        show = getattr(exc, "show", None)
        if show is not None:
            show(file=sys.stderr)
        else:
            stderr.print(f"error: {exc.message}", markup=False)
        return int(exc.exit_code)
    except UserError as exc:
        stderr.print(f"error: {redact_secrets(str(exc))}", markup=False, highlight=False)
        return int(exc.exit_status)
    except KeyboardInterrupt:
        stderr.print(
            "interrupted: everything answered so far is saved; run the command again to continue"
        )
        return ExitStatus.INTERRUPTED
    except psycopg.Error as exc:  # the database refused: permissions, timeouts, a lost server
        first = first_line(exc)
        stderr.print(f"error: database: {redact_secrets(first)}", markup=False)
        return ExitStatus.ERROR
    except Exception as exc:  # a bug: say what, never a secret
        stderr.print(
            f"error: unexpected {type(exc).__name__}: {redact_secrets(str(exc))}", markup=False
        )
        if os.environ.get("ARTWORK_BACKFILL_DEBUG"):
            stderr.print(redact_secrets("".join(traceback.format_exception(exc))), markup=False)
        else:
            stderr.print("(set ARTWORK_BACKFILL_DEBUG=1 for the traceback)")
        return ExitStatus.ERROR
    if isinstance(result, int):
        return result
    return ExitStatus.OK
