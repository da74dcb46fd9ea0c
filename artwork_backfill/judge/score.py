"""Score cached LML answers into confidence bands (pure: no I/O).

This module owns the verdict types (`ShelfRow`, `Band`, `Verdict`) and `score_key`: how one
key's candidates become one verdict per row. Beside it: `thresholds` (the knobs), `reasons`
(the codes), `urls` (what may be written), `compare` (text similarity) and `crosskey` (one
cover offered to several albums).

One key (a distinct artist/album pair) can stand for several library rows (the CD and the LP
of one album). `score_key` gives each of those rows its own `Verdict`:

* `pending`: the key was not asked yet, or its answer was not final (transient, error).
* `no_match`: LML found nothing usable for the row: a confirmed empty answer, or results
  without a cover (no artwork, `spacer.gif`, a streaming-only sentinel without a URL).
* `reject`: a cover was offered and is refused (another album, a number mismatch, a
  substituted row, an unsafe URL, an artist photo ...).
* `review`: plausibly right, but a person has to look (row-less, not `direct`, weak titles,
  two different covers that both fit, low LML confidence without a near-exact title ...).
* `high`: safe to write without a person.

Only `high` is ever written without a person. A `high` needs all of: `search_type ==
"direct"`; the result's `library_item.id` is this row's `legacy_release_id` (or a sibling row
of the same key); the artwork's *own* Discogs album and artist match the row after
normalisation, numbers and roman numerals included; a valid https Discogs image URL (see
`urls.validate_artwork_url`); and no competing cover.

Every candidate in `results` is considered, not only `results[0]`: LML picks artwork per
library row, so our row may be at `results[1]` behind another album.

Decisions worth knowing:

* Structural doubts (not `direct`, row-less, another library row, a corrected artist that is
  not the row's) each allow REVIEW at best; with a weak title or artist match they REJECT.
  `compilation`, `song_as_artist`, `none` and a missing `search_type` always REJECT.
* LML's `artwork.confidence` below 0.8 is a warning. It compares raw strings of the same
  library row, so it is low exactly where the normaliser already reconciled a spelling
  (mojibake, diacritics, "The", "(2)", V/A): with a near-exact normalised match it is only
  reported, otherwise it holds the row at REVIEW.
* A key's own row outranks a sibling row, which outranks row-less and other rows. Two
  acceptable candidates of the best rank with different covers are ambiguous (REVIEW). A
  sibling's cover when the row's own result offers another cover is a conflict (REVIEW).
* Edition notes (Deluxe, Remastered, a year, EP) weigh `note_weight`; other notes (Live,
  Remixes) hold HIGH back; numbers must agree (in titles, in both sides' notes, and bracketed
  years when both sides have one).
* The speed: normalisations, comparisons and URL checks are cached per string; results of
  other rows are not scored once the key's own rows give an acceptable cover (they could
  not change the verdict).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from artwork_backfill.judge.answers import classify_body
from artwork_backfill.judge.compare import compare_texts, corrected_matches, note_year_check
from artwork_backfill.judge.normalize import cache_clear as normalize_cache_clear
from artwork_backfill.judge.thresholds import DEFAULT_THRESHOLDS, Thresholds
from artwork_backfill.judge.urls import NO_COVER_CODES, as_int, check_url
from artwork_backfill.model import Answer, Classification

# --------------------------------------------------------------------------------------------
# Public types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShelfRow:
    """One WXYC library row, as the scorer needs it."""

    library_id: int
    legacy_release_id: int  # LML's `library_item.id` space (tubafrenzy LIBRARY_RELEASE.ID)
    artist_name: str
    album_title: str
    format_name: str | None = None
    discogs_artist_id: int | None = None  # artists.discogs_artist_id of the shelf artist


class Band(enum.StrEnum):
    HIGH = "high"
    REVIEW = "review"
    REJECT = "reject"
    NO_MATCH = "no_match"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision for one library row.

    `artwork_url` is the cover the verdict is about: the one to write for HIGH (and for a
    REVIEW a person approves), the refused one for REJECT (so the report can show it), None
    for NO_MATCH and PENDING. `matched_*` describe the chosen candidate: Discogs' own artist
    and album of the artwork, its release id, and the LML library row it came with.
    `reasons` are codes from `REASONS`, optionally followed by ":detail".
    """

    library_id: int
    band: Band
    score: float
    artwork_url: str | None
    matched_artist: str | None
    matched_album: str | None
    matched_release_id: int | None
    matched_library_item_id: int | None
    search_type: str | None
    reasons: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------

_OWN, _SIBLING, _ROWLESS, _OTHER = 0, 1, 2, 3  # relation tiers, best first
_BAND_RANK = {Band.HIGH: 0, Band.REVIEW: 1, Band.REJECT: 2}


@dataclass(slots=True)
class _Candidate:
    index: int
    tier: int
    band: Band
    score: float
    usable: bool  # there is a cover to talk about (valid or not)
    url: str | None
    album: str | None
    artist: str | None
    release_id: int | None
    library_item_id: int | None
    reasons: list[str]


def _unique(codes: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(codes))


def _verdict(
    row: ShelfRow,
    band: Band,
    reasons: Sequence[str],
    search_type: str | None = None,
    candidate: _Candidate | None = None,
) -> Verdict:
    if candidate is None:
        return Verdict(
            row.library_id, band, 0.0, None, None, None, None, None, search_type, _unique(reasons)
        )
    return Verdict(
        library_id=row.library_id,
        band=band,
        score=candidate.score,
        artwork_url=candidate.url if band in (Band.HIGH, Band.REVIEW, Band.REJECT) else None,
        matched_artist=candidate.artist,
        matched_album=candidate.album,
        matched_release_id=candidate.release_id,
        matched_library_item_id=candidate.library_item_id,
        search_type=search_type,
        reasons=_unique(reasons),
    )


def _search_type_doubt(search_type: str | None, tier: int) -> tuple[str | None, bool]:
    """(reason, hard) for the answer's strategy, given where the result's row stands."""
    if search_type == "direct":
        return None, False
    if search_type in ("alternative", "fallback"):
        return f"search_type_{search_type}", tier == _OTHER
    if search_type in ("compilation", "song_as_artist", "none"):
        return f"search_type_{search_type}", True
    if search_type is None:
        return "search_type_missing", True
    return f"search_type_unknown:{search_type}", True


def _score_candidate(
    row: ShelfRow,
    index: int,
    tier: int,
    library_item_id: int | None,
    artwork: Mapping[str, Any],
    search_type: str | None,
    corrected_artist: str | None,
    t: Thresholds,
) -> _Candidate:
    url = artwork.get("artwork_url")
    url = url if isinstance(url, str) else None
    release_id = as_int(artwork.get("release_id"))
    release_url = artwork.get("release_url")
    artist_image = artwork.get("artist_image_url")
    discogs_album = artwork.get("album") if isinstance(artwork.get("album"), str) else None
    discogs_artist = artwork.get("artist") if isinstance(artwork.get("artist"), str) else None

    checked = check_url(
        url,
        release_id,
        release_url if isinstance(release_url, str) else None,
        artist_image if isinstance(artist_image, str) else None,
    )
    url_reasons = checked.reasons
    if not NO_COVER_CODES.isdisjoint(url_reasons):
        # No cover to judge (no URL, spacer.gif, a placeholder): only the reasons matter.
        no_cover = [r for r in url_reasons if r in NO_COVER_CODES]
        return _Candidate(
            index, tier, Band.REJECT, 0.0, False, url, discogs_album, discogs_artist,
            release_id, library_item_id, [*no_cover, *url_reasons],
        )  # fmt: skip
    text = compare_texts(
        row.artist_name or "", row.album_title or "", discogs_artist, discogs_album, t
    )
    hard: list[str] = [*text.hard, *url_reasons]
    caps: list[str] = list(text.caps)
    year_reason = note_year_check(row.album_title or "", discogs_album, artwork.get("release_year"))
    if year_reason == "note_year_mismatch":
        hard.append(year_reason)
    elif year_reason is not None:
        caps.append(year_reason)
    info: list[str] = list(text.info)
    if checked.other_release and release_id:
        caps.append("image_release_differs")
    if checked.size is not None and checked.size < t.small_image_px:
        # Still this release's cover, so it may be written, but never silently.
        (caps if checked.size < t.review_image_px else info).append(f"small_image:{checked.size}px")

    # Who the artist is: Discogs' artist id (LML-aug's extended top-1) against the shelf's.
    # A "(2)" suffix marks a second artist of that name; with no ids to compare, the answer
    # may be the namesake's record, so a person decides.
    answer_artist_id = as_int(artwork.get("discogs_artist_id"))
    if row.discogs_artist_id and answer_artist_id:
        if answer_artist_id == row.discogs_artist_id:
            info.append("discogs_artist_id_agrees")
        else:
            hard.append("discogs_artist_id_differs")
    if "discogs_artist_suffix" in info:
        info.remove("discogs_artist_suffix")
        if "discogs_artist_id_agrees" not in info:
            caps.append("discogs_artist_suffix")

    # Structural doubts: each alone allows REVIEW at best; together with a weak text match,
    # REJECT (two doubts about one cover are too many to show a person).
    doubts: list[str] = []
    st_reason, st_hard = _search_type_doubt(search_type, tier)
    if st_reason is not None:
        (hard if st_hard else doubts).append(st_reason)
    if tier == _SIBLING:
        info.append("sibling_row")
    elif tier == _ROWLESS:
        doubts.append("rowless")
    elif tier == _OTHER:
        doubts.append("other_release_id")
    if corrected_artist:
        if corrected_matches(row.artist_name or "", corrected_artist, t.high_artist):
            info.append("corrected_artist")
        else:
            doubts.append("corrected_artist_mismatch")
    confidence = artwork.get("confidence")
    if not isinstance(confidence, int | float) or isinstance(confidence, bool):
        confidence = 0.0
    if confidence < t.min_lml_confidence:
        # LML's confidence compares raw lower-cased strings of the same library row, so it is
        # low exactly where our normaliser has already reconciled the spelling (mojibake,
        # diacritics, "The", "(2)", V/A, edition notes). With a near-exact normalised match
        # it adds nothing; otherwise it is a second, independent warning: a person decides.
        if text.near_exact:
            info.append("low_lml_confidence")
        else:
            caps.append("low_lml_confidence")
    if doubts:
        (caps if text.strong else hard).extend(doubts)

    if hard:
        band = Band.REJECT
    elif caps:
        band = Band.REVIEW
    else:
        band = Band.HIGH
    return _Candidate(
        index=index,
        tier=tier,
        band=band,
        score=text.combined,
        usable=True,
        url=url,
        album=discogs_album,
        artist=discogs_artist,
        release_id=release_id,
        library_item_id=library_item_id,
        reasons=[*hard, *caps, *info],
    )


def clear_caches() -> None:
    """Empty the scorer's and the normaliser's caches (benchmarks time a cold pass)."""
    normalize_cache_clear()
    for cached in (check_url, compare_texts, corrected_matches):
        cached.cache_clear()


def score_key(
    rows: Sequence[ShelfRow],
    answer: Answer | None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> list[Verdict]:
    """One Verdict per row of one lookup key, in the order of `rows`."""
    if not rows:
        return []
    if answer is None:
        return [_verdict(row, Band.PENDING, ["not_asked"]) for row in rows]
    if answer.classification is Classification.TRANSIENT:
        return [_verdict(row, Band.PENDING, [f"pending_transient:{answer.reason}"]) for row in rows]
    if answer.classification is Classification.ERROR:
        return [_verdict(row, Band.PENDING, [f"pending_error:{answer.reason}"]) for row in rows]
    body = answer.body if isinstance(answer.body, dict) else None
    search_type = body.get("search_type") if body is not None else None
    search_type = search_type if isinstance(search_type, str) else None
    legacy_ids = {row.legacy_release_id for row in rows}
    if body is not None:
        # The client's own rules, again: an answer a cache stored as final under older rules
        # may be no answer at all (no results list, a shed tail that took our row's cover).
        classification, why = classify_body(body, sorted(legacy_ids))
        if classification is Classification.TRANSIENT:
            return [
                _verdict(row, Band.PENDING, [f"pending_transient:{why}"], search_type)
                for row in rows
            ]
    if answer.classification is Classification.NO_MATCH:
        return [
            _verdict(row, Band.NO_MATCH, [f"lml_no_match:{answer.reason}"], search_type)
            for row in rows
        ]
    if body is None:
        return [_verdict(row, Band.PENDING, ["pending_error:body_missing"]) for row in rows]

    raw_results = body.get("results")
    results = (
        [r for r in raw_results if isinstance(r, dict)] if isinstance(raw_results, list) else []
    )
    if not results:
        return [_verdict(row, Band.NO_MATCH, ["empty_results"], search_type) for row in rows]
    parsed = []
    for index, result in enumerate(results):
        item = result.get("library_item")
        item_id = as_int(item.get("id")) if isinstance(item, dict) else None
        artwork = result.get("artwork")
        parsed.append((index, item_id, artwork if isinstance(artwork, dict) else None))
    degraded = body.get("degraded") is True
    context = ["degraded"] if degraded else []
    corrected = body.get("corrected_artist")
    corrected = corrected if isinstance(corrected, str) and corrected.strip() else None

    return [
        _score_row(row, parsed, legacy_ids, search_type, corrected, context, thresholds)
        for row in rows
    ]


def _score_row(
    row: ShelfRow,
    parsed: Sequence[tuple[int, int | None, Mapping[str, Any] | None]],
    legacy_ids: set[int],
    search_type: str | None,
    corrected: str | None,
    context: list[str],
    t: Thresholds,
) -> Verdict:
    candidates: list[_Candidate] = []
    bare_tiers: list[int] = []  # tiers of results that came without any artwork
    later: list[tuple[int, int, int | None, Mapping[str, Any]]] = []
    for index, item_id, artwork in parsed:
        if item_id == row.legacy_release_id:
            tier = _OWN
        elif item_id in legacy_ids:
            tier = _SIBLING
        elif item_id == 0:
            tier = _ROWLESS
        else:
            tier = _OTHER
        if artwork is None:
            bare_tiers.append(tier)
        elif tier <= _SIBLING:
            candidates.append(
                _score_candidate(row, index, tier, item_id, artwork, search_type, corrected, t)
            )
        else:
            later.append((index, tier, item_id, artwork))
    # Row-less and other rows' results can never be HIGH, and they rank below the key's own
    # rows: once one of those is acceptable they change nothing, so they are not scored.
    if later and not any(c.usable and c.band is not Band.REJECT for c in candidates):
        candidates.extend(
            _score_candidate(row, index, tier, item_id, artwork, search_type, corrected, t)
            for index, tier, item_id, artwork in later
        )

    offered = [c for c in candidates if c.usable]
    if not offered:
        reasons: list[str] = []
        if bare_tiers:
            reasons.append("no_artwork")
        for c in sorted(candidates, key=lambda c: (c.tier, c.index)):
            reasons.extend(r for r in c.reasons if r in NO_COVER_CODES or r == "synthetic_release")
        if all(tier == _OTHER for tier in bare_tiers) and all(c.tier == _OTHER for c in candidates):
            reasons.append("other_release_id")
        return _verdict(row, Band.NO_MATCH, [*reasons, *context], search_type)

    best = min(offered, key=lambda c: (_BAND_RANK[c.band], c.tier, -c.score, c.index))
    band = best.band
    reasons = list(best.reasons)
    if band is not Band.REJECT:
        rivals = [
            c
            for c in offered
            if c is not best
            and c.band is not Band.REJECT
            and c.url != best.url
            and c.tier <= best.tier
            and c.score >= best.score - t.ambiguity_margin
        ]
        if rivals:
            band = Band.REVIEW
            reasons.append("ambiguous_covers")
        if best.tier != _OWN and any(c.tier == _OWN and c.url != best.url for c in offered):
            band = Band.REVIEW
            reasons.append("own_result_conflicts")
    return _verdict(row, band, [*reasons, *context], search_type, best)
