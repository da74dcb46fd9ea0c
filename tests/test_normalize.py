"""The normaliser: grouping stays conservative, matching folds what Discogs spells differently."""

from __future__ import annotations

import re

import pytest

from artwork_backfill.judge.normalize import (
    cache_clear,
    canonical,
    clean_whitespace,
    credit_members,
    fold,
    grouping_key,
    grouping_text,
    is_various_artists,
    numbers_in,
    parse_artist,
    parse_title,
    repair_mojibake,
    roman_to_int,
    was_repaired,
)

# A corpus of catalogue-like strings for the property-style tests below.
CORPUS = [
    "Emperor Tomato Ketchup",
    "S√°lvese Quien Pueda",
    "Mortelle Randonn√©e",
    "La For√™t",
    "¬µ-Ziq [mu-Ziq]",
    "BeyoncÃ©",
    "Sigur Rós",
    "Motörhead",
    "Björk",
    "Æthenor",
    "Czesław Niemen",
    "Weiße Nacht",
    "MØ",
    " No Matter How Cold & Wet You Are",
    "Dots  and   Loops",
    'Automanikk 12"',
    "Seatrain [1970 debut]",
    "Pet Sounds (Deluxe Edition)",
    "Refried Ectoplasm (Switched On Volume 2)",
    "Selected Ambient Works 85-92",
    "Led Zeppelin IV",
    "I Am Kurious Oranj",
    "Various Artists - Rock - R",
    "Clean, The",
    "R.E.M.",
    "!!!",
    "Tzenni = تزني",
    "東京",
    "s/t",
    "",
    "Don’t Stand Me Down",
    "Tri Repetae\x0b",
]


# --------------------------------------------------------------------------------------------
# Grouping (unchanged, conservative)
# --------------------------------------------------------------------------------------------


def test_clean_whitespace() -> None:
    assert clean_whitespace(None) == ""
    assert clean_whitespace("  a \t b\x00c\n ") == "a b c"


@pytest.mark.parametrize(
    "text",
    [*CORPUS, "a\u00a0b", "a\u2003 b", "x\u200dy", "tab\there", " lead", "trail ", "two  spaces"],
)
def test_clean_whitespace_fast_path_is_exact(text: str) -> None:
    """The shortcut for already-clean text returns what the substitutions would."""
    slow = re.sub(r"\s+", " ", re.sub(r"[\x00-\x1f\x7f]", " ", text)).strip() if text else ""
    assert clean_whitespace(text) == slow


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Dots and Loops", "dots  and loops "),
        ("KID A", "Kid A"),
        ("Ｋｉｄ Ａ", "Kid A"),  # NFKC width
    ],
)
def test_grouping_merges_only_trivial_differences(a: str, b: str) -> None:
    assert grouping_text(a) == grouping_text(b)
    assert grouping_key("Stereolab", a) == grouping_key("stereolab ", b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Dots and Loops", "Dots & Loops"),
        ("Nuggets Vol. 1", "Nuggets Vol. 2"),
        ("Sálvese", "S√°lvese"),
        ("Pet Sounds", "Pet Sounds (Deluxe Edition)"),
        ("Kid A", "Kid A."),
    ],
)
def test_grouping_keeps_punctuation_and_words(a: str, b: str) -> None:
    assert grouping_key("X", a) != grouping_key("X", b)


def test_grouping_key_shape() -> None:
    key = grouping_key("Stereolab", "Emperor Tomato Ketchup")
    assert re.fullmatch(r"[0-9a-f]{20}", key)
    assert grouping_key(None, None) == grouping_key("", "")


# --------------------------------------------------------------------------------------------
# Mojibake
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("S√°lvese Quien Pueda", "Sálvese Quien Pueda"),
        ("Mortelle Randonn√©e", "Mortelle Randonnée"),
        ("La For√™t", "La Forêt"),
        ("¬µ-Ziq [mu-Ziq]", "µ-Ziq [mu-Ziq]"),
        ("Don‚Äôt", "Don’t"),  # a three-byte sequence
        ("BeyoncÃ©", "Beyoncé"),  # cp1252, ftfy's job
        ("Sigur RÃ³s", "Sigur Rós"),
        ("Ã\x81gÃ¦tis Byrjun", "Ágætis Byrjun"),  # latin-1 with a C1 byte
        ("Hall &amp; Oates", "Hall & Oates"),
        ("  S√°lvese  ", "Sálvese"),
    ],
)
def test_repair_mojibake(broken: str, fixed: str) -> None:
    assert repair_mojibake(broken) == fixed
    assert was_repaired(broken)


@pytest.mark.parametrize(
    "text",
    ["Motörhead", "Björk", "Sigur Rós", "Æthenor", "√2", "¬ not", "Hôtel ¬ é", "東京", "Ωmega"],
)
def test_repair_leaves_genuine_text_alone(text: str) -> None:
    assert repair_mojibake(text) == text
    assert not was_repaired(text)


@pytest.mark.parametrize("text", CORPUS)
def test_repair_is_idempotent(text: str) -> None:
    once = repair_mojibake(text)
    assert repair_mojibake(once) == once


# --------------------------------------------------------------------------------------------
# The matching fold
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", CORPUS)
def test_fold_output_shape(text: str) -> None:
    folded = fold(text)
    assert re.fullmatch(r"(?:[a-z0-9]+(?: [a-z0-9]+)*)?", folded), folded
    assert fold(folded) == folded  # idempotent


@pytest.mark.parametrize("text", [t for t in CORPUS if t.isascii()])
def test_fold_ignores_case(text: str) -> None:
    assert fold(text.upper()) == fold(text.lower()) == fold(text)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Sálvese Quien Pueda", "S√°lvese Quien Pueda"),
        ("Motörhead", "Motorhead"),
        ("Æthenor", "Aethenor"),
        ("MØ", "mo"),
        ("Weiße Nacht", "Weisse Nacht"),
        ("Czesław Niemen", "Czeslaw Niemen"),
        ("Simon & Garfunkel", "Simon and Garfunkel"),
        ("Kruder + Dorfmeister", "Kruder & Dorfmeister"),
        ("Don't Stand Me Down", "Dont Stand Me Down"),
        ("Don’t Stand Me Down", "Don't Stand Me Down"),
        ("R.E.M.", "REM"),
        ("Hail to the Thief.", "Hail To The Thief"),
        ("Ｋｉｄ Ａ", "kid a"),
        ("Beyoncé", "BeyoncÃ©"),
    ],
)
def test_fold_equivalences(a: str, b: str) -> None:
    assert fold(a) == fold(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("Tzenni", "Yenbett"), ("Vol. 1", "Vol. 2"), ("Kid A", "Kid B"), ("Low", "Lou")],
)
def test_fold_keeps_differences(a: str, b: str) -> None:
    assert fold(a) != fold(b)


# --------------------------------------------------------------------------------------------
# Numbers and roman numerals
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "in_context", "value"),
    [
        ("ii", False, 2),
        ("III", False, 3),
        ("iv", False, 4),
        ("vi", False, 6),
        ("ix", False, 9),
        ("xiv", False, 14),
        ("xxxix", False, 39),
        ("i", False, None),  # "I Am"
        ("x", False, None),  # "Malcolm X"
        ("v", False, None),
        ("i", True, 1),  # "Vol. I"
        ("v", True, 5),
        ("iiii", False, None),
        ("vv", False, None),
        ("mix", False, None),
        ("mc", False, None),
        ("cd", False, None),
        ("dc", False, None),
        ("lil", False, None),
        ("", False, None),
    ],
)
def test_roman_to_int(token: str, in_context: bool, value: int | None) -> None:
    assert roman_to_int(token, in_context=in_context) == value


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Nuggets Vol. 1", {1}),
        ("Nuggets Volume One", {1}),
        ("Nuggets Vol. I", {1}),
        ("Part One", {1}),
        ("Part Two", {2}),
        ("Led Zeppelin IV", {4}),
        ("Thriller 25", {25}),
        ("Thriller", set()),
        ("1999", {1999}),
        ("Selected Ambient Works 85-92", {85, 92}),
        ("The 2nd Law", {2}),
        ("I Am Kurious Oranj", set()),
        ("I Against I", set()),
        ("Malcolm X", set()),
        ("One Day as a Lion", set()),  # "one" is a word unless a context word precedes it
        ("Chapter V", {5}),
        ("Untitled #1", {1}),
        ("No. 5", {5}),
        ("Vol. 01", {1}),
    ],
)
def test_numbers_in(text: str, numbers: set[int]) -> None:
    assert numbers_in(text) == frozenset(numbers)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Part One", "Part 1"),
        ("Volume II", "Vol. 2"),
        ("Vol. I", "Volume 1"),
        ("Chapter Three", "Ch. 3"),
    ],
)
def test_canonical_number_spellings_agree(a: str, b: str) -> None:
    assert canonical(a) == canonical(b)


# --------------------------------------------------------------------------------------------
# Titles
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "core", "notes", "edition_notes"),
    [
        ("Emperor Tomato Ketchup", "emperor tomato ketchup", (), ()),
        ('Automanikk 12"', "automanikk", (), ()),
        ("Blue Monday 7 inch", "blue monday", (), ()),
        ("Marquee Moon LP", "marquee moon", (), ()),
        ("Sound of Silver (2xLP)", "sound of silver", (), ()),
        ("Untrue (2xLP, Album)", "untrue", (), ()),
        ("Hound [1995 LP]", "hound", ("1995 lp",), ("1995 lp",)),
        ("Quiet Cello [1971]", "quiet cello", ("1971",), ("1971",)),
        ("Seatrain [1970 debut]", "seatrain", ("1970 debut",), ("1970 debut",)),
        ("Pet Sounds (Deluxe Edition)", "pet sounds", ("deluxe edition",), ("deluxe edition",)),
        ("Loveless [Remastered]", "loveless", ("remastered",), ("remastered",)),
        ("Abbey Road - Remastered 2009", "abbey road", ("remastered 2009",), ("remastered 2009",)),
        ("Foo EP", "foo", ("ep",), ("ep",)),
        ("Tzenni = Tzenni Translated", "tzenni", ("tzenni translated",), ("tzenni translated",)),
        ("Pink Flag (Live)", "pink flag", ("live",), ()),
        (
            "Refried Ectoplasm (Switched On Volume 2)",
            "refried ectoplasm",
            ("switched on vol 2",),
            (),
        ),
        ("(Untitled)", "untitled", (), ()),
        ("Wall, The", "the wall", (), ()),
        ("LP", "lp", (), ()),  # a title that is only a format word stays a title
        ("...", "...", (), ()),
    ],
)
def test_parse_title_parts(
    text: str, core: str, notes: tuple[str, ...], edition_notes: tuple[str, ...]
) -> None:
    title = parse_title(text)
    assert (title.core, title.notes, title.edition_notes) == (core, notes, edition_notes)


def test_parse_title_numbers_by_place() -> None:
    t = parse_title("Refried Ectoplasm (Switched On Volume 2)")
    assert (t.numbers, t.note_numbers) == (frozenset(), frozenset({2}))
    t = parse_title("Tago Mago (40th Anniversary Edition)")
    assert (t.numbers, t.note_numbers) == (frozenset(), frozenset())  # edition notes don't count
    t = parse_title("Greatest Hits Vol. 2 (2011 Remaster)")
    assert (t.numbers, t.note_numbers) == (frozenset({2}), frozenset())
    assert t.note_years == frozenset({2011})
    assert parse_title("Seatrain [1970 debut]").note_years == frozenset({1970})


@pytest.mark.parametrize(
    "text", ["s/t", "S/T", "(s/t)", "S.T.", "self-titled", "Self Titled", "SELF-TITLED"]
)
def test_self_titled(text: str) -> None:
    assert parse_title(text).self_titled


@pytest.mark.parametrize("text", ["St. Elsewhere", "Stations", "Self Esteem", "Titled"])
def test_not_self_titled(text: str) -> None:
    assert not parse_title(text).self_titled


@pytest.mark.parametrize("text", [t for t in CORPUS if t])
@pytest.mark.parametrize("suffix", [' 12"', " LP", " (2xCD)", " [Remastered]", " (Deluxe Edition)"])
def test_format_and_edition_suffixes_keep_the_core(text: str, suffix: str) -> None:
    """Appending a format or edition note never changes the core words or core numbers."""
    base, extended = parse_title(text), parse_title(text + suffix)
    if base.core and not base.notes and base.core == fold(base.text):
        assert extended.core == base.core
        assert extended.numbers == base.numbers


@pytest.mark.parametrize("text", ["Nuggets", "Greatest Hits", "Thriller", "Radio Java"])
@pytest.mark.parametrize("number", [" 2", " Vol. 2", " II", " Part Two", " 1999"])
def test_appending_a_number_changes_numbers(text: str, number: str) -> None:
    assert parse_title(text).numbers != parse_title(text + number).numbers


def test_repaired_flag() -> None:
    assert parse_title("S√°lvese Quien Pueda").repaired
    assert not parse_title(" Kid  A ").repaired


# --------------------------------------------------------------------------------------------
# Artists
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Various Artists - Rock - R",
        "Various Artists - Hiphop",
        "Various Artists - OCS",
        "various",
        "Various",
        "Various Artists",
        "VARIOUS ARTISTS",
        "V/A",
        "Various Artists (2)",
    ],
)
def test_various_artists(text: str) -> None:
    assert is_various_artists(text) or parse_artist(text).various
    assert parse_artist(text).key == "various"


@pytest.mark.parametrize("text", ["Various Production", "Various Cruelties", "Variously", "Va"])
def test_not_various_artists(text: str) -> None:
    assert not is_various_artists(text)
    assert not parse_artist(text).various


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("The Clean", "Clean, The"),
        ("The Clean", "Clean"),
        ("Ghost", "Ghost (2)"),
        ("Sun Ra And His Arkestra*", "Sun Ra and His Arkestra"),
        ("Beyoncé", "BeyoncÃ©"),
        ("Motörhead", "MOTORHEAD"),
    ],
)
def test_artist_keys_agree(a: str, b: str) -> None:
    assert parse_artist(a).key == parse_artist(b).key


def test_artist_details() -> None:
    assert parse_artist("Ghost (2)").discogs_suffix
    assert not parse_artist("Ghost").discogs_suffix
    assert parse_artist("Blink-182").numbers == frozenset({182})
    assert parse_artist("The The").key == "the"
    assert parse_artist("!!!").key == "!!!"
    mu = parse_artist("¬µ-Ziq [mu-Ziq]")
    assert mu.repaired and "mu ziq" in mu.variants and parse_artist("µ-Ziq").key in mu.variants
    assert credit_members("Anadol & Marie Klock") == ("anadol", "marie klock")
    assert credit_members("The Clean & The Chills") == ("clean", "chills")
    assert credit_members("Stereolab") == ()
    assert credit_members("Various Artists - Rock - R") == ()


def test_matching_functions_are_cached() -> None:
    cache_clear()
    parse_title("Emperor Tomato Ketchup")
    parse_title("Emperor Tomato Ketchup")
    assert parse_title.cache_info().hits >= 1
    assert parse_artist.cache_info().maxsize and fold.cache_info().maxsize
