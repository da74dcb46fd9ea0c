"""Exit statuses and the errors a user can cause (printed as one line, no traceback)."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """What the process exit code means."""

    OK = 0
    ERROR = 1  # a user mistake, a missing setting, refused input, an auth failure
    INTERRUPTED = 130  # Ctrl-C before anything could be finished cleanly


class UserError(Exception):
    """A problem the user can fix. The CLI prints `error: <message>` and exits 1."""

    exit_status = ExitStatus.ERROR


class ConfigError(UserError):
    """A setting is missing or invalid."""


class CacheMismatchError(UserError):
    """The cache file was made from another database or schema."""


class CacheDamagedError(UserError):
    """The cache file is damaged (truncated, overwritten): it cannot be trusted or repaired."""

    def __init__(self, path: object, detail: str) -> None:
        super().__init__(
            f"cache {path} is damaged and cannot be read ({detail}); keep it for inspection and "
            "use a copy from a backup, or start a new cache with --cache (LML is asked again)"
        )


class LmlAuthError(UserError):
    """LML answered 401/403: every further request would fail the same way."""


class LmlUnavailableError(UserError):
    """Too many HTTP requests in a row failed (unreachable, 5xx, timeouts): stop asking."""


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type's name: what a
    one-line error shows of a library's (psycopg's, duckdb's, httpx's) multi-line text."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__
