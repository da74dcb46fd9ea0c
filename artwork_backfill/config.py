"""Settings from the environment (WXYC's variable names), each also a command-line option.

Nothing here opens a connection; it only validates values and builds what the other modules
need. Secrets (the DB password, the LML key) are kept out of every repr and display string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from artwork_backfill.errors import ConfigError

DEFAULT_CACHE = Path("data/backfill.duckdb")
DEFAULT_SCHEMA = "wxyc_schema"
APPLICATION_NAME = "wxyc-artwork-backfill"
CALLER_REASON = "library-artwork-backfill"
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def is_identifier(name: str | None) -> bool:
    """A plain SQL identifier: letters, digits and _, not starting with a digit, <= 63 chars."""
    return bool(_IDENT_RE.match(name or ""))


def validate_schema_name(name: str) -> str:
    """WXYC_SCHEMA_NAME must be a plain SQL identifier (it is quoted anyway, but never guessed)."""
    if not is_identifier(name):
        raise ConfigError(
            f"WXYC_SCHEMA_NAME {name!r} is not a valid identifier "
            "(letters, digits and _, not starting with a digit, at most 63 characters)"
        )
    return name


@dataclass(frozen=True)
class DbSettings:
    """How to reach WXYC's Postgres. `conninfo` carries the password; never print it."""

    conninfo: str = field(repr=False)
    host: str
    port: str
    dbname: str
    user: str
    schema: str
    password: str | None = field(default=None, repr=False)

    @property
    def display(self) -> str:
        """A safe one-line description: user@host:port/dbname (schema)."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname} (schema {self.schema})"

    @property
    def identity(self) -> str:
        """What the cache records as its source: which server, which database, which schema."""
        return f"{self.host}:{self.port}/{self.dbname}/{self.schema}"

    def redact(self, text: str) -> str:
        return redact(text, self.password)


def db_settings(
    *,
    database_url: str | None,
    host: str | None,
    port: str | None,
    name: str | None,
    user: str | None,
    password: str | None,
    schema: str | None,
) -> DbSettings:
    """DATABASE_URL wins; otherwise WXYC's DB_HOST/DB_PORT/DB_NAME/DB_USERNAME/DB_PASSWORD."""
    schema_name = validate_schema_name(schema or DEFAULT_SCHEMA)
    if database_url:
        try:
            params = conninfo_to_dict(database_url)
        except Exception:
            raise ConfigError("DATABASE_URL is not a valid PostgreSQL connection string") from None
    else:
        required = (
            ("DB_HOST", "--db-host", host),
            ("DB_NAME", "--db-name", name),
            ("DB_USERNAME", "--db-user", user),
        )
        for env_name, option, value in required:
            if not value:
                raise ConfigError(
                    f"missing setting {env_name}: set it (or DATABASE_URL) in the environment, "
                    f"or pass {option}"
                )
        params = {"host": host, "port": port or "5432", "dbname": name, "user": user}
        if password:
            params["password"] = password
    port_value = str(params.get("port") or "5432")
    if not port_value.isdigit() or not 0 < int(port_value) < 65536:
        raise ConfigError(f"DB_PORT {port_value!r} is not a port number")
    params["port"] = port_value
    secret = params.get("password")
    params.setdefault("application_name", APPLICATION_NAME)
    params.setdefault("connect_timeout", "10")
    return DbSettings(
        conninfo=make_conninfo(**{k: str(v) for k, v in params.items() if v is not None}),
        host=str(params.get("host") or "localhost"),
        port=port_value,
        dbname=str(params.get("dbname") or params.get("user") or ""),
        user=str(params.get("user") or ""),
        schema=schema_name,
        password=str(secret) if secret else None,
    )


# LML's Discogs budget is about 50 requests a minute per replica, shared with the DJs' live
# lookups (incident BS#1995); WXYC's sibling jobs default to 20/min. 20 leaves 60% for them.
DEFAULT_RATE_PER_MIN = 20.0
# Completed resolve runs that may ask a key without a final answer (errors, timeouts) before
# it is parked: not asked again until `resolve --retry-parked`.
DEFAULT_PARK_AFTER_RUNS = 3


@dataclass(frozen=True)
class LmlSettings:
    """How to reach LML and how politely to ask it."""

    base_url: str
    api_key: str | None = field(default=None, repr=False)
    rate_per_min: float = DEFAULT_RATE_PER_MIN
    concurrency: int = 4
    budget_ms: int = 28_000  # X-Caller-Budget-Ms, as WXYC's class-5 callers send it
    timeout_s: float = 29.0  # client timeout for one /lookup (class-5 policy)
    max_attempts: int = 4  # per key and run, for transient failures
    max_consecutive_failures: int = 20  # HTTP failures in a row that stop the run
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    bulk_size: int = 100
    use_bulk: bool = True
    single_followup: bool = True  # ask /lookup again for keys bulk left without artwork
    # Secrets besides the API key that must never be stored from an LML answer (the DB
    # password: an error page or a debug proxy may echo anything).
    other_secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def lookup_url(self) -> str:
        return f"{self.base_url}/api/v1/lookup"

    @property
    def display(self) -> str:
        return self.base_url

    def redact(self, text: str) -> str:
        return redact(text, self.api_key)


def lml_settings(
    *,
    base_url: str | None,
    api_key: str | None,
    rate_per_min: float,
    concurrency: int,
    **extra: object,
) -> LmlSettings:
    if not base_url:
        raise ConfigError(
            "missing setting LIBRARY_METADATA_URL: set it to LML's base URL "
            "(e.g. https://lml.example.org; the tool appends /api/v1/lookup) or pass --lml-url"
        )
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            "LIBRARY_METADATA_URL must be an http(s) URL such as https://lml.example.org"
        )
    if parts.username or parts.password:
        raise ConfigError("LIBRARY_METADATA_URL must not carry credentials; use LML_API_KEY")
    path = parts.path.rstrip("/")
    for suffix in ("/api/v1/lookup", "/api/v1"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    clean = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    if not rate_per_min > 0 or rate_per_min > 600_000:
        raise ConfigError("LML_RATE_PER_MIN must be a number above 0 (requests per minute)")
    if not 1 <= concurrency <= 64:
        raise ConfigError("--concurrency must be between 1 and 64")
    return LmlSettings(
        base_url=clean,
        api_key=api_key or None,
        rate_per_min=float(rate_per_min),
        concurrency=concurrency,
        **extra,  # type: ignore[arg-type]
    )


def redact(text: str, *secrets: str | None) -> str:
    """Replace every secret in `text` with ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
