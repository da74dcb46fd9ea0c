"""Small shared value types (no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from artwork_backfill.discogs_image import not_a_cover


class Classification(enum.StrEnum):
    """What one LML answer means for its key.

    `match` and `no_match` are final: the key is never asked again. `transient` (a timeout,
    a shed enrichment tail, an HTTP failure) and `error` (a 4xx other than auth) leave the
    key pending; transient keys are retried in the same run's later passes and in later runs.
    """

    MATCH = "match"
    NO_MATCH = "no_match"
    TRANSIENT = "transient"
    ERROR = "error"

    @property
    def is_final(self) -> bool:
        return self in (Classification.MATCH, Classification.NO_MATCH)


@dataclass(frozen=True, slots=True)
class LookupKey:
    """One distinct (artist, album) question for LML, shared by every row with that key."""

    key_id: str
    artist: str  # what is sent to LML (a representative row's text, whitespace-cleaned)
    album: str
    # The key's own library rows (`legacy_release_id`s, the ids LML's `library_item.id`
    # carries), sorted; empty when unknown. Classification uses them to tell the key's own
    # results from other rows LML offered.
    legacy_release_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Answer:
    """One LML answer for one key, as it is stored in the cache."""

    key_id: str
    endpoint: str  # "single" | "bulk"
    http_status: int | None  # None when no HTTP response arrived (connection error, timeout)
    classification: Classification
    reason: str  # short code: "results", "empty", "timeout_flag", "http_503", "client_timeout" ...
    body: dict[str, Any] | None  # the LookupResponse JSON (for bulk, the item's `lookup`)
    attempt: int  # 1 for the first try of this key in this run, 2 for the first retry ...
    latency_ms: float
    requested_at: float  # epoch seconds
    received_at: float


def usable_cover_url(url: Any) -> bool:
    """Whether `url` may be an album cover: a non-empty string that is no spacer.gif, no
    placeholder, no artist photo (`A-`) and no label logo (`L-`). Whether it is the *right*
    cover is the scorer's question."""
    return isinstance(url, str) and not_a_cover(url) is None


def result_has_artwork(item: Any) -> bool:
    """Whether one LookupResultItem carries a usable cover URL (see `usable_cover_url`)."""
    artwork = item.get("artwork") if isinstance(item, dict) else None
    return isinstance(artwork, dict) and usable_cover_url(artwork.get("artwork_url"))


def result_library_id(item: Any) -> int | None:
    """A LookupResultItem's `library_item.id` (0 = row-less), or None when it has none."""
    library_item = item.get("library_item") if isinstance(item, dict) else None
    value = library_item.get("id") if isinstance(library_item, dict) else None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def body_has_artwork(body: dict[str, Any] | None) -> bool:
    """Whether any result in an LML LookupResponse carries a usable cover URL.

    Spacer and placeholder images, artist photos and label logos do not count: an answer
    holding only those has no artwork (bulk sends such keys to the single /lookup follow-up,
    and the cache's `has_artwork` column records this).
    """
    if not isinstance(body, dict):
        return False
    results = body.get("results")
    if not isinstance(results, list):
        return False
    return any(result_has_artwork(item) for item in results)
