"""How one LML answer is judged final or not (pure): the rules of LML's contract for
"retryable vs no-match", and what counts as artwork (a usable cover URL). The client applies
them as answers arrive, the cache when it re-judges stored answers, and the scorer when it
reads them back, so all three agree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from artwork_backfill.judge.discogs_image import not_a_cover
from artwork_backfill.judge.urls import as_int
from artwork_backfill.model import Classification


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
    - a result that is not a LookupResultItem (not an object, no `library_item` object with
      an integer `id`, an `artwork` that is neither null nor an object with an integer
      `release_id`): transient, a garbled answer is no answer;
    - an integer outside 64 bits anywhere in it: transient (`int_out_of_range`);
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
    if (shape := result_shape_problem(results)) is not None:
        return T.TRANSIENT, shape
    if _has_int_beyond_64_bits(body):
        return T.TRANSIENT, "int_out_of_range"
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


def _is_int(value: Any) -> bool:
    """An id the scorer can read (`as_int`: an integer, or its digits as text) that fits the
    cache's and the catalog's 64-bit columns."""
    return as_int(value) is not None


_INT64_LIMIT = 2**63


def _has_int_beyond_64_bits(value: Any) -> bool:
    """Whether any integer anywhere in a parsed answer is outside 64 bits: no field of LML's
    (ids, years, confidences, counters) is, so such an answer is garbled, whichever field."""
    if isinstance(value, int):
        return not -_INT64_LIMIT <= value < _INT64_LIMIT
    if isinstance(value, dict):
        return any(_has_int_beyond_64_bits(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_int_beyond_64_bits(v) for v in value)
    return False


def result_shape_problem(results: list[Any]) -> str | None:
    """Why a `results` list is not a list of LookupResultItems (contract §2.2-2.4), or None.

    Checked: each item is an object; its `library_item` is an object with an integer `id`;
    its `artwork`, when present and not null, is an object with an integer `release_id` (0
    for LML's streaming-only sentinel) and a `release_url` that, if sent, is a string.
    An integer too large for 64 bits is no id. Fields a scorer reads but may lack (titles,
    the URL itself) are the scorer's business.
    """
    for item in results:
        if not isinstance(item, dict):
            return "bad_result_item"
        library_item = item.get("library_item")
        if not isinstance(library_item, dict) or not _is_int(library_item.get("id")):
            return "bad_library_item"
        artwork = item.get("artwork")
        if artwork is None:
            continue
        if (
            not isinstance(artwork, dict)
            or not _is_int(artwork.get("release_id"))
            or not isinstance(artwork.get("release_url", ""), (str, type(None)))
        ):
            return "bad_artwork"
    return None


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
