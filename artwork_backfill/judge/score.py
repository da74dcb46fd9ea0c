"""Score cached LML answers into confidence bands (pure: no I/O).

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
`validate_artwork_url`); and no competing cover.

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

import dataclasses
import enum
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz

from artwork_backfill.judge import discogs_image
from artwork_backfill.judge.normalize import cache_clear as normalize_cache_clear
from artwork_backfill.judge.normalize import (
    credit_members,
    fold,
    parse_artist,
    parse_title,
    was_repaired,
)
from artwork_backfill.model import Answer, Classification, classify_body

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


_SCORE_FIELDS = ("high_album", "high_artist", "review_album", "review_artist", "strict_match",
                 "word_variant_ratio", "ambiguity_margin")  # fmt: skip
_UNIT_FIELDS = ("note_weight", "partial_credit_weight", "album_weight", "min_lml_confidence")
_PIXEL_FIELDS = ("small_image_px", "review_image_px")


@dataclass(frozen=True)
class Thresholds:
    """Every numeric knob of the scorer, in one place.

    Similarity scores are rapidfuzz `token_sort_ratio` values (0..100) of the normalised
    texts (see `artwork_backfill.judge.normalize`).
    """

    high_album: float = 90.0
    """Album similarity needed for HIGH; below it (and at or above `review_album`): REVIEW."""
    high_artist: float = 90.0
    """Artist similarity needed for HIGH; below it (and at or above `review_artist`): REVIEW.
    LML's `corrected_artist` must match the row's artist this well too."""
    review_album: float = 60.0
    """Below this album similarity the cover is another album: REJECT (the pollution audit's
    "mismatch" line)."""
    review_artist: float = 60.0
    """Below this artist similarity the cover is another artist's: REJECT."""
    strict_match: float = 97.0
    """Near-exact after normalisation. A low `artwork.confidence` is overruled only when both
    album (notes included) and artist reach it."""
    word_variant_ratio: float = 80.0
    """A word found on one side only must be at least this close (rapidfuzz `ratio`) to a
    word on the other side for HIGH: "tomatoe"/"tomato" (92) pass, "east"/"west" (75) do not."""
    note_weight: float = 0.92
    """Weight of the title score computed with bracketed notes removed ("Pet Sounds" vs
    "Pet Sounds (Deluxe Edition)" scores 100 x 0.92 = 92): notes count, at reduced weight."""
    partial_credit_weight: float = 0.85
    """Weight of an artist match through one member of a joint credit ("Anadol" vs
    "Anadol & Marie Klock" scores 100 x 0.85 = 85): REVIEW at best."""
    album_weight: float = 0.6
    """Share of the album similarity in the reported combined score (the rest is artist)."""
    min_lml_confidence: float = 0.8
    """`artwork.confidence` below this is a warning (`low_lml_confidence`)."""
    ambiguity_margin: float = 10.0
    """Another fitting candidate with a different cover within this many points of the best
    makes the row ambiguous (REVIEW)."""

    small_image_px: float = 300.0
    """A cover served smaller than this many pixels (the URL's `w:`/`h:` options; LML-feb's
    API path gives 150 px search thumbnails) is still the right cover and is written, but
    carries the `small_image` reason so the report counts it."""
    review_image_px: float = 0.0
    """A cover served smaller than this many pixels goes to REVIEW (0: never; 300 sends
    every thumbnail to a person)."""

    def __post_init__(self) -> None:
        for name in _SCORE_FIELDS:
            _check_range(name, getattr(self, name), 0.0, 100.0)
        for name in _UNIT_FIELDS:
            _check_range(name, getattr(self, name), 0.0, 1.0)
        for name in _PIXEL_FIELDS:
            _check_range(name, getattr(self, name), 0.0, 100_000.0)
        if self.review_album > self.high_album:
            raise ValueError(
                f"review_album ({self.review_album}) must not exceed high_album ({self.high_album})"
            )
        if self.review_artist > self.high_artist:
            raise ValueError(
                f"review_artist ({self.review_artist}) must not exceed high_artist ({self.high_artist})"
            )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, values: Mapping[str, str | float]) -> Thresholds:
        """Defaults overridden by `values` (e.g. from a config file or `--threshold k=v`).

        Raises ValueError naming the offending key on an unknown name or a bad value.
        """
        known = cls.names()
        parsed: dict[str, float] = {}
        for name, raw in values.items():
            if name not in known:
                raise ValueError(
                    f"unknown threshold {name!r}; known thresholds: {', '.join(known)}"
                )
            parsed[name] = _parse_number(name, raw)
        return cls(**parsed)

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def _parse_number(name: str, raw: object) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"threshold {name!r} must be a number, got {raw!r}")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"threshold {name!r} must be a number, got {raw!r}") from None
    else:
        raise ValueError(f"threshold {name!r} must be a number, got {type(raw).__name__}")
    return value


def _check_range(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"threshold {name!r} must be a number, got {value!r}")
    if math.isnan(value) or not low <= value <= high:
        raise ValueError(f"threshold {name!r} must be between {low:g} and {high:g}, got {value!r}")


DEFAULT_THRESHOLDS = Thresholds()


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


REASONS: dict[str, str] = {
    # not final
    "not_asked": "LML has not been asked about this key yet",
    "pending_transient": "LML's answer was transient (timeout, shed tail, HTTP failure); ask again later",
    "pending_error": "LML's answer was an error; ask again after the cause is fixed",
    # nothing usable
    "lml_no_match": "LML confirmed it has nothing for this key",
    "empty_results": "LML returned no results",
    "no_artwork": "LML found a library row but no artwork for it",
    "no_artwork_url": "the artwork has no image URL",
    "spacer_gif": "the image is Discogs' spacer.gif placeholder, not a cover",
    "placeholder_image": "the image is a Discogs default placeholder, not a cover",
    # which LML strategy answered
    "search_type_alternative": "LML answered with its swapped-interpretation strategy, not a direct album match",
    "search_type_fallback": "LML fell back to the artist's other albums (album not confirmed)",
    "search_type_compilation": "LML answered a track-on-compilation question, not this album",
    "search_type_song_as_artist": "LML read the text as a song title, not this album",
    "search_type_none": "LML reports that no search strategy ran",
    "search_type_missing": "the answer has no search_type",
    "search_type_unknown": "the answer has a search_type this tool does not know",
    # whose library row the result is
    "sibling_row": "the cover came with a sibling row of the same key (another format of the album)",
    "rowless": "the result has no WXYC library row (library_item.id 0): LML did not find this row",
    "other_release_id": "the result is another library row (library_item.id is not one of this key's legacy ids)",
    "own_result_conflicts": "this row's own result offers a different cover than the one chosen",
    # text comparison
    "album_mismatch": "Discogs' album title is another album",
    "album_weak": "Discogs' album title only partly matches the row's title",
    "album_word_differs": "the titles are close but a word on one side has no counterpart on the other",
    "album_missing": "the title is missing on one side, so it cannot be compared",
    "artist_mismatch": "Discogs' artist is another artist",
    "artist_weak": "Discogs' artist only partly matches the row's artist",
    "artist_partial_credit": "one side credits only part of the other's joint credit (A vs A & B)",
    "number_mismatch": "the titles differ in a number or roman numeral (Vol. 1 vs Vol. 2, II vs IV)",
    "artist_number_mismatch": "the artist names differ in a number",
    "number_in_note_differs": "a number in a bracketed note is present on one side only",
    "note_year_mismatch": "the shelf's bracketed year names another record than Discogs' release year",
    "note_year_unverified": "the shelf's bracketed year tells same-titled albums apart, and LML gave no release year to check it",
    "edition_note_differs": "the titles differ only by an edition note (Deluxe, Remastered, a year)",
    "title_note_differs": "the titles differ by a bracketed note that may name another record (Live, Remixes)",
    "self_titled": "the row's title is s/t: compared with the artist's name",
    "various_artists": "both sides credit a compilation (WXYC V/A vs Discogs Various)",
    "discogs_artist_suffix": "Discogs' artist carries a disambiguation suffix such as (2): another artist of that name exists, and no artist id confirms which one this is",
    "discogs_artist_id_agrees": "Discogs' artist id on the answer is the shelf artist's own (artists.discogs_artist_id)",
    "discogs_artist_id_differs": "Discogs' artist id on the answer is not the shelf artist's: the record is another artist's (a namesake)",
    "mojibake_repaired": "the row's text was repaired from mojibake before comparing",
    # other LML signals
    "corrected_artist": "LML corrected the typed artist; the row's artist is the corrected one",
    "corrected_artist_mismatch": "LML corrected the artist to a name that is not the row's artist",
    "low_lml_confidence": "LML's own artwork confidence is below the floor",
    "degraded": "LML dropped its enrichment tail (degraded); the artwork itself is complete",
    # URL checks
    "url_not_https": "the image URL is not https",
    "url_too_long": "the image URL is longer than library.artwork_url's 512 characters",
    "url_host": "the image URL is not on a Discogs image host",
    "url_malformed": "the image URL contains whitespace or cannot be parsed",
    "synthetic_release": "the artwork is LML's streaming-only sentinel (no Discogs release)",
    "artist_photo": "the image is the artist's photo, not a cover",
    "label_image": "the image is a label logo, not a cover",
    "image_release_differs": "the image file belongs to another Discogs release than the one matched",
    "small_image": "the cover is served small (a search thumbnail): the right image, at low resolution",
    "cover_shared": "LML offered this cover (release or image) to other keys whose albums differ: one cover for several albums is a warning sign",
    # choice between candidates
    "ambiguous_covers": "two different covers fit this row about equally well",
}

MAX_URL_LENGTH = 512  # library.artwork_url is varchar(512)
DISCOGS_IMAGE_HOSTS = frozenset({"i.discogs.com", "img.discogs.com", "s.discogs.com"})
# Codes that mean "there is no cover here" (NO_MATCH) rather than "a cover fails" (REJECT).
_NO_COVER_CODES = frozenset({"no_artwork_url", "spacer_gif", "placeholder_image"})


def explain(code: str) -> str:
    """The one-line explanation of a reason code (a ":detail" suffix is kept)."""
    base, _, detail = code.partition(":")
    text = REASONS.get(base, base)
    return f"{text} ({detail})" if detail else text


# --------------------------------------------------------------------------------------------
# URL validation
# --------------------------------------------------------------------------------------------

_WHITESPACE_RE = re.compile(r"[\s\x00-\x1f\x7f]")
# scheme, authority, path (urllib.parse.urlsplit is several times slower, and the scorer
# checks every candidate of every key)
_URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)")


def _split_url(url: str) -> tuple[str, str, str]:
    """(lower-case scheme, lower-case host, path); '' if absent.

    A host with userinfo or a port other than 443 is returned whole, so it never equals a
    Discogs image host: no Discogs cover URL carries either.
    """
    m = _URL_RE.match(url)
    if m is None:
        return "", "", ""
    netloc = m.group(2).lower()
    host, _, port = netloc.partition(":")
    if "@" in netloc or port not in ("", "443"):
        host = netloc
    return m.group(1).lower(), host, m.group(3)


def validate_artwork_url(
    url: str | None,
    *,
    release_id: int | None,
    release_url: str | None,
    artist_image_url: str | None,
) -> tuple[str, ...]:
    """Reason codes why `url` must not be written to `library.artwork_url`; empty = valid.

    Checks: present; https; a Discogs image host; at most 512 characters; no whitespace;
    not `spacer.gif` or a default placeholder; not LML's synthetic streaming-only sentinel
    (`release_id` 0 or `release_url` ""); not the artist's photo (equal to
    `artist_image_url`, or a Discogs `A-` artist image) and not a label logo (`L-`).
    """
    return _check_url(url, _as_int(release_id), release_url, artist_image_url).reasons


@dataclass(frozen=True, slots=True)
class _UrlCheck:
    reasons: tuple[str, ...]  # why the URL must not be written (validate_artwork_url)
    other_release: bool  # the image file is another Discogs release's than the one matched
    size: int | None  # the served image's smaller side, when the URL says


@lru_cache(maxsize=1 << 17)
def _check_url(
    url: str | None, release_id: int | None, release_url: str | None, artist_image_url: str | None
) -> _UrlCheck:
    reasons: list[str] = []
    other_release = False
    size = None
    if not isinstance(url, str) or not url:
        reasons.append("no_artwork_url")
    else:
        if (not_cover := discogs_image.not_a_cover(url)) in ("spacer_gif", "placeholder_image"):
            reasons.append(not_cover)
        if _WHITESPACE_RE.search(url):
            scheme, host = "", ""
            reasons.append("url_malformed")
        else:
            scheme, host, _ = _split_url(url)
        if scheme != "https":
            reasons.append("url_not_https")
        if host not in DISCOGS_IMAGE_HOSTS:
            reasons.append("url_host")
        if len(url) > MAX_URL_LENGTH:
            reasons.append("url_too_long")
        if (artist_image_url and url == artist_image_url) or not_cover == "artist_photo":
            reasons.append("artist_photo")
        elif not_cover == "label_image":
            reasons.append("label_image")
        image = discogs_image.decode(url)
        if image is not None:
            other_release = image.kind == "R" and image.entity_id != release_id
            size = image.size
    if release_id is None or release_id <= 0 or not release_url:
        reasons.append("synthetic_release")
    return _UrlCheck(tuple(reasons), other_release, size)


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


# --------------------------------------------------------------------------------------------
# Text comparison (cached: a catalogue pass compares the same strings many times)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _TextMatch:
    album: float
    artist: float
    combined: float
    near_exact: bool  # album (notes included) and artist both at least strict_match
    hard: tuple[str, ...]  # reasons that reject
    caps: tuple[str, ...]  # reasons that hold the band at REVIEW
    info: tuple[str, ...]  # reasons that only explain

    @property
    def strong(self) -> bool:
        return not self.hard and "album_weak" not in self.caps and "artist_weak" not in self.caps


def _ratio(a: str, b: str) -> float:
    if a == b:
        return 100.0 if a else 0.0
    return fuzz.token_sort_ratio(a, b, processor=None)


_STOPWORDS = frozenset({"the", "a", "an", "and", "of"})


def _words_agree(a: str, b: str, variant_ratio: float) -> bool:
    """True when every significant word on one side has a counterpart on the other, exact or
    a spelling variant ("tomatoe"/"tomato", "colour"/"color").

    A high token-sort ratio can hide one different word in a long title ("... First
    Psychedelic Era" / "... Second ..."); such a pair may be right but is not HIGH.
    """
    words_a, words_b = set(a.split()), set(b.split())
    only_a, only_b = words_a - words_b, words_b - words_a
    for lonely, others in ((only_a - _STOPWORDS, only_b), (only_b - _STOPWORDS, only_a)):
        for word in lonely:
            if not any(fuzz.ratio(word, other) >= variant_ratio for other in others):
                return False
    return True


def _words_within(note: str, words: set[str]) -> bool:
    """Whether every significant word of a note is a word of the other side's title: "[live
    single]" says nothing new beside "Foo (Live Single)", "(Vol. II)" nothing beside "Vol. 2"."""
    return all(w in words for w in note.split() if w not in _STOPWORDS)


def _note_year_check(row_album: str, discogs_album: str | None, release_year: object) -> str | None:
    """WXYC tells same-titled albums apart by a year in brackets ("Seatrain [1970 debut]").

    When only the shelf's title carries such a year, Discogs' title cannot say which record it
    is: the release's own year must agree. No year to compare (LML-feb, or 0) holds the row at
    REVIEW; another year is another record.
    """
    rt = parse_title(row_album)
    if not rt.note_years or parse_title(discogs_album).note_years:
        return None
    if isinstance(release_year, int) and not isinstance(release_year, bool) and release_year > 0:
        return None if release_year in rt.note_years else "note_year_mismatch"
    return "note_year_unverified"


@lru_cache(maxsize=1 << 17)
def _compare(
    row_artist: str,
    row_album: str,
    discogs_artist: str | None,
    discogs_album: str | None,
    t: Thresholds,
) -> _TextMatch:
    # The common case: the same words on both sides, so the same notes, numbers and credits;
    # nothing below could find a difference. Checked on the raw text first (cheap), then on
    # the folded text.
    if (
        discogs_album is not None
        and discogs_artist is not None
        and row_album.strip()
        and row_artist.strip()
        and row_album.casefold().strip() == discogs_album.casefold().strip()
        and row_artist.casefold().strip() == discogs_artist.casefold().strip()
    ) or (
        fold(row_album) == fold(discogs_album)
        and fold(row_artist) == fold(discogs_artist)
        and fold(row_album)
        and fold(row_artist)
    ):
        repaired = not (row_album.isascii() and row_artist.isascii()) and (
            was_repaired(row_album) or was_repaired(row_artist)
        )
        return _TextMatch(100.0, 100.0, 100.0, True, (), (), ("mojibake_repaired",) * repaired)

    hard: list[str] = []
    caps: list[str] = []
    info: list[str] = []

    ra, da = parse_artist(row_artist), parse_artist(discogs_artist)
    rt, dt = parse_title(row_album), parse_title(discogs_album)
    if rt.repaired or ra.repaired:
        info.append("mojibake_repaired")
    if rt.self_titled and not ra.various:
        info.append("self_titled")
        rt = parse_title(ra.text)
    if dt.self_titled and not da.various:
        dt = parse_title(da.text)

    # Album: the full titles, and the titles without bracketed notes at reduced weight.
    if not rt.core or not dt.core:
        album = 0.0
        hard.append("album_missing")
    else:
        album_core = _ratio(rt.core, dt.core)
        album_full = _ratio(rt.full, dt.full)
        album = max(album_full, album_core * t.note_weight)
        if (
            album >= t.high_album
            and not _words_agree(rt.full, dt.full, t.word_variant_ratio)
            and not _words_agree(rt.core, dt.core, t.word_variant_ratio)
        ):
            caps.append("album_word_differs")
        # A note differs when its words are not already in the other side's title
        # ("Greatest Hits Vol. 2" carries "(Vol. II)").
        row_words, discogs_words = set(rt.full.split()), set(dt.full.split())
        differing = {n for n in rt.notes if not _words_within(n, discogs_words)} | {
            n for n in dt.notes if not _words_within(n, row_words)
        }
        if differing:
            if differing <= set(rt.edition_notes) | set(dt.edition_notes):
                info.append("edition_note_differs")
            else:
                caps.append("title_note_differs")
        row_numbers = rt.numbers | rt.note_numbers
        discogs_numbers = dt.numbers | dt.note_numbers
        if rt.note_years and dt.note_years and rt.note_years != dt.note_years:
            # WXYC tells same-titled albums apart by a year in brackets ("Seatrain [1970
            # debut]"); two different years name two different records.
            hard.append("number_mismatch")
        elif row_numbers != discogs_numbers:
            # A number missing from one side's title proper ("Thriller" / "Thriller 25"),
            # or notes numbered differently on both sides, is another record; a number only
            # one side's note mentions ("(Switched On Volume 2)") is for a person to judge.
            in_core = (row_numbers ^ discogs_numbers) & (rt.numbers | dt.numbers)
            if in_core or (rt.note_numbers and dt.note_numbers):
                hard.append("number_mismatch")
            else:
                caps.append("number_in_note_differs")
    # Artist.
    if ra.various or da.various:
        artist = 100.0 if ra.various and da.various else 0.0
        if artist:
            info.append("various_artists")
    elif not ra.key or not da.key:
        artist = 0.0
    else:
        artist = max(_ratio(a, b) for a in ra.variants for b in da.variants)
        row_members = credit_members(row_artist) if artist < t.high_artist else ()
        discogs_members = credit_members(discogs_artist) if artist < t.high_artist else ()
        if row_members or discogs_members:
            # One side names only part of a joint credit ("Anadol" / "Anadol & Marie Klock"):
            # plausible, never certain, so it scores below the HIGH line.
            partial = max(
                _ratio(a, b)
                for a in (row_members or ra.variants)
                for b in (discogs_members or da.variants)
            )
            if partial >= t.high_artist and partial * t.partial_credit_weight > artist:
                artist = partial * t.partial_credit_weight
                caps.append("artist_partial_credit")
        if ra.numbers != da.numbers:
            hard.append("artist_number_mismatch")
    if da.discogs_suffix:
        info.append("discogs_artist_suffix")

    if album < t.review_album:
        if "album_missing" not in hard:
            hard.append("album_mismatch")
    elif album < t.high_album:
        caps.append("album_weak")
    if artist < t.review_artist:
        hard.append("artist_mismatch")
    elif artist < t.high_artist:
        caps.append("artist_weak")

    combined = round(t.album_weight * album + (1.0 - t.album_weight) * artist, 2)
    near_exact = album >= t.strict_match and artist >= t.strict_match
    return _TextMatch(album, artist, combined, near_exact, tuple(hard), tuple(caps), tuple(info))


@lru_cache(maxsize=1 << 15)
def _corrected_matches(row_artist: str, corrected: str, strict: float) -> bool:
    ra, ca = parse_artist(row_artist), parse_artist(corrected)
    if ra.various or ca.various:
        return ra.various and ca.various
    return max(_ratio(a, b) for a in ra.variants for b in ca.variants) >= strict


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
    release_id = _as_int(artwork.get("release_id"))
    release_url = artwork.get("release_url")
    artist_image = artwork.get("artist_image_url")
    discogs_album = artwork.get("album") if isinstance(artwork.get("album"), str) else None
    discogs_artist = artwork.get("artist") if isinstance(artwork.get("artist"), str) else None

    checked = _check_url(
        url,
        release_id,
        release_url if isinstance(release_url, str) else None,
        artist_image if isinstance(artist_image, str) else None,
    )
    url_reasons = checked.reasons
    if not _NO_COVER_CODES.isdisjoint(url_reasons):
        # No cover to judge (no URL, spacer.gif, a placeholder): only the reasons matter.
        no_cover = [r for r in url_reasons if r in _NO_COVER_CODES]
        return _Candidate(
            index, tier, Band.REJECT, 0.0, False, url, discogs_album, discogs_artist,
            release_id, library_item_id, [*no_cover, *url_reasons],
        )  # fmt: skip
    text = _compare(row.artist_name or "", row.album_title or "", discogs_artist, discogs_album, t)
    hard: list[str] = [*text.hard, *url_reasons]
    caps: list[str] = list(text.caps)
    year_reason = _note_year_check(
        row.album_title or "", discogs_album, artwork.get("release_year")
    )
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
    answer_artist_id = _as_int(artwork.get("discogs_artist_id"))
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
        if _corrected_matches(row.artist_name or "", corrected_artist, t.high_artist):
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
    for cached in (_check_url, _compare, _corrected_matches):
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
        item_id = _as_int(item.get("id")) if isinstance(item, dict) else None
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
            reasons.extend(r for r in c.reasons if r in _NO_COVER_CODES or r == "synthetic_release")
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


# --------------------------------------------------------------------------------------------
# Cross-key evidence: one cover offered to several albums
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyVerdicts:
    """One lookup key's rows and their verdicts, as `score_key` made them."""

    key_id: str
    rows: Sequence[ShelfRow]
    verdicts: Sequence[Verdict]


def _cover_identities(verdict: Verdict) -> tuple[tuple[str, object], ...]:
    """What names the cover a verdict is about: its Discogs release (matched, and the one
    the image file names) and, for a URL that names no file, the URL itself."""
    ids: list[tuple[str, object]] = []
    if verdict.matched_release_id and verdict.matched_release_id > 0:
        ids.append(("release", verdict.matched_release_id))
    image = discogs_image.decode(verdict.artwork_url)
    if image is not None and image.kind == "R":
        ids.append(("release", image.entity_id))
    elif image is None and verdict.artwork_url:
        ids.append(("url", verdict.artwork_url))
    return tuple(dict.fromkeys(ids))


def _same_album(a: ShelfRow, b: ShelfRow, t: Thresholds) -> bool:
    """Two shelf rows name one album (two spellings, an edition note): sharing a cover is fine."""
    text = _compare(a.artist_name or "", a.album_title or "", b.artist_name, b.album_title, t)
    return (
        not text.hard
        and not text.caps
        and text.album >= t.high_album
        and text.artist >= t.high_artist
    )


def apply_cross_key_evidence(
    keys: Sequence[KeyVerdicts], thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> list[list[Verdict]]:
    """The verdicts of every key, with cover reuse across the whole cache taken into account.

    Cover reuse is visible only across keys: LML-feb scores every "Various" release alike and
    offers one compilation's cover to many V/A rows, and a direct answer can pair a row with
    another album's artwork. A cover (a Discogs release, or an image URL naming no file)
    that LML paired with the *own* library rows of several keys whose albums differ is
    suspect for every one of them: HIGH becomes REVIEW with `cover_shared:<keys>`. A cover
    offered to one key alone, or to keys that are one album spelled two ways, is untouched,
    so a compilation whose cover is its own stays HIGH. Offers of another library row's
    result (LML saying "here is another album") are not counted: they claim nothing.
    Pure: no network, no I/O.
    """
    offers: dict[tuple[str, object], dict[str, ShelfRow]] = {}
    for kv in keys:
        legacy_ids = {row.legacy_release_id for row in kv.rows}
        for row, verdict in zip(kv.rows, kv.verdicts, strict=True):
            if verdict.band not in (Band.HIGH, Band.REVIEW, Band.REJECT):
                continue
            if verdict.matched_library_item_id not in legacy_ids:
                continue
            if discogs_image.not_a_cover(verdict.artwork_url):
                continue
            for identity in _cover_identities(verdict):
                offers.setdefault(identity, {}).setdefault(kv.key_id, row)
    suspect: dict[str, int] = {}
    for by_key in offers.values():
        if len(by_key) < 2:
            continue
        shelf = list(by_key.values())
        if all(_same_album(shelf[0], other, thresholds) for other in shelf[1:]):
            continue
        for key_id in by_key:
            suspect[key_id] = max(suspect.get(key_id, 0), len(by_key))
    out: list[list[Verdict]] = []
    for kv in keys:
        n = suspect.get(kv.key_id)
        if n is None:
            out.append(list(kv.verdicts))
            continue
        out.append(
            [
                dataclasses.replace(
                    v,
                    band=Band.REVIEW if v.band is Band.HIGH else v.band,
                    reasons=_unique([*v.reasons, f"cover_shared:{n}_keys"]),
                )
                if v.band in (Band.HIGH, Band.REVIEW)
                else v
                for v in kv.verdicts
            ]
        )
    return out


# Reason codes that make a cover unwritable whatever a reviewer says: the image is not this
# release's cover. A reviewer may overrule the scorer's judgement of titles and rows, never these.
UNWRITABLE_CODES = frozenset({"artist_photo", "label_image", "synthetic_release"})


def cover_problems(url: str | None, release_id: int | None, reasons: str | None) -> list[str]:
    """Why a match-table row's cover must not be written (empty list: writable).

    The match table keeps the matched release id, not LML's release URL, so the release URL is
    taken as Discogs' page of that id: a missing or 0 id (LML's synthetic streaming-only
    result) is refused. `reasons` is the verdict's `;`-joined codes.
    """
    if not url:
        return ["no_artwork_url"]
    release_url = f"https://www.discogs.com/release/{release_id}" if release_id else None
    problems = list(
        validate_artwork_url(
            url, release_id=release_id, release_url=release_url, artist_image_url=None
        )
    )
    codes = {r.partition(":")[0] for r in (reasons or "").split(";") if r}
    problems.extend(sorted((codes & UNWRITABLE_CODES) - set(problems)))
    return problems
