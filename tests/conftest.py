"""Shared fixtures: one real PostgreSQL server per test run, a fresh WXYC database per test.

The suite starts its own throwaway cluster (`demo.pgembed`, as the `postgres` OS user);
pytest-postgresql's `DatabaseJanitor` manages the databases on it: a template holding WXYC's
schema for the session, and per test a copy of it, dropped when the test ends.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from artwork_backfill.config import DbSettings
from artwork_backfill.demo.pgembed import EmbeddedPostgres, load_schema

_TEMPLATE = "wxyc_template"
_counter = itertools.count(1)


@dataclass
class WxycDb:
    """A fresh database holding WXYC's schema (empty tables)."""

    server: EmbeddedPostgres
    name: str
    schema: str = "wxyc_schema"

    @property
    def dsn(self) -> str:
        return self.server.dsn(self.name)

    @property
    def settings(self) -> DbSettings:
        return self.server.settings(self.name, self.schema)

    def env(self) -> dict[str, str]:
        return {**self.server.env(self.name), "WXYC_SCHEMA_NAME": self.schema}

    def connect(self, **kw: object) -> psycopg.Connection:
        return psycopg.connect(self.dsn, **kw)  # type: ignore[arg-type]


def _janitor(
    server: EmbeddedPostgres, name: str, *, template: str | None = None, as_template: bool = False
) -> DatabaseJanitor:
    """Creates database `name` on entry (a copy of `template`, if given), drops it on exit."""
    return DatabaseJanitor(
        user=server.user,
        password=server.password,
        host=server.host,
        port=server.port,
        dbname=name,
        template_dbname=template,
        as_template=as_template,
    )


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres.start()
    try:
        with _janitor(server, _TEMPLATE, as_template=True):
            with psycopg.connect(server.dsn(_TEMPLATE)) as conn:
                load_schema(conn)
            yield server
    finally:
        server.stop()


@pytest.fixture
def wxyc_db(pg_server: EmbeddedPostgres) -> Iterator[WxycDb]:
    name = f"t{next(_counter)}"
    with _janitor(pg_server, name, template=_TEMPLATE):
        yield WxycDb(server=pg_server, name=name)
