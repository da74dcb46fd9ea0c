"""Settings: WXYC's variable names, validation, and secrets kept out of text."""

from __future__ import annotations

import secrets

import pytest

from artwork_backfill.config import db_settings, lml_settings, validate_schema_name
from artwork_backfill.errors import ConfigError

PASSWORD = f"pw-{secrets.token_hex(6)}"  # a throwaway secret for these tests


def make(**kw: str | None) -> object:
    base: dict[str, str | None] = dict(
        database_url=None,
        host="db",
        port=None,
        name="wxyc",
        user="u",
        password=PASSWORD,
        schema=None,
    )
    base.update(kw)
    return db_settings(**base)  # type: ignore[arg-type]


def test_wxyc_variables_and_defaults() -> None:
    s = make()
    assert (s.host, s.port, s.dbname, s.user, s.schema) == (
        "db",
        "5432",
        "wxyc",
        "u",
        "wxyc_schema",
    )
    assert PASSWORD not in repr(s) and PASSWORD not in s.display
    assert s.identity == "db:5432/wxyc/wxyc_schema"
    assert "application_name=wxyc-artwork-backfill" in s.conninfo


def test_database_url_wins() -> None:
    s = make(database_url="postgresql://me:pw-in-url@h2:6543/other")
    assert (s.host, s.port, s.dbname, s.user) == ("h2", "6543", "other", "me")
    assert "pw-in-url" not in s.display and s.redact("x pw-in-url y") == "x *** y"


@pytest.mark.parametrize("missing", ["host", "name", "user"])
def test_missing_setting_is_named(missing: str) -> None:
    env = {"host": "DB_HOST", "name": "DB_NAME", "user": "DB_USERNAME"}[missing]
    with pytest.raises(ConfigError, match=env):
        make(**{missing: None})


@pytest.mark.parametrize("bad", ["", "1abc", "a;drop", "a b", "x" * 64, 'q"'])
def test_schema_name_must_be_identifier(bad: str) -> None:
    with pytest.raises(ConfigError, match="WXYC_SCHEMA_NAME"):
        validate_schema_name(bad)


def test_bad_port() -> None:
    with pytest.raises(ConfigError, match="DB_PORT"):
        make(port="54x")


def test_lml_url_normalised_and_validated() -> None:
    s = lml_settings(
        base_url="https://lml.example.org/api/v1/lookup/",
        api_key="k-123",
        rate_per_min=50,
        concurrency=4,
    )
    assert s.lookup_url == "https://lml.example.org/api/v1/lookup"
    assert "k-123" not in repr(s)
    with pytest.raises(ConfigError, match="LIBRARY_METADATA_URL"):
        lml_settings(base_url=None, api_key=None, rate_per_min=50, concurrency=4)
    with pytest.raises(ConfigError, match="http"):
        lml_settings(base_url="lml.example.org", api_key=None, rate_per_min=50, concurrency=4)
    with pytest.raises(ConfigError, match="RATE"):
        lml_settings(base_url="http://x", api_key=None, rate_per_min=0, concurrency=4)
