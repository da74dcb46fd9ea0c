"""The candidate export: which library rows may get a cover (read only).

The export is one read-only transaction with its own `lock_timeout` and `statement_timeout`
(`SET LOCAL`), so a session holding a lock on the catalog (a migration's ACCESS EXCLUSIVE, a
long `VACUUM FULL`) makes `resolve` fail with one line naming the lock wait instead of waiting
for ever. The limits are seconds, from `ARTWORK_BACKFILL_EXPORT_LOCK_TIMEOUT_S` (default 30)
and `ARTWORK_BACKFILL_EXPORT_STATEMENT_TIMEOUT_S` (default 600).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import psycopg
from psycopg import sql

from artwork_backfill.config import DbSettings
from artwork_backfill.db import connect
from artwork_backfill.errors import ConfigError, UserError, first_line
from artwork_backfill.judge.normalize import clean_whitespace, grouping_key
from artwork_backfill.model import CandidateRow, LookupKey

_EXPORT = """
SELECT l.id, l.legacy_release_id, a.artist_name, l.album_title, f.format_name,
       a.discogs_artist_id, l.artwork_url
FROM {library} AS l
JOIN {artists} AS a ON a.id = l.artist_id
LEFT JOIN {format} AS f ON f.id = l.format_id
WHERE {artwork_filter}
  AND l.discogs_unavailable = false
  AND btrim(coalesce(a.artist_name, '')) <> ''
  AND btrim(coalesce(l.album_title, '')) <> ''
  {discogs_filter}
ORDER BY l.id
"""


LOCK_TIMEOUT_ENV = "ARTWORK_BACKFILL_EXPORT_LOCK_TIMEOUT_S"
STATEMENT_TIMEOUT_ENV = "ARTWORK_BACKFILL_EXPORT_STATEMENT_TIMEOUT_S"
DEFAULT_LOCK_TIMEOUT_S = 30.0
DEFAULT_STATEMENT_TIMEOUT_S = 600.0


def export_timeouts(env: Mapping[str, str] | None = None) -> tuple[float, float]:
    """(lock timeout, statement timeout) of the export, in seconds, from the environment.

    Each is a number of seconds greater than 0; anything else is a one-line `ConfigError`
    naming the variable.
    """
    env = os.environ if env is None else env
    out = []
    for name, default in (
        (LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT_S),
        (STATEMENT_TIMEOUT_ENV, DEFAULT_STATEMENT_TIMEOUT_S),
    ):
        raw = (env.get(name) or "").strip()
        if not raw:
            out.append(default)
            continue
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{name} must be a number of seconds greater than 0, not {raw!r}")
        out.append(value)
    return out[0], out[1]


def _ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def export_candidates(
    db: DbSettings, *, only_discogs_artists: bool, filled: bool = False
) -> list[CandidateRow]:
    """Rows with no artwork, not flagged 'not on Discogs', with a real artist and title.

    With `filled`, the audit's rows instead: those that have an `artwork_url` (not empty),
    each with its current value.

    Bounded in time (see the module's docstring): a lock wait or a statement longer than the
    limits is a one-line `UserError` saying which, and nothing is kept of the export.
    """
    lock_s, statement_s = export_timeouts()
    query = sql.SQL(_EXPORT).format(
        library=sql.Identifier(db.schema, "library"),
        artists=sql.Identifier(db.schema, "artists"),
        format=sql.Identifier(db.schema, "format"),
        artwork_filter=sql.SQL(
            "l.artwork_url IS NOT NULL AND l.artwork_url <> ''"
            if filled
            else "l.artwork_url IS NULL"
        ),
        discogs_filter=sql.SQL(
            "AND a.discogs_artist_id IS NOT NULL" if only_discogs_artists else ""
        ),
    )
    with connect(db) as conn:
        conn.read_only = True
        try:
            with conn.transaction():
                # set_config(..., true) is SET LOCAL: these limits end with this transaction.
                conn.execute(
                    "SELECT set_config('lock_timeout', %s, true), "
                    "set_config('statement_timeout', %s, true)",
                    [_ms(lock_s), _ms(statement_s)],
                )
                rows = conn.execute(query).fetchall()
        except psycopg.errors.LockNotAvailable:
            raise UserError(
                f"reading the candidates from {db.display} failed: waited {lock_s:g} s for a "
                f"lock on {db.schema}.library/artists/format (another session holds it, e.g. a "
                f"migration or VACUUM FULL); run again when it is done, or raise {LOCK_TIMEOUT_ENV}"
            ) from None
        except psycopg.errors.QueryCanceled as exc:
            if "statement timeout" not in str(exc):  # cancelled by someone: say what they said
                first = first_line(exc)
                raise UserError(
                    f"reading the candidates from {db.display} failed: {db.redact(first)}"
                ) from None
            raise UserError(
                f"reading the candidates from {db.display} failed: the export took longer than "
                f"{statement_s:g} s (statement timeout); run again, or raise {STATEMENT_TIMEOUT_ENV}"
            ) from None
        except psycopg.errors.UndefinedTable:
            raise UserError(
                f"schema {db.schema!r} has no library/artists/format tables in {db.display}: "
                "check WXYC_SCHEMA_NAME"
            ) from None
        except psycopg.Error as exc:  # permissions, a lost connection, a statement timeout ...
            first = first_line(exc)
            raise UserError(
                f"reading the candidates from {db.display} failed: {db.redact(first)}"
            ) from None
    out: list[CandidateRow] = []
    for library_id, legacy_id, artist, title, fmt, discogs_artist_id, artwork_url in rows:
        artist_clean, title_clean = clean_whitespace(artist), clean_whitespace(title)
        if not artist_clean or not title_clean:
            continue  # whitespace or control characters only
        out.append(
            CandidateRow(
                library_id=library_id,
                legacy_release_id=legacy_id,
                artist_name=artist,
                album_title=title,
                format_name=fmt,
                has_discogs_artist=discogs_artist_id is not None,
                key_id=grouping_key(artist, title),
                discogs_artist_id=None if discogs_artist_id is None else int(discogs_artist_id),
                artwork_url=artwork_url,
            )
        )
    return out


def keys_of(rows: Sequence[CandidateRow]) -> list[LookupKey]:
    """One key per distinct normalised (artist, album); its text is the lowest-id row's.

    Each key carries the `legacy_release_id`s of all its rows (sorted, distinct), so an
    answer can be told apart as the key's own rows or others.
    """
    first: dict[str, CandidateRow] = {}
    legacy: dict[str, set[int]] = {}
    for row in sorted(rows, key=lambda r: r.library_id):
        first.setdefault(row.key_id, row)
        legacy.setdefault(row.key_id, set()).add(row.legacy_release_id)
    return [
        LookupKey(
            key_id=key_id,
            artist=clean_whitespace(row.artist_name),
            album=clean_whitespace(row.album_title),
            legacy_release_ids=tuple(sorted(legacy[key_id])),
        )
        for key_id, row in first.items()
    ]
