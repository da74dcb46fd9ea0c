"""What the commands share: the consoles, the global options, the database option group,
secret redaction, `--json`, and the one `--threshold NAME=VALUE` option and its parser.

Command modules import this module (never `cli.app`, never each other), so the CLI has no
import cycle: `cli.app` imports the command modules and registers their functions.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from artwork_backfill.config import DbSettings, db_settings, redact
from artwork_backfill.errors import UserError

if TYPE_CHECKING:
    from artwork_backfill.judge.thresholds import Thresholds

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class GlobalOptions:
    """The options given before the command (`artwork-backfill --cache PATH COMMAND`)."""

    cache: Path


def emit_json(data: Any) -> None:
    stdout.out(json.dumps(data, indent=2, default=str), highlight=False)


# -- secrets -------------------------------------------------------------------------------


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


def remember_secret(secret: str | None) -> None:
    """A secret given as an option (not the environment): redacted from every message too."""
    if secret:
        _EXTRA_SECRETS.append(secret)


def redact_secrets(text: str) -> str:
    """`text` with every secret this process knows replaced."""
    return redact(text, *_secrets(), *_EXTRA_SECRETS)


# -- the database option group -------------------------------------------------------------

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


def db_options(
    database_url: str | None,
    host: str | None,
    port: str | None,
    name: str | None,
    user: str | None,
    password: str | None,
    schema: str,
) -> DbSettings:
    """The database option group into settings; the password joins the redacted secrets."""
    settings = db_settings(
        database_url=database_url,
        host=host,
        port=port,
        name=name,
        user=user,
        password=password,
        schema=schema,
    )
    remember_secret(settings.password)
    return settings


# -- other shared options ------------------------------------------------------------------

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]

ThresholdOption = Annotated[
    list[str] | None,
    typer.Option(
        "--threshold",
        metavar="NAME=VALUE",
        help="Override a scoring threshold (repeatable), e.g. high_album=92.",
        show_default=False,
    ),
]


def parse_thresholds(items: list[str] | None) -> Thresholds:
    """Repeated `--threshold NAME=VALUE` into the scorer's thresholds (defaults for the rest).

    Bad syntax, an unknown name or a bad value is a UserError naming `--threshold`.
    """
    from artwork_backfill.judge.thresholds import Thresholds

    values: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise UserError(
                f"--threshold {item!r}: expected name=value, e.g. --threshold high_album=92"
            )
        values[name] = value
    try:
        return Thresholds.from_mapping(values)
    except ValueError as exc:
        raise UserError(f"--threshold: {exc}") from None
