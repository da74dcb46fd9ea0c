"""Shared fixtures: one real PostgreSQL server per test run, a fresh WXYC database per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres.start()
    try:
        with psycopg.connect(server.create_database(_TEMPLATE)) as conn:
            load_schema(conn)
        yield server
    finally:
        server.stop()


@pytest.fixture
def wxyc_db(pg_server: EmbeddedPostgres) -> WxycDb:
    name = f"t{next(_counter)}"
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_TEMPLATE}"')
    return WxycDb(server=pg_server, name=name)
