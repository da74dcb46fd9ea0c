"""Small shared value types, and the pure rules that classify LML's answers (no I/O)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from artwork_backfill.judge.discogs_image import not_a_cover


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


T = Classification


# -- classification of LML answers (pure) ---------------------------------------------------


def classify_body(body: Any, legacy_ids: Sequence[int] = ()) -> tuple[Classification, str]:
    """What one LookupResponse body means: see LML's contract, 'retryable vs no-match'.

    `legacy_ids` are the key's own rows (their `legacy_release_id`s), when known. "Artwork"
    here always means a usable cover URL (`usable_cover_url`): a spacer, placeholder,
    artist photo or label logo is no artwork.

    - not a JSON object, or no `results` list (missing, null, anything else): transient, an
      answer that is no answer (contract §5.5);
    - `timeout: true`: transient;
    - `degraded` (any reason but `cache_only`) without artwork: transient;
    - `degraded` (any reason but `cache_only`) with artwork, where a result of the key's own
      rows lacks it: transient (`degraded_partial`), the tail was shed before our row got its
      cover. With no own result in the answer, the artwork counts (a match). With the own
      rows unknown, any real-row result (`id != 0`) without artwork makes it transient;
    - `degraded` `cache_only` without artwork: a no-match (LML's cache has no cover);
    - no results: a no-match; otherwise a match.
    """
    if not isinstance(body, dict):
        return T.TRANSIENT, "bad_body"
    if "results" not in body or body["results"] is None:
        return T.TRANSIENT, "results_missing"
    results = body["results"]
    if not isinstance(results, list):
        return T.TRANSIENT, "bad_body"
    if body.get("timeout") is True:
        return T.TRANSIENT, "timeout_flag"
    degraded = body.get("degraded") is True
    if degraded:
        reason = str(body.get("degraded_reason") or "unknown")
        if not body_has_artwork(body):
            if reason == "cache_only":
                # A real answer from LML's cache that found no cover: a no-match, as WXYC counts it.
                return T.NO_MATCH, "degraded_cache_only"
            return T.TRANSIENT, f"degraded_{reason}"
        if reason != "cache_only" and _own_row_lost_artwork(results, legacy_ids):
            return T.TRANSIENT, "degraded_partial"
    if not results:
        return T.NO_MATCH, "empty"
    return T.MATCH, "degraded_with_artwork" if degraded else "results"


def _own_row_lost_artwork(results: list[Any], legacy_ids: Sequence[int]) -> bool:
    """In a shed answer that kept some artwork: did one of the key's own rows go without?"""
    own = set(legacy_ids)
    for item in results:
        library_id = result_library_id(item)
        # with the key's rows unknown, any real row (not row-less) may be ours
        mine = library_id in own if own else library_id not in (None, 0)
        if mine and not result_has_artwork(item):
            return True
    return False


def classify_bulk_item(
    item: Any, legacy_ids: Sequence[int] = ()
) -> tuple[Classification, str, dict[str, Any] | None]:
    """One entry of a /lookup/bulk reply: branch on `status`, not on whether lookup is null.

    A `match`/`no_match` item's `lookup` is classified like a single answer (`classify_body`),
    so a lookup without a `results` list is transient too.
    """
    if not isinstance(item, dict):
        return T.TRANSIENT, "bulk_item_malformed", None
    status = item.get("status")
    lookup = item.get("lookup")
    if status == "error":
        message = str(item.get("message") or "error")[:80]
        return T.TRANSIENT, f"bulk_item_error:{message}", None
    if status in ("match", "no_match") and isinstance(lookup, dict):
        classification, reason = classify_body(lookup, legacy_ids)
        return classification, reason, lookup
    return (
        T.TRANSIENT,
        f"bulk_item_status:{str(status)[:40]}",
        lookup if isinstance(lookup, dict) else None,
    )
