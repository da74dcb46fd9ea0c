"""The scorer against the labelled cases, plus its smaller contracts."""

from __future__ import annotations

import dataclasses

import pytest

from artwork_backfill.judge.answers import classify_body
from artwork_backfill.judge.crosskey import KeyVerdicts, apply_cross_key_evidence
from artwork_backfill.judge.reasons import REASONS, explain
from artwork_backfill.judge.score import Band, ShelfRow, Verdict, score_key
from artwork_backfill.judge.thresholds import DEFAULT_THRESHOLDS, Thresholds
from artwork_backfill.judge.urls import MAX_URL_LENGTH, as_int, validate_artwork_url
from artwork_backfill.model import Answer, Classification

from .cases import (
    Case,
    art,
    aug_body,
    cover,
    format_tallies,
    item,
    legacy_cover,
    naive_first_rule,
    res,
    score_case,
    scorer_rule,
    tally,
    wxyc_direct_rule,
)
from .cases.labelled import CASES


def _ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]


# --------------------------------------------------------------------------------------------
# The labelled set
# --------------------------------------------------------------------------------------------


def test_case_set_is_big_and_well_formed() -> None:
    assert len(CASES) >= 100
    assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"
    assert {c.generation for c in CASES} == {"aug", "feb"}
    for case in CASES:
        assert len(case.expect) == len(case.rows) == len(case.cover_correct)


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_expected_band(case: Case) -> None:
    verdicts = score_case(case)
    assert [v.library_id for v in verdicts] == [r.library_id for r in case.rows]
    got = tuple(v.band for v in verdicts)
    assert got == case.expect, "\n".join(f"{v.band}: {v.reasons}" for v in verdicts)


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_verdict_invariants(case: Case) -> None:
    for verdict in score_case(case):
        assert 0.0 <= verdict.score <= 100.0
        assert verdict.reasons or verdict.band is Band.HIGH
        for code in verdict.reasons:
            assert code.partition(":")[0] in REASONS, f"undocumented reason {code!r}"
        if verdict.band is Band.HIGH:
            assert verdict.artwork_url is not None
            assert verdict.matched_release_id is not None
            assert verdict.search_type == "direct"
            assert (
                validate_artwork_url(
                    verdict.artwork_url,
                    release_id=verdict.matched_release_id,
                    release_url=f"https://www.discogs.com/release/{verdict.matched_release_id}",
                    artist_image_url=None,
                )
                == ()
            )
        if verdict.band in (Band.NO_MATCH, Band.PENDING):
            assert verdict.artwork_url is None


def test_precision_is_perfect_and_recall_beats_wxyc(capsys: pytest.CaptureFixture[str]) -> None:
    """No wrong cover is ever HIGH; print recall next to WXYC's rules."""
    for case in CASES:
        for verdict, truth, good in zip(
            score_case(case), case.cover_correct, case.good_urls, strict=True
        ):
            if verdict.band is Band.HIGH:
                assert truth is not False, f"{case.name}: a wrong cover is HIGH"
                assert verdict.artwork_url in good, f"{case.name}: HIGH with an unlisted cover"
    ours = tally(CASES, scorer_rule)
    wxyc = tally(CASES, wxyc_direct_rule)
    naive = tally(CASES, naive_first_rule)
    with capsys.disabled():
        print("\n" + format_tallies(CASES))
    assert ours.precision == 1.0 and ours.wrong == 0 and ours.unknown == 0
    assert wxyc.wrong > 0 and naive.wrong >= wxyc.wrong  # the traps do trap them
    assert ours.recall > 0.6


# --------------------------------------------------------------------------------------------
# Answers that are not final, and bodies that are odd
# --------------------------------------------------------------------------------------------

ROW = ShelfRow(1, 1001, "Stereolab", "Emperor Tomato Ketchup", "CD")


def _answer(classification: Classification, reason: str, body: dict | None) -> Answer:
    return Answer("k", "single", 200, classification, reason, body, 1, 10.0, 0.0, 0.01)


def test_no_rows_no_verdicts() -> None:
    assert score_key([], None) == []


@pytest.mark.parametrize(
    ("classification", "reason", "expected"),
    [
        (Classification.TRANSIENT, "http_503", "pending_transient:http_503"),
        (Classification.ERROR, "http_422", "pending_error:http_422"),
    ],
)
def test_non_final_answers_are_pending(
    classification: Classification, reason: str, expected: str
) -> None:
    (verdict,) = score_key([ROW], _answer(classification, reason, None))
    assert verdict.band is Band.PENDING and verdict.reasons == (expected,)


def test_match_without_body_is_pending() -> None:
    (verdict,) = score_key([ROW], _answer(Classification.MATCH, "results", None))
    assert verdict.band is Band.PENDING


def test_garbled_results_are_pending_not_a_no_match() -> None:
    # A stored "match" whose results are no LookupResultItems (an older cache, or a garbled
    # answer) is judged again: it is no answer, so the key stays pending and is asked again.
    body = aug_body([])
    body["results"] = [None, "x", {"library_item": None, "artwork": "nope"}]
    (verdict,) = score_key([ROW], _answer(Classification.MATCH, "results", body))
    assert verdict.band is Band.PENDING
    assert verdict.reasons == ("pending_transient:bad_result_item",)


def test_string_ids_and_release_ids_are_read() -> None:
    artwork = art(5_550_101, "Emperor Tomato Ketchup", "Stereolab")
    artwork["release_id"] = "5550101"
    library_item = item(1001, "Emperor Tomato Ketchup", "Stereolab")
    library_item["id"] = "1001"
    body = aug_body([res(library_item, artwork)])
    (verdict,) = score_key([ROW], _answer(Classification.MATCH, "results", body))
    assert verdict.band is Band.HIGH and verdict.matched_release_id == 5_550_101


def test_verdict_fields_for_high() -> None:
    artwork = art(5_550_101, "Emperor Tomato Ketchup", "Stereolab")
    body = aug_body([res(item(1001, "Emperor Tomato Ketchup", "Stereolab"), artwork)])
    (verdict,) = score_key([ROW], _answer(Classification.MATCH, "results", body))
    assert verdict == Verdict(
        library_id=1,
        band=Band.HIGH,
        score=100.0,
        artwork_url=artwork["artwork_url"],
        matched_artist="Stereolab",
        matched_album="Emperor Tomato Ketchup",
        matched_release_id=5_550_101,
        matched_library_item_id=1001,
        search_type="direct",
        reasons=(),
    )


def test_library_id_is_never_mistaken_for_legacy_id() -> None:
    """`library_item.id` equal to the row's library.id (not its legacy id) is another row."""
    row = ShelfRow(2002, 7007, "Stereolab", "Emperor Tomato Ketchup")
    artwork = art(5_550_101, "Emperor Tomato Ketchup", "Stereolab")
    body = aug_body([res(item(2002, "Emperor Tomato Ketchup", "Stereolab"), artwork)])
    (verdict,) = score_key([row], _answer(Classification.MATCH, "results", body))
    assert verdict.band is Band.REVIEW and "other_release_id" in verdict.reasons


# --------------------------------------------------------------------------------------------
# URL validation
# --------------------------------------------------------------------------------------------

GOOD = cover(5_550_101)


def _check(url: str | None, release_id: int | None = 5_550_101, release_url: str | None = "x", artist_image_url: str | None = None) -> tuple[str, ...]:  # fmt: skip
    return validate_artwork_url(
        url, release_id=release_id, release_url=release_url, artist_image_url=artist_image_url
    )


@pytest.mark.parametrize(
    ("url", "codes"),
    [
        (GOOD, ()),
        (legacy_cover(5_550_101), ()),
        (None, ("no_artwork_url",)),
        ("", ("no_artwork_url",)),
        ("https://s.discogs.com/images/spacer.gif", ("spacer_gif",)),
        ("https://s.discogs.com/images/SPACER.GIF", ("spacer_gif",)),
        (GOOD.replace("https://", "http://"), ("url_not_https",)),
        (GOOD.replace("i.discogs.com", "evil.example.com"), ("url_host",)),
        (GOOD.replace("i.discogs.com", "i.discogs.com.evil.net"), ("url_host",)),
        (GOOD.replace("i.discogs.com", "st.discogs.com"), ("url_host",)),
        (GOOD.replace("i.discogs.com", "I.DISCOGS.COM"), ()),
        (GOOD.replace("i.discogs.com", "i.discogs.com:443"), ()),
        (GOOD.replace("i.discogs.com", "i.discogs.com:8443"), ("url_host",)),
        (GOOD.replace("i.discogs.com", "i.discogs.com@evil.example.com"), ("url_host",)),
        (GOOD.replace("i.discogs.com", "user@i.discogs.com"), ("url_host",)),
        (GOOD + "?" + "x" * MAX_URL_LENGTH, ("url_too_long",)),
        (GOOD.replace("rs:fit", "rs fit"), ("url_malformed", "url_not_https", "url_host")),
        ("ftp://i.discogs.com/a.jpg", ("url_not_https",)),
        (cover(77, kind="A"), ("artist_photo",)),
        (cover(77, kind="L"), ("label_image",)),
        (legacy_cover(77, kind="A"), ("artist_photo",)),
        ("https://s.discogs.com/images/default-release-cd.png", ("placeholder_image",)),
    ],
)
def test_validate_artwork_url(url: str | None, codes: tuple[str, ...]) -> None:
    assert _check(url) == codes


def test_url_of_exactly_512_characters_is_valid() -> None:
    url = GOOD + "?" + "x" * (MAX_URL_LENGTH - len(GOOD) - 1)
    assert len(url) == MAX_URL_LENGTH and _check(url) == ()
    assert _check(url + "x") == ("url_too_long",)


def test_synthetic_release_and_artist_photo() -> None:
    assert _check(GOOD, release_id=0, release_url="") == ("synthetic_release",)
    assert _check(GOOD, release_id=None) == ("synthetic_release",)
    assert _check(GOOD, release_url="") == ("synthetic_release",)
    assert _check(GOOD, artist_image_url=GOOD) == ("artist_photo",)
    assert _check(GOOD, artist_image_url=cover(1, kind="A")) == ()
    assert _check(None, release_id=0, release_url="") == ("no_artwork_url", "synthetic_release")


# --------------------------------------------------------------------------------------------
# Thresholds and reasons
# --------------------------------------------------------------------------------------------


def test_thresholds_from_mapping() -> None:
    t = Thresholds.from_mapping({"high_album": "95", "ambiguity_margin": 5, "note_weight": "0.9"})
    assert (t.high_album, t.ambiguity_margin, t.note_weight) == (95.0, 5.0, 0.9)
    assert Thresholds.from_mapping({}) == DEFAULT_THRESHOLDS
    assert set(DEFAULT_THRESHOLDS.as_dict()) == set(Thresholds.names())


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"high_albun": 90}, "unknown threshold 'high_albun'"),
        ({"high_album": "ninety"}, "'high_album' must be a number"),
        ({"high_album": True}, "'high_album' must be a number"),
        ({"high_album": None}, "'high_album' must be a number"),
        ({"high_album": 120}, "'high_album' must be between 0 and 100"),
        ({"note_weight": 1.5}, "'note_weight' must be between 0 and 1"),
        ({"min_lml_confidence": "nan"}, "'min_lml_confidence' must be between 0 and 1"),
        ({"review_album": 95}, "review_album (95.0) must not exceed high_album (90.0)"),
    ],
)
def test_thresholds_from_mapping_rejects(mapping: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Thresholds.from_mapping(mapping)


def test_stricter_thresholds_only_lower_bands() -> None:
    strict = dataclasses.replace(DEFAULT_THRESHOLDS, high_album=99.0, high_artist=99.0)
    rank = {Band.HIGH: 0, Band.REVIEW: 1, Band.REJECT: 2, Band.NO_MATCH: 2, Band.PENDING: 2}
    for case in CASES:
        for loose, tight in zip(
            score_case(case), score_key(case.rows, case.answer(), strict), strict=True
        ):
            assert rank[tight.band] >= rank[loose.band], case.name


def test_every_reason_is_explained() -> None:
    for code, text in REASONS.items():
        assert code and text and "\n" not in text
    assert explain("pending_transient:http_503").endswith("(http_503)")
    assert explain("ambiguous_covers") == REASONS["ambiguous_covers"]


# --------------------------------------------------------------------------------------------
# Speed
# --------------------------------------------------------------------------------------------


def test_scores_a_catalogue_quickly() -> None:
    """20K distinct keys (a third of the catalogue) in well under the budget."""
    keys = []
    for i in range(20_000):
        artist, album = f"Artist {i} Band", f"Album Title {i} Words"
        artwork = art(6_000_000 + i, album, artist)
        body = aug_body([res(item(10_000 + i, album, artist), artwork)])
        keys.append(
            (
                [ShelfRow(i, 10_000 + i, artist, album)],
                _answer(Classification.MATCH, "results", body),
            )
        )
    bands = [score_key(rows, answer)[0].band for rows, answer in keys]
    assert bands.count(Band.HIGH) == len(keys)  # speed is bench/labelled_recall.py's business


# --------------------------------------------------------------------------------------------
# Image size, and cross-key evidence (one cover offered to several albums)
# --------------------------------------------------------------------------------------------


def _direct(
    shelf: ShelfRow, album: str, artist: str, release_id: int, url: str | None = None
) -> Answer:
    artwork = art(release_id, album, artist, url=cover(release_id) if url is None else url)
    body = aug_body(
        [res(item(shelf.legacy_release_id, shelf.album_title, shelf.artist_name), artwork)]
    )
    return _answer(Classification.MATCH, "results", body)


def test_a_thumbnail_is_written_with_its_reason_or_sent_to_review_by_threshold() -> None:
    shelf = ShelfRow(1, 901, "Carla Bley", "Escalator Over the Hill")
    answer = _direct(shelf, "Escalator Over The Hill", "Carla Bley", 77, cover(77, size=150))
    (verdict,) = score_key([shelf], answer)
    assert verdict.band is Band.HIGH and "small_image:150px" in verdict.reasons
    strict = Thresholds.from_mapping({"review_image_px": "300"})
    (verdict,) = score_key([shelf], answer, strict)
    assert verdict.band is Band.REVIEW and "small_image:150px" in verdict.reasons
    (full,) = score_key([shelf], _direct(shelf, "Escalator Over The Hill", "Carla Bley", 77))
    assert full.band is Band.HIGH and not any(r.startswith("small_image") for r in full.reasons)


def _judge(*keyed: tuple[ShelfRow, Answer]) -> list[Verdict]:
    keys = [
        KeyVerdicts(f"k{i}", [shelf], score_key([shelf], answer))
        for i, (shelf, answer) in enumerate(keyed)
    ]
    return [v for verdicts in apply_cross_key_evidence(keys) for v in verdicts]


def test_one_cover_offered_to_several_albums_is_suspect_for_all() -> None:
    owner = ShelfRow(1, 1001, "Various Artists - Rock - R", "Punk Classics")
    other = ShelfRow(2, 1002, "various", "Punk Classics Volume Two")
    third = ShelfRow(3, 1003, "Various Artists - OCS", "Desert Blues")
    verdicts = _judge(
        (owner, _direct(owner, "Punk Classics", "Various", 555)),
        (other, _direct(other, "Punk Classics", "Various", 555)),
        (third, _direct(third, "Punk Classics", "Various", 555)),
    )
    assert [v.band for v in verdicts] == [Band.REVIEW, Band.REJECT, Band.REJECT]
    assert "cover_shared:3_keys" in verdicts[0].reasons


def test_a_compilation_whose_cover_is_its_own_stays_high() -> None:
    a = ShelfRow(1, 1001, "Various Artists - Rock - R", "Punk Classics")
    b = ShelfRow(2, 1002, "Various Artists - OCS", "Desert Blues")
    verdicts = _judge(
        (a, _direct(a, "Punk Classics", "Various", 555)),
        (b, _direct(b, "Desert Blues", "Various Artists", 556)),
    )
    assert [v.band for v in verdicts] == [Band.HIGH, Band.HIGH]
    assert not any(r.startswith("cover_shared") for v in verdicts for r in v.reasons)


def test_one_album_spelled_two_ways_may_share_its_cover() -> None:
    a = ShelfRow(1, 1001, "Various Artists - Rock - R", "Punk Classics")
    b = ShelfRow(2, 1002, "various", "Punk Classics")
    c = ShelfRow(3, 1003, "Beach Boys", "Pet Sounds")
    d = ShelfRow(4, 1004, "The Beach Boys", "Pet Sounds (Deluxe Edition)")
    verdicts = _judge(
        (a, _direct(a, "Punk Classics", "Various", 555)),
        (b, _direct(b, "Punk Classics", "Various", 555)),
        (c, _direct(c, "Pet Sounds", "The Beach Boys", 700)),
        (d, _direct(d, "Pet Sounds", "The Beach Boys", 700)),
    )
    assert [v.band for v in verdicts] == [Band.HIGH, Band.HIGH, Band.HIGH, Band.HIGH]


def test_the_same_image_under_two_release_ids_is_one_cover() -> None:
    a = ShelfRow(1, 1001, "Mirage", "Mirage")
    b = ShelfRow(2, 1002, "Mirage Men", "Mirage")
    verdicts = _judge(
        (a, _direct(a, "Mirage", "Mirage", 801, cover(801))),
        (b, _direct(b, "Mirage", "Mirage Men", 802, cover(801))),
    )
    assert verdicts[0].band is Band.REVIEW and "cover_shared:2_keys" in verdicts[0].reasons
    assert verdicts[1].band is Band.REVIEW and "image_release_differs" in verdicts[1].reasons


def test_another_rows_result_claims_nothing_about_the_cover() -> None:
    """Yenbett's answer pointing at Tzenni's own library row is LML saying "here is another
    album", not a second album wearing Tzenni's cover: Tzenni stays HIGH."""
    yenbett = ShelfRow(1, 131876, "Noura Mint Seymali", "Yenbett")
    tzenni = ShelfRow(2, 131877, "Noura Mint Seymali", "Tzenni")
    tz_art = art(5879935, "Tzenni", "Noura Mint Seymali")
    substituted = aug_body(
        [res(item(131877, "Tzenni", "Noura Mint Seymali"), tz_art)], "alternative"
    )
    verdicts = _judge(
        (yenbett, _answer(Classification.MATCH, "results", substituted)),
        (tzenni, _direct(tzenni, "Tzenni", "Noura Mint Seymali", 5879935)),
    )
    assert verdicts[0].band is Band.REJECT and verdicts[1].band is Band.HIGH


@pytest.mark.parametrize(
    ("results", "reason"),
    [
        (["a"], "bad_result_item"),
        ([{}], "bad_library_item"),
        ([{"library_item": {"id": 1001}, "artwork": []}], "bad_artwork"),
        ([{"library_item": {"id": 1001}, "artwork": {"artwork_url": GOOD}}], "bad_artwork"),
        ([{"library_item": {"id": 10**30}, "artwork": None}], "bad_library_item"),
        ([{"library_item": {"id": 1001}, "artwork": {"release_id": 10**30}}], "bad_artwork"),
        ([{"library_item": {"id": "9" * 5001}, "artwork": None}], "bad_library_item"),
    ],
)
def test_results_that_are_no_lookup_result_items_are_transient(
    results: list[object], reason: str
) -> None:
    body = aug_body([])
    body["results"] = results
    assert classify_body(body) == (Classification.TRANSIENT, reason)


@pytest.mark.parametrize(
    "value", [10**30, -(10**30), 2**63, "9" * 20, "9" * 5001, 1e30, True, 1.5, "12a"]
)
def test_ids_outside_64_bits_or_not_integers_are_no_id(value: object) -> None:
    assert as_int(value) is None


def test_ids_inside_64_bits_are_read() -> None:
    assert as_int(2**63 - 1) == 2**63 - 1 and as_int(" 42 ") == 42 and as_int(7.0) == 7


@pytest.mark.parametrize(
    "url",
    [
        'https://i.discogs.com/x"><script>alert(1)</script>.jpg',
        "https://i.discogs.com/x'onerror='alert(1).jpg",
        "https://i.discogs.com/a<b>.jpg",
        "https://i.discogs.com/a b.jpg",
        "https://i.discogs.com/a\\b.jpg",
        "https://i.discogs.com/a`b.jpg",
        "https://i.discogs.com/a{b}.jpg",
        "https://i.discogs.com/a|b.jpg",
        "https://i.discogs.com/a^b.jpg",
        "https://i.discogs.com/caf\u00e9.jpg",
        "https://i.discogs.com/100%.jpg",
        "https://i.discogs.com/a%zzb.jpg",
        "https://i.discogs.com/a\tb.jpg",
        "https://i.discogs.com/a\x00b.jpg",
    ],
)
def test_a_url_with_a_character_that_must_be_percent_encoded_is_refused(url: str) -> None:
    assert "url_malformed" in _check(url)  # refused, never repaired


@pytest.mark.parametrize("field", ["confidence", "discogs_artist_id", "release_year", "master_id"])
def test_an_integer_beyond_64_bits_in_any_field_makes_the_answer_garbled(field: str) -> None:
    body = aug_body(
        [
            res(
                item(1001, "Emperor Tomato Ketchup", "Stereolab"),
                art(5_550_101, "Emperor Tomato Ketchup", "Stereolab"),
            )
        ]
    )
    assert classify_body(body)[0] is Classification.MATCH
    body["results"][0]["artwork"][field] = 10**30
    assert classify_body(body) == (Classification.TRANSIENT, "int_out_of_range")
    body["results"][0]["artwork"][field] = -(2**63) - 1
    assert classify_body(body) == (Classification.TRANSIENT, "int_out_of_range")
