"""Text comparison of a shelf row with Discogs' artist and album (cached: a catalogue pass
compares the same strings many times): `compare_texts` gives the similarity scores and the
reasons that reject, hold at REVIEW, or only explain; `note_year_check` and
`corrected_matches` are the two smaller checks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from artwork_backfill.judge.normalize import (
    credit_members,
    fold,
    parse_artist,
    parse_title,
    was_repaired,
)
from artwork_backfill.judge.thresholds import Thresholds


@dataclass(frozen=True, slots=True)
class TextMatch:
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


def note_year_check(row_album: str, discogs_album: str | None, release_year: object) -> str | None:
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
def compare_texts(
    row_artist: str,
    row_album: str,
    discogs_artist: str | None,
    discogs_album: str | None,
    t: Thresholds,
) -> TextMatch:
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
        return TextMatch(100.0, 100.0, 100.0, True, (), (), ("mojibake_repaired",) * repaired)

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
    return TextMatch(album, artist, combined, near_exact, tuple(hard), tuple(caps), tuple(info))


@lru_cache(maxsize=1 << 15)
def corrected_matches(row_artist: str, corrected: str, strict: float) -> bool:
    ra, ca = parse_artist(row_artist), parse_artist(corrected)
    if ra.various or ca.various:
        return ra.various and ca.various
    return max(_ratio(a, b) for a in ra.variants for b in ca.variants) >= strict
