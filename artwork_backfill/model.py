"""Small shared value types, and the pure rules that classify LML's answers (no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


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
class CandidateRow:
    """One library row exported from Postgres, with the lookup key it belongs to.

    `discogs_artist_id` is the shelf artist's `artists.discogs_artist_id` (None when WXYC has
    none, or when the row was made without it); `has_discogs_artist` says whether the artist
    has one, and is true whenever the id is given.
    """

    library_id: int
    legacy_release_id: int
    artist_name: str
    album_title: str
    format_name: str | None
    has_discogs_artist: bool
    key_id: str
    discogs_artist_id: int | None = None
    artwork_url: str | None = None  # the row's current value (the audit's filled rows only)

    def __post_init__(self) -> None:
        if self.discogs_artist_id is not None and not self.has_discogs_artist:
            raise ValueError(
                f"library row {self.library_id}: has_discogs_artist is false "
                f"but discogs_artist_id is {self.discogs_artist_id}"
            )


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
    # LML answered `timeout: true` for this key before: ask it again without the budget
    # header, so LML runs its full search instead of giving up early (contract §4, BS#1914).
    timed_out: bool = False


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
