"""The scorer's reason codes: `REASONS` (code -> one-line meaning, the README's table is
generated from it) and `explain`."""

from __future__ import annotations

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
    # the audit of a value already in library.artwork_url
    "same_image": "the value is the very cover the gate rates high for this row",
    "same_release": "the value is an image of the release the gate rates high for this row",
    "gate_rejects_release": "the value is an image of a release the gate rejects for this row (another album or artist)",
    "other_artist_cover": "the value is the cover of a release the cached answers show is another artist's",
    "other_album_cover": "the value is the cover of a release the cached answers show is another album",
    "no_replacement": "wrong, and the gate has no safe cover to put in its place",
    "no_answer": "LML was not asked about this row's album yet (audit --no-lookup, or --limit)",
    "answer_pending": "LML's answer for this album is not final yet",
    "gate_not_sure": "the value is the cover the gate found, but the gate is not sure of it",
    "differs_from_gate_cover": "the gate rates another release's cover high; the value's release is not known to be another album",
    "gate_review": "the gate is unsure of every cover it found for this row",
    "gate_reject": "the gate refused every cover it found for this row",
    "gate_no_match": "LML found no cover for this row",
    "release_unknown": "the value's URL does not name a Discogs release",
    "release_not_in_answers": "no cached answer says what the value's release is",
    "same_album_other_release": "the value's release is this album in another edition: not the gate's choice, not wrong",
}


def explain(code: str) -> str:
    """The one-line explanation of a reason code (a ":detail" suffix is kept)."""
    base, _, detail = code.partition(":")
    text = REASONS.get(base, base)
    return f"{text} ({detail})" if detail else text
