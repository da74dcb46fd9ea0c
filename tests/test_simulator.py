"""The LML simulator and its catalog generator: a real server on 127.0.0.1, spoken to with httpx."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from artwork_backfill.demo.simulator import (
    Catalog,
    Expectation,
    FaultConfig,
    KeyTruth,
    RunningSimulator,
    Scenario,
    SimulatorConfig,
    generate_catalog,
    start_simulator,
)
from artwork_backfill.demo.simulator.catalog import (
    FORM_LEGACY,
    FORM_ONE_SEGMENT,
    FORM_SEGMENTED,
    GENRES,
    VA_CREDITS,
    image_file_tail,
    mojibake,
)
from artwork_backfill.judge import discogs_image
from artwork_backfill.judge.normalize import grouping_key

pytestmark = pytest.mark.timeout(60)

LOOKUP = "/api/v1/lookup"
BULK = "/api/v1/lookup/bulk"
AUG_TOP_KEYS = {
    "api_version",
    "results",
    "search_type",
    "song_not_found",
    "found_on_compilation",
    "context_message",
    "corrected_artist",
    "cache_stats",
    "identity",
    "timeout",
    "degraded",
}
FEB_TOP_KEYS = {
    "results",
    "search_type",
    "song_not_found",
    "found_on_compilation",
    "context_message",
    "corrected_artist",
    "cache_stats",
}
AUG_ITEM_KEYS = {
    "id",
    "title",
    "artist",
    "call_letters",
    "artist_call_number",
    "release_call_number",
    "genre",
    "format",
    "label",
    "call_number",
    "library_url",
    "on_streaming",
}
CACHE_STATS_KEYS = {"memory_hits", "pg_hits", "pg_misses", "api_calls", "pg_time_ms", "api_time_ms"}
_NUMBERS_RE = re.compile(r"\b(\d+|[IVX]+)\b")
# artwork_url of the contract's examples 13 and 14: what LML-feb's own code returned
REAL_FALLBACK_URLS = (
    "https://i.discogs.com/IyqKdxa95EY1ZIpbSGB6mk4Xw2J6Ge4zOjGbhSl2jas/rs:fit/g:sm/q:90/h:600/"
    "w:600/czM6Ly9kaXNjb2dz/LWRhdGFiYXNlLWlt/YWdlcy9MLTcxOTk2/MS0xMjE2NjUwODY3/"
    "LTQyOTguanBlZw.jpeg",
    "https://i.discogs.com/YlZdfnn1UYM3WHrDGvWHj6rsortoqX2tp-7le8ei690/rs:fit/g:sm/q:90/h:600/"
    "w:600/czM6Ly9kaXNjb2dz/LWRhdGFiYXNlLWlt/YWdlcy9BLTk4NDg1/MDktMTMxOTQ0MTg1/"
    "MS00ODg4LmpwZWc.jpeg",
)
IMGPROXY_SHAPE = re.compile(
    r"^https://i\.discogs\.com/[\w-]{43}/rs:fit/g:sm/q:(90|40)/h:(600|150)/w:(600|150)/"
    r"czM6Ly9kaXNjb2dz(/[\w-]{1,16})*[\w-]*\.jpeg$"
)
LEGACY_SHAPE = re.compile(
    r"^https://img\.discogs\.com/[\w-]{27}=/fit-in/(600x600|150x150)/"
    r"filters:strip_icc\(\):format\(jpeg\):mode_rgb\(\):quality\((90|40)\)/"
    r"discogs-images/[RAL]-\d+-\d{10}\.jpeg\.jpg$"
)

SIM_KEY = f"sim-{secrets.token_hex(6)}"  # a throwaway bearer key for these tests


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return generate_catalog(2000, seed=5)


@pytest.fixture(scope="module")
def big_catalog() -> Catalog:
    return generate_catalog(20_000, seed=11)


@pytest.fixture
def sim(catalog: Catalog) -> Iterator[RunningSimulator]:
    with start_simulator(catalog, SimulatorConfig()) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=64)) as c:
        yield c


def body_for(truth: KeyTruth, **extra: Any) -> dict[str, Any]:
    """A BS-style request: artist, album and raw_message joined with ' - '."""
    return {
        "artist": truth.artist,
        "album": truth.album,
        "raw_message": f"{truth.artist} - {truth.album}",
        **extra,
    }


def first(catalog: Catalog, scenario: Scenario) -> KeyTruth:
    return next(t for t in catalog.keys.values() if t.scenario is scenario)


def lookup(
    client: httpx.Client, sim: RunningSimulator, truth: KeyTruth, **extra: Any
) -> dict[str, Any]:
    r = client.post(sim.url + LOOKUP, json=body_for(truth, **extra))
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def top_artwork(answer: dict[str, Any]) -> dict[str, Any] | None:
    art: dict[str, Any] | None = answer["results"][0]["artwork"]
    return art


def without_numbers(text: str) -> str:
    return " ".join(_NUMBERS_RE.sub(" ", text).split()).casefold()


def url_form(url: str) -> str:
    """segmented | one_segment | legacy, as a Discogs image URL carries its file name."""
    if url.startswith("https://img.discogs.com/"):
        return "legacy"
    return "segmented" if "/czM6Ly9kaXNjb2dz/" in url else "one_segment"


def encoded_segments(url: str) -> list[str]:
    """The base64 path segments of an i.discogs.com URL (the last without `.jpeg`)."""
    tail = url[url.index("czM6Ly9kaXNjb2dz") :].removesuffix(".jpeg")
    return tail.split("/")


def keys_of(catalog: Catalog, *scenarios: Scenario) -> list[KeyTruth]:
    return [t for t in catalog.keys.values() if t.scenario in scenarios]


# ---------------------------------------------------------------------------------------------
# Catalog
# ---------------------------------------------------------------------------------------------


def test_catalog_is_deterministic_per_seed() -> None:
    a, b, c = (
        generate_catalog(600, seed=3),
        generate_catalog(600, seed=3),
        generate_catalog(600, seed=4),
    )
    assert a.rows == b.rows
    assert a.keys == b.keys
    assert a.rows != c.rows
    assert len(a) == 600


def test_catalog_proportions_follow_the_profile(big_catalog: Catalog) -> None:
    rows = big_catalog.rows
    n = len(rows)
    assert n == 20_000
    genres = Counter(r.genre_name for r in rows)
    assert 0.53 < genres["Rock"] / n < 0.64
    assert 0.08 < genres["Jazz"] / n < 0.14
    assert 0.06 < genres["Hiphop"] / n < 0.12
    assert 0.04 < genres["OCS"] / n < 0.09
    assert set(genres) <= {name for _, name in GENRES}
    assert all(r.genre_id == dict((name, gid) for gid, name in GENRES)[r.genre_name] for r in rows)
    formats = Counter(r.format_name for r in rows)
    assert 0.47 < formats["cd"] / n < 0.57
    assert 0.34 < formats["vinyl"] / n < 0.44
    assert {'vinyl - 12"', 'vinyl - 7"', "vinyl - LP", "cd x 2", "cdr", 'vinyl - 10"'} <= set(
        formats
    )
    va = [r for r in rows if r.artist_name in {name for name, _, _ in VA_CREDITS}]
    assert 0.07 < len(va) / n < 0.09
    assert {r.artist_name for r in va} == {name for name, _, _ in VA_CREDITS}
    the = sum(a.artist_name.startswith("The ") for a in big_catalog.artists) / len(
        big_catalog.artists
    )
    assert 0.05 < the < 0.10
    brackets = sum(bool(re.search(r"[\[(]", r.album_title)) for r in rows) / n
    assert 0.05 < brackets < 0.09
    quotes = sum('"' in r.album_title for r in rows) / n
    assert 0.018 < quotes < 0.03
    assert any(r.album_title.lower() == "s/t" for r in rows)
    assert any(r.album_title != r.album_title.strip() or "  " in r.album_title for r in rows)
    assert any(re.search(r"[\x00-\x1f\x7f]", r.album_title) for r in rows)
    assert 2 <= sum(r.is_blank for r in rows) <= 10
    with_id = sum(a.discogs_artist_id is not None for a in big_catalog.artists) / len(
        big_catalog.artists
    )
    assert 0.18 < with_id < 0.30
    assert 0.01 < sum(r.artwork_url is not None for r in rows) / n < 0.04
    unavailable = [r for r in rows if r.discogs_unavailable]
    assert unavailable and any(r.discogs_unavailable_note for r in unavailable)
    assert all(r.discogs_unavailable for r in rows if r.discogs_unavailable_note)
    lengths = sorted(len(r.album_title) for r in rows)
    assert 10 <= lengths[n // 2] <= 22
    assert all(len(r.album_title) <= 128 and len(r.artist_name) <= 128 for r in rows)


def test_non_ascii_rows_are_macroman_mojibake(big_catalog: Catalog) -> None:
    odd = [r for r in big_catalog.rows if not (r.artist_name + r.album_title).isascii()]
    assert 3 <= len(odd) <= 30
    for row in odd:
        text = row.artist_name if not row.artist_name.isascii() else row.album_title
        proper = text.encode("mac_roman").decode("utf-8")
        assert proper != text and mojibake(proper) == text
        # A client that repairs the mojibake before asking still lands on the key.
        truth = big_catalog.truth_for(row.library_id)
        fixed_artist = (
            row.artist_name.encode("mac_roman").decode("utf-8")
            if not row.artist_name.isascii()
            else row.artist_name
        )
        fixed_title = (
            row.album_title.encode("mac_roman").decode("utf-8")
            if not row.album_title.isascii()
            else row.album_title
        )
        assert big_catalog.key_for(fixed_artist, fixed_title) == truth


def test_library_ids_and_legacy_ids_are_unrelated(big_catalog: Catalog) -> None:
    rows = big_catalog.rows
    assert all(r.library_id != r.legacy_release_id for r in rows)
    assert len({r.library_id for r in rows}) == len(rows)
    assert len({r.legacy_release_id for r in rows}) == len(rows)
    library_ids = {r.library_id for r in rows}
    low = [r for r in rows if r.legacy_release_id < 1_000_000]
    # Reading a legacy id as a library id mostly lands on some other real row.
    assert sum(r.legacy_release_id in library_ids for r in low) / len(low) > 0.7
    assert 0 < sum(r.legacy_release_id >= 1_000_000 for r in rows) < 0.05 * len(rows)
    assert max(r.legacy_release_id for r in low) <= 72276


def test_duplicates_across_formats_share_a_key(big_catalog: Catalog) -> None:
    multi = [t for t in big_catalog.keys.values() if len(t.library_ids) > 1]
    assert 0.008 < sum(len(t.library_ids) - 1 for t in multi) / len(big_catalog) < 0.02
    for truth in multi:
        rows = big_catalog.rows_for_key(truth.key_id)
        assert {grouping_key(r.artist_name, r.album_title) for r in rows} == {truth.key_id}
        assert len({r.legacy_release_id for r in rows}) == len(rows)
        assert len({r.format_name for r in rows}) == len(rows)


def test_artists_have_albums_that_differ_only_by_a_number(big_catalog: Catalog) -> None:
    by_artist: dict[int, list[str]] = {}
    for row in big_catalog.rows:
        by_artist.setdefault(row.artist_id, []).append(row.album_title)
    pairs = 0
    for titles in by_artist.values():
        stripped = Counter(without_numbers(t) for t in set(titles) if _NUMBERS_RE.search(t))
        pairs += sum(1 for count in stripped.values() if count > 1)
    assert pairs > 50


def test_artist_names_match_the_artists_table(big_catalog: Catalog) -> None:
    names = {a.artist_id: a.artist_name for a in big_catalog.artists}
    assert all(names[r.artist_id] == r.artist_name for r in big_catalog.rows)
    assert all(len(a.code_letters) <= 4 for a in big_catalog.artists)


def test_every_scenario_appears_with_a_consistent_truth(catalog: Catalog) -> None:
    counts = catalog.scenario_counts()
    assert set(counts) == set(Scenario)
    # a soundtrack compilation answered as Various is WXYC's normal, clean soundtrack form
    clean = {
        Scenario.DIRECT_EXACT,
        Scenario.DIRECT_SPELLED,
        Scenario.DIRECT_DUPLICATE_ROW,
        Scenario.SOUNDTRACK_VARIOUS,
    }
    traps = sum(v for s, v in counts.items() if catalog.keys and s not in clean) / len(catalog.keys)
    assert 0.18 < traps < 0.35
    for truth in catalog.keys.values():
        rows = catalog.rows_for_key(truth.key_id)
        assert [r.library_id for r in rows] == list(truth.library_ids)
        assert [r.legacy_release_id for r in rows] == list(truth.legacy_release_ids)
        assert {r.discogs_artist_id for r in rows} == {truth.shelf_discogs_artist_id}
        if truth.expected is Expectation.APPLY:
            assert truth.offered_is_correct, truth
        if truth.expected is Expectation.REJECT:
            assert truth.offered_url != truth.cover_url, truth
            assert not truth.offered_is_correct, truth
        for generation in ("aug", "feb"):
            expected = truth.expected_for(generation)
            if not truth.offered_is_correct:  # a wrong cover is never APPLY, in any generation
                assert expected is not Expectation.APPLY, (generation, truth)
            if expected is Expectation.REJECT:
                assert not truth.offered_is_correct, (generation, truth)
            if expected is Expectation.APPLY and truth.expected is not Expectation.APPLY:
                # only an artist id on both sides lifts a namesake's REVIEW to APPLY
                assert truth.scenario is Scenario.NAMESAKE_RIGHT and generation == "aug"
                assert truth.shelf_discogs_artist_id is not None
        if any(r.is_blank for r in rows):
            assert truth.expected is Expectation.NO_MATCH and truth.cover_url is None
    with pytest.raises(ValueError):
        catalog.expected_for(catalog.rows[0].library_id, "march")
    row = catalog.rows[0]
    truth = catalog.truth_for(row.library_id)
    if truth.cover_url:
        assert catalog.is_correct_cover(row.library_id, truth.cover_url)
    assert not catalog.is_correct_cover(row.library_id, "https://i.discogs.com/x/other.jpeg")


def test_candidates_follow_the_production_filter(catalog: Catalog) -> None:
    cands = catalog.candidates()
    assert 0.15 < len(cands) / len(catalog) < 0.5
    assert all(
        r.artwork_url is None and r.discogs_artist_id is not None and not r.discogs_unavailable
        for r in cands
    )
    assert not any(r.is_blank for r in cands)


def test_discogs_urls_have_the_real_shape(catalog: Catalog) -> None:
    covers = [t.cover_url for t in catalog.keys.values() if t.cover_url]
    assert len(set(covers)) == len(covers)  # unique per release
    forms = Counter(url_form(u) for u in covers)
    assert set(forms) == {"segmented", "one_segment", "legacy"}
    assert 0.78 < forms["segmented"] / len(covers) < 0.92
    assert 0.06 < forms["one_segment"] / len(covers) < 0.2
    assert 0.005 < forms["legacy"] / len(covers) < 0.06
    for url in covers:
        image = discogs_image.decode(url)
        assert image is not None and image.kind == "R" and image.size == 600, url
        assert len(url) <= 512
        if url_form(url) == "legacy":
            assert LEGACY_SHAPE.match(url), url
            continue
        assert IMGPROXY_SHAPE.match(url), url
        encoded = encoded_segments(url)
        if url_form(url) == "segmented":
            assert all(len(seg) == 16 for seg in encoded[:-1]) and 0 < len(encoded[-1]) <= 16
        decoded = base64.urlsafe_b64decode("".join(encoded) + "=" * (-len("".join(encoded)) % 4))
        assert re.fullmatch(rb"s3://discogs-database-images/R-\d+-\d{10}-\d{4}\.jpeg", decoded)
    # (url-safe and standard base64 agree on these ASCII paths: only '>', '?' or '~' in the path
    # would give '+' or '/'; the shape above allows the url-safe alphabet only)
    # the image's release id is the release's own
    for truth in list(catalog.keys.values())[:300]:
        top = truth.answer.results[0].release if truth.answer.results else None
        if truth.scenario is Scenario.DIRECT_EXACT and top is not None:
            image = discogs_image.decode(top.artwork_url)
            assert image is not None and image.entity_id == top.release_id


def test_image_urls_follow_the_contract_example() -> None:
    # contract §5.5 and examples 13/14 (real LML-feb output): the same file names, cut the same way
    assert image_file_tail("A", 6018972, 1631372138, 6749, FORM_SEGMENTED) == (
        "czM6Ly9kaXNjb2dz/LWRhdGFiYXNlLWlt/YWdlcy9BLTYwMTg5/NzItMTYzMTM3MjEz/OC02NzQ5LmpwZWc.jpeg"
    )
    for real in REAL_FALLBACK_URLS:
        image = discogs_image.decode(real)
        assert image is not None and image.kind in "AL"
        tail = real.split("/w:600/", 1)[1]
        encoded = tail.removesuffix(".jpeg").replace("/", "")
        path = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        m = re.fullmatch(r"s3://discogs-database-images/([AL])-(\d+)-(\d+)-(\d+)\.jpeg", path)
        assert m is not None and m.group(1) == image.kind
        stamp, counter = int(m.group(3)), int(m.group(4))
        assert image_file_tail(image.kind, image.entity_id, stamp, counter, FORM_SEGMENTED) == tail
    assert image_file_tail("R", 5, 1300000000, 1234, FORM_LEGACY) == (
        "discogs-images/R-5-1300000000.jpeg.jpg"
    )
    one = image_file_tail("R", 5, 1300000000, 1234, FORM_ONE_SEGMENT)
    assert "/" not in one and one.startswith("czM6Ly9kaXNjb2dz")


@pytest.mark.timeout(120)
def test_load_into_postgres_is_faithful(big_catalog: Catalog, wxyc_db: Any) -> None:
    with wxyc_db.connect() as conn:
        big_catalog.load_into_postgres(conn, wxyc_db.schema)  # bounded by the test's timeout
        count = conn.execute("SELECT count(*) FROM wxyc_schema.library").fetchone()
        assert count is not None and count[0] == len(big_catalog)
        genres = conn.execute(
            "SELECT id, genre_name FROM wxyc_schema.genres ORDER BY id"
        ).fetchall()
        assert genres == list(GENRES)
        same = conn.execute(
            "SELECT count(*) FROM wxyc_schema.library WHERE id = legacy_release_id"
        ).fetchone()
        assert same == (0,)
        mismatched = conn.execute(
            "SELECT count(*) FROM wxyc_schema.library l JOIN wxyc_schema.artists a ON a.id = l.artist_id "
            "WHERE l.artist_name IS DISTINCT FROM a.artist_name"
        ).fetchone()
        assert mismatched == (0,)
        visible = conn.execute("SELECT count(*) FROM wxyc_schema.library_artist_view").fetchone()
        assert visible is not None and visible[0] == len(big_catalog)
        candidates = conn.execute(
            "SELECT count(*) FROM wxyc_schema.library l JOIN wxyc_schema.artists a ON a.id = l.artist_id "
            "WHERE l.artwork_url IS NULL AND a.discogs_artist_id IS NOT NULL AND NOT l.discogs_unavailable "
            "AND btrim(l.album_title) <> '' AND btrim(a.artist_name) <> ''"
        ).fetchone()
        assert candidates is not None and candidates[0] == len(big_catalog.candidates())
        # artists.discogs_artist_id as loaded is the id the answers carry for the right artist,
        # and not the namesake's
        loaded = dict(
            conn.execute(
                "SELECT l.id, a.discogs_artist_id FROM wxyc_schema.library l "
                "JOIN wxyc_schema.artists a ON a.id = l.artist_id"
            ).fetchall()
        )
        agree = differ = 0
        for truth in big_catalog.keys.values():
            top = truth.answer.results[0].release if truth.answer.results else None
            shelf_id = loaded[truth.library_ids[0]]
            assert shelf_id == truth.shelf_discogs_artist_id
            if top is None or shelf_id is None:
                continue
            if truth.scenario is Scenario.NAMESAKE_WRONG:
                assert top.discogs_artist_id != shelf_id
                differ += 1
            elif truth.offered_is_correct:
                assert top.discogs_artist_id == shelf_id, truth
                agree += 1
        assert agree > 1000 and differ > 10
        row = big_catalog.rows[123]
        stored = conn.execute(
            "SELECT legacy_release_id, album_title, artist_name FROM wxyc_schema.library WHERE id = %s",
            (row.library_id,),
        ).fetchone()
        assert stored == (row.legacy_release_id, row.album_title, row.artist_name)
        # The loader left the session's triggers on and the sequences past the loaded ids.
        role = conn.execute("SHOW session_replication_role").fetchone()
        assert role == ("origin",)
        new_id = conn.execute(
            "INSERT INTO wxyc_schema.artists (artist_name, code_letters, alphabetical_name) "
            "VALUES ('New Band', 'NEW', 'New Band') RETURNING id"
        ).fetchone()
        assert new_id is not None and new_id[0] > max(a.artist_id for a in big_catalog.artists)
        conn.rollback()


# ---------------------------------------------------------------------------------------------
# Single lookups, one scenario at a time (aug)
# ---------------------------------------------------------------------------------------------


def test_direct_exact_has_the_full_aug_shape(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    truth = first(catalog, Scenario.DIRECT_EXACT)
    answer = lookup(client, sim, truth)
    assert set(answer) >= AUG_TOP_KEYS
    assert answer["api_version"] is None and answer["identity"] is None
    assert answer["search_type"] == "direct"
    assert answer["timeout"] is False and answer["degraded"] is False
    assert "degraded_reason" not in answer
    assert set(answer["cache_stats"]) >= CACHE_STATS_KEYS
    item = answer["results"][0]["library_item"]
    assert set(item) == AUG_ITEM_KEYS
    assert item["id"] in truth.legacy_release_ids
    row = catalog.row_by_legacy_id(item["id"])
    assert row is not None and row.library_id in truth.library_ids
    assert item["library_url"] == f"https://dj.wxyc.org/dashboard/album/legacy/{item['id']}"
    assert item["call_number"].startswith(f"{row.genre_name} ")
    art = top_artwork(answer)
    assert art is not None
    assert art["artwork_url"] == truth.cover_url
    assert art["release_url"] == f"https://www.discogs.com/release/{art['release_id']}"
    assert art["album"] == truth.album and art["artist"] == truth.artist
    assert art["confidence"] >= 0.8
    assert "artist_image_url" not in art  # only with extended


def test_direct_spelled_differs_but_is_the_right_cover(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    spelled = [t for t in catalog.keys.values() if t.scenario is Scenario.DIRECT_SPELLED]
    notes = Counter(t.note.split(";")[0].split("=")[0] for t in spelled)
    # (Discogs' "(2)" artist suffix is no spelling variant any more: it is NAMESAKE_RIGHT)
    assert {"va_various", "edition_removed", "edition_added", "case"} <= set(notes)
    assert "artist_suffix" not in notes
    for truth in spelled[:30]:
        art = top_artwork(lookup(client, sim, truth))
        assert art is not None and art["artwork_url"] == truth.cover_url
        assert (art["artist"], art["album"]) != (truth.artist, truth.album)
    va = next(t for t in spelled if t.note.startswith("va_various"))
    art = top_artwork(lookup(client, sim, va))
    assert art is not None and art["artist"] == "Various"


def test_wrong_artwork_other_row_and_substitutions(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    truth = first(catalog, Scenario.DIRECT_WRONG_ARTWORK)
    answer = lookup(client, sim, truth)
    art = top_artwork(answer)
    assert answer["search_type"] == "direct"
    assert answer["results"][0]["library_item"]["id"] in truth.legacy_release_ids
    assert art is not None and art["confidence"] == 0.4
    assert art["artwork_url"] != truth.cover_url and art["album"] != truth.album

    for scenario, search_type in (
        (Scenario.DIRECT_OTHER_ROW, "direct"),
        (Scenario.ALTERNATIVE_SUBSTITUTION, "alternative"),
        (Scenario.FALLBACK_ARTIST_ONLY, "fallback"),
    ):
        truth = first(catalog, scenario)
        answer = lookup(client, sim, truth)
        assert answer["search_type"] == search_type
        for result in answer["results"]:
            legacy = result["library_item"]["id"]
            assert legacy not in truth.legacy_release_ids
            other = catalog.row_by_legacy_id(legacy)
            assert other is not None and other.artist_name.strip() == truth.artist
            assert result["artwork"]["artwork_url"] != truth.cover_url
        if scenario is Scenario.FALLBACK_ARTIST_ONLY:
            assert (
                answer["song_not_found"] is True
                and "not found in the library" in answer["context_message"]
            )

    truth = first(catalog, Scenario.DIRECT_DUPLICATE_ROW)
    assert len(truth.legacy_release_ids) >= 2
    answer = lookup(client, sim, truth)
    returned = answer["results"][0]["library_item"]["id"]
    assert returned in truth.legacy_release_ids and returned != truth.legacy_release_ids[0]
    assert top_artwork(answer)["artwork_url"] == truth.cover_url  # type: ignore[index]


def test_rowless_results(sim: RunningSimulator, client: httpx.Client, catalog: Catalog) -> None:
    for scenario in (Scenario.ROWLESS_MATCH, Scenario.ROWLESS_WRONG):
        truth = first(catalog, scenario)
        answer = lookup(client, sim, truth)
        assert answer["search_type"] == "alternative"
        item = answer["results"][0]["library_item"]
        assert item["id"] == 0 and item["call_number"] == "(external)" and item["library_url"] == ""
        art = top_artwork(answer)
        assert art is not None and art["release_id"] > 0
        if scenario is Scenario.ROWLESS_MATCH:
            assert art["artwork_url"] == truth.cover_url
            assert art["album"] in truth.album or truth.album in art["album"]  # Discogs' spelling
        else:
            assert art["artwork_url"] != truth.cover_url and art["album"] != truth.album


def test_no_match_and_no_artwork(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    answer = lookup(client, sim, first(catalog, Scenario.NO_MATCH))
    assert answer["results"] == [] and answer["search_type"] == "alternative"
    assert answer["timeout"] is False and answer["degraded"] is False
    answer = lookup(client, sim, first(catalog, Scenario.NO_ARTWORK))
    assert answer["results"] and all(r["artwork"] is None for r in answer["results"])
    assert answer["degraded"] is False
    # A key that is not in the catalog is an ordinary empty no-match.
    r = client.post(
        sim.url + LOOKUP,
        json={"artist": "Nobody", "album": "Nothing", "raw_message": "Nobody - Nothing"},
    )
    assert r.json()["results"] == [] and r.json()["search_type"] == "alternative"
    assert sim.stats().unknown_asks == 1


def test_timeouts_and_degraded_answers(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    truth = first(catalog, Scenario.TIMEOUT)
    for _ in range(3):
        answer = lookup(client, sim, truth)
        assert (
            answer["timeout"] is True
            and answer["results"] == []
            and answer["search_type"] == "direct"
        )

    truth = first(catalog, Scenario.FLAKY_TIMEOUT)
    k = truth.answer.transient_asks
    assert k >= 1
    for _ in range(k):
        assert lookup(client, sim, truth)["timeout"] is True
    answer = lookup(client, sim, truth)
    assert answer["timeout"] is False and top_artwork(answer)["artwork_url"] == truth.cover_url  # type: ignore[index]

    truth = first(catalog, Scenario.DEGRADED_DEADLINE)
    answer = lookup(client, sim, truth)
    assert answer["degraded"] is True and answer["degraded_reason"] == "deadline_exceeded"
    assert answer["results"] and top_artwork(answer) is None
    for _ in range(truth.answer.transient_asks):
        answer = lookup(client, sim, truth)
    assert answer["degraded"] is False and top_artwork(answer)["artwork_url"] == truth.cover_url  # type: ignore[index]

    truth = first(catalog, Scenario.DEGRADED_CACHE_ONLY)
    for _ in range(2):
        answer = lookup(client, sim, truth)
        assert answer["degraded"] is True and answer["degraded_reason"] == "cache_only"
        assert top_artwork(answer) is None

    truth = first(catalog, Scenario.DEGRADED_WITH_ARTWORK)
    answer = lookup(client, sim, truth)
    assert answer["degraded"] is True and top_artwork(answer)["artwork_url"] == truth.cover_url  # type: ignore[index]


def test_unusable_artwork_urls(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    def url_of(scenario: Scenario, **extra: Any) -> tuple[KeyTruth, dict[str, Any]]:
        # a key that Discogs spells as the shelf does (no s/t, mojibake, format suffix ...)
        truth = next(t for t in catalog.keys.values() if t.scenario is scenario and not t.note)
        art = top_artwork(lookup(client, sim, truth, **extra))
        assert art is not None
        assert art["album"] == truth.album or scenario is Scenario.ARTIST_PHOTO
        return truth, art

    _, art = url_of(Scenario.SPACER_GIF)
    assert "spacer.gif" in art["artwork_url"]
    _, art = url_of(Scenario.LONG_URL)
    assert len(art["artwork_url"]) > 512 and art["artwork_url"].startswith("https://i.discogs.com/")
    truth, art = url_of(Scenario.HTTP_URL)
    assert re.match(r"^http://im?g?\.discogs\.com/", art["artwork_url"])
    assert art["artwork_url"].removeprefix("http://") == (truth.cover_url or "").removeprefix(
        "https://"
    )
    _, art = url_of(Scenario.NON_DISCOGS_HOST)
    assert art["artwork_url"].startswith("https://")
    assert not (urlsplit(art["artwork_url"]).hostname or "").endswith("discogs.com")
    _, art = url_of(Scenario.SYNTHETIC)
    assert art["release_id"] == 0 and art["release_url"] == "" and art["artwork_url"]
    truth, art = url_of(Scenario.ARTIST_PHOTO)
    assert "artist_image_url" not in art and art["artwork_url"] != truth.cover_url
    _, art = url_of(Scenario.ARTIST_PHOTO, extended=True)
    assert art["artwork_url"] == art["artist_image_url"]
    assert {
        "discogs_artist_id",
        "tracklist",
        "genres",
        "styles",
        "label",
        "full_release_date",
    } <= set(art)


def test_matches_that_look_odd_but_are_right_or_subtly_wrong(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    truth = first(catalog, Scenario.CORRECTED_ARTIST)
    answer = lookup(client, sim, truth)
    art = top_artwork(answer)
    assert answer["corrected_artist"] and answer["corrected_artist"] != truth.artist
    assert (
        art is not None
        and art["artist"] == answer["corrected_artist"]
        and art["artwork_url"] == truth.cover_url
    )
    assert answer["results"][0]["library_item"]["id"] in truth.legacy_release_ids

    truth = first(catalog, Scenario.NUMBER_MISMATCH)
    art = top_artwork(lookup(client, sim, truth))
    assert art is not None and art["album"] != truth.album
    assert without_numbers(art["album"]) == without_numbers(truth.album)
    assert art["artwork_url"] != truth.cover_url

    truth = first(catalog, Scenario.LOW_CONFIDENCE_CORRECT)
    art = top_artwork(lookup(client, sim, truth))
    assert art is not None and art["confidence"] < 0.8 and art["artwork_url"] == truth.cover_url

    truth = first(catalog, Scenario.AMBIGUOUS_TWO_COVERS)
    answer = lookup(client, sim, truth)
    assert len(answer["results"]) == 2
    urls = [r["artwork"]["artwork_url"] for r in answer["results"]]
    assert urls[0] == truth.cover_url and urls[1] != urls[0]
    assert all(r["artwork"]["album"].startswith(truth.album) for r in answer["results"])


def test_extended_fills_only_the_top_result(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    truth = first(catalog, Scenario.AMBIGUOUS_TWO_COVERS)
    answer = lookup(client, sim, truth, extended=True)
    assert "artist_image_url" in answer["results"][0]["artwork"]
    assert "artist_image_url" not in answer["results"][1]["artwork"]
    assert isinstance(answer["results"][0]["artwork"]["tracklist"], list)


# ---------------------------------------------------------------------------------------------
# The forms real answers take (contract §5.5)
# ---------------------------------------------------------------------------------------------


def shared_groups(catalog: Catalog) -> list[list[KeyTruth]]:
    """The V/A shared-cover groups: keys offered one release, by that release."""
    groups: dict[int, list[KeyTruth]] = {}
    for truth in keys_of(
        catalog,
        Scenario.VA_SHARED_COVER,
        Scenario.VA_SHARED_COVER_OWNER,
        Scenario.VA_SHARED_NEAR_TITLE,
    ):
        release = truth.answer.results[0].release
        assert release is not None
        groups.setdefault(release.release_id, []).append(truth)
    return list(groups.values())


@pytest.mark.parametrize(("n_rows", "seed"), [(1500, 0), (1500, 1), (3000, 0), (3000, 2)])
def test_small_catalogs_hold_every_scenario_and_variant(n_rows: int, seed: int) -> None:
    catalog = generate_catalog(n_rows, seed=seed)
    assert set(catalog.scenario_counts()) == set(Scenario)
    for scenario in (Scenario.NAMESAKE_WRONG, Scenario.NAMESAKE_RIGHT):
        with_id = {t.shelf_discogs_artist_id is not None for t in keys_of(catalog, scenario)}
        assert with_id == {True, False}, scenario  # with and without artists.discogs_artist_id
    groups = shared_groups(catalog)
    owned = [g for g in groups if any(t.scenario is Scenario.VA_SHARED_COVER_OWNER for t in g)]
    assert owned and len(owned) < len(groups)  # groups with and without the compilation itself
    assert any(t.scenario is Scenario.VA_SHARED_NEAR_TITLE for g in groups for t in g)
    fallbacks = keys_of(catalog, Scenario.DIRECT_PHOTO_FALLBACK, Scenario.DIRECT_LOGO_FALLBACK)
    assert 0.03 < len(fallbacks) / len(catalog.keys) < 0.06  # dozens in a few thousand rows
    assert len(fallbacks) >= 40


def test_photo_and_logo_fallbacks_look_like_clean_direct_answers(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    for scenario, kind in (
        (Scenario.DIRECT_PHOTO_FALLBACK, "A"),
        (Scenario.DIRECT_LOGO_FALLBACK, "L"),
    ):
        keys = keys_of(catalog, scenario)
        assert len(keys) >= 15
        for truth in keys:
            assert truth.cover_url is None  # the release has no cover: nothing is right
            assert {truth.expected_for("aug"), truth.expected_for("feb")} == {Expectation.REJECT}
            image = discogs_image.decode(truth.offered_url)
            assert image is not None and image.kind == kind, truth.offered_url
            assert not any(
                catalog.is_correct_cover(i, truth.offered_url) for i in truth.library_ids
            )
        for truth in keys[:5]:
            answer = lookup(client, sim, truth)
            assert answer["search_type"] == "direct"
            assert answer["results"][0]["library_item"]["id"] in truth.legacy_release_ids
            art = top_artwork(answer)
            assert art is not None and art["artwork_url"] == truth.offered_url
            assert (art["artist"], art["album"]) == (truth.artist, truth.album)
            assert art["confidence"] == 1.0 and art["release_id"] > 0
            assert "artist_image_url" not in art
            extended = top_artwork(lookup(client, sim, truth, extended=True))
            assert extended is not None and extended["artist_image_url"] is None  # unflagged
            image = discogs_image.decode(extended["artwork_url"])
            assert image is not None
            if kind == "A":  # the photo is the answer's own artist's
                assert image.entity_id == extended["discogs_artist_id"]


def test_real_fallback_urls_from_lml_feb_decode_like_the_simulator_ones() -> None:
    kinds = [discogs_image.decode(u) for u in REAL_FALLBACK_URLS]
    assert [(k.kind, k.entity_id) for k in kinds if k] == [("L", 719961), ("A", 9848509)]
    catalog = generate_catalog(600, seed=1)
    for truth in keys_of(catalog, Scenario.DIRECT_PHOTO_FALLBACK, Scenario.DIRECT_LOGO_FALLBACK):
        assert truth.offered_url is not None
        if url_form(truth.offered_url) == "segmented":
            assert IMGPROXY_SHAPE.match(truth.offered_url)


def test_namesakes_carry_a_suffix_and_their_own_artist_id(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    shelf_ids = {a.discogs_artist_id for a in catalog.artists if a.discogs_artist_id}
    for truth in keys_of(catalog, Scenario.NAMESAKE_WRONG):
        release = truth.answer.results[0].release
        assert release is not None and truth.offered_url == release.artwork_url
        assert re.fullmatch(re.escape(truth.artist) + r" \([2-9]\)", release.artist)
        assert release.title.casefold().startswith(truth.album.casefold())  # the same title
        assert not truth.offered_is_correct
        assert release.discogs_artist_id not in shelf_ids  # another artist altogether
        has_id = truth.shelf_discogs_artist_id is not None
        assert truth.expected is Expectation.REJECT
        assert truth.expected_for("aug") is (Expectation.REJECT if has_id else Expectation.REVIEW)
        assert truth.expected_for("feb") is Expectation.REVIEW
    for truth in keys_of(catalog, Scenario.NAMESAKE_RIGHT):
        release = truth.answer.results[0].release
        assert release is not None and truth.offered_is_correct
        assert re.fullmatch(re.escape(truth.artist) + r" \([2-9]\)", release.artist)
        has_id = truth.shelf_discogs_artist_id is not None
        if has_id:
            assert release.discogs_artist_id == truth.shelf_discogs_artist_id
        assert truth.expected is Expectation.REVIEW
        assert truth.expected_for("aug") is (Expectation.APPLY if has_id else Expectation.REVIEW)
        assert truth.expected_for("feb") is Expectation.REVIEW

    wrong = next(t for t in keys_of(catalog, Scenario.NAMESAKE_WRONG) if t.shelf_discogs_artist_id)
    right = next(t for t in keys_of(catalog, Scenario.NAMESAKE_RIGHT) if t.shelf_discogs_artist_id)
    art = top_artwork(lookup(client, sim, wrong, extended=True))
    assert art is not None and art["artwork_url"] == wrong.offered_url
    assert art["artist"].startswith(wrong.artist + " (") and art["album"].casefold().startswith(
        wrong.album.casefold()
    )
    assert art["discogs_artist_id"] != wrong.shelf_discogs_artist_id
    assert 0.8 <= art["confidence"] < 1.0  # "X (2)" is only a substring match of "X"
    art = top_artwork(lookup(client, sim, right, extended=True))
    assert art is not None and art["artwork_url"] == right.cover_url
    assert art["discogs_artist_id"] == right.shelf_discogs_artist_id
    with start_simulator(catalog, SimulatorConfig(generation="feb")) as feb:
        for truth in (wrong, right):
            art = top_artwork(lookup(client, feb, truth, extended=True))
            assert art is not None and "discogs_artist_id" not in art  # nothing to compare on feb


def test_answer_artist_ids_agree_with_the_shelf_except_for_namesakes(catalog: Catalog) -> None:
    checked = 0
    for truth in catalog.keys.values():
        top = truth.answer.results[0].release if truth.answer.results else None
        if top is None or truth.shelf_discogs_artist_id is None:
            continue
        if truth.scenario is Scenario.NAMESAKE_WRONG:
            assert top.discogs_artist_id != truth.shelf_discogs_artist_id
        elif truth.offered_is_correct:
            assert top.discogs_artist_id == truth.shelf_discogs_artist_id, truth
            checked += 1
    assert checked > 100


def test_va_keys_share_one_compilation_cover(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    va_names = {name for name, _, _ in VA_CREDITS}
    groups = shared_groups(catalog)
    assert len(groups) >= 3
    for group in groups:
        assert 2 <= len(group) <= 8
        titles = [t.album.casefold() for t in group]
        assert len(set(titles)) == len(titles)  # different albums, one cover
        assert {t.artist for t in group} <= va_names
        releases = {t.answer.results[0].release for t in group}
        assert len(releases) == 1
        release = releases.pop()
        assert release is not None and release.artist == "Various"
        assert {t.offered_url for t in group} == {release.artwork_url}
        owners = [t for t in group if t.scenario is Scenario.VA_SHARED_COVER_OWNER]
        assert len(owners) <= 1
        for truth in group:
            assert truth.offered_is_correct is (truth in owners)
            expected = Expectation.REVIEW if truth in owners else Expectation.REJECT
            assert {truth.expected_for("aug"), truth.expected_for("feb")} == {expected}
            # every member is a candidate, so a backfill sees the whole group
            for lid in truth.library_ids:
                row = catalog.row(lid)
                assert row.artwork_url is None and not row.discogs_unavailable
        if owners:
            assert release.title == owners[0].album
        if any(t.scenario is Scenario.VA_SHARED_NEAR_TITLE for t in group):
            # the near pair: the shared cover's title fits both shelf titles
            assert len(group) == 2 and len(owners) == 1
            near = next(t for t in group if t is not owners[0])
            assert owners[0].album.casefold() in near.album.casefold()
            assert near.album != owners[0].album

    group = max(groups, key=len)
    seen = set()
    for truth in group:
        answer = lookup(client, sim, truth)
        assert answer["search_type"] == "direct"
        assert answer["results"][0]["library_item"]["id"] in truth.legacy_release_ids
        art = top_artwork(answer)
        assert art is not None and art["artist"] == "Various"
        seen.add((art["release_id"], art["artwork_url"], art["album"]))
    assert len(seen) == 1  # one release, one cover, one title for all of them
    assert len({t.album for t in group}) == len(group) >= 3


def test_soundtracks_are_shelved_by_letter_and_answered_as_various(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog, big_catalog: Catalog
) -> None:
    genre_rows = [r for r in big_catalog.rows if r.genre_name == "Soundtracks"]
    shelved = [r for r in big_catalog.rows if r.artist_name.startswith("Soundtracks - ")]
    assert 0.007 < len(genre_rows) / len(big_catalog) < 0.03  # 1.8% measured; heavy-tailed
    assert 0.3 < len(shelved) / len(genre_rows) < 0.8
    for row in shelved:
        assert row.genre_name == "Soundtracks"
        letter = next(ch for ch in row.album_title if ch.isalnum()).upper()
        assert row.artist_name == f"Soundtracks - {letter}"
    keys = keys_of(catalog, Scenario.SOUNDTRACK_VARIOUS)
    assert keys and all(t.artist.startswith("Soundtracks - ") for t in keys)
    for truth in keys[:5]:
        assert truth.expected is Expectation.APPLY
        answer = lookup(client, sim, truth)
        art = top_artwork(answer)
        assert answer["search_type"] == "direct"
        assert art is not None and art["artist"] == "Various"
        assert art["artwork_url"] == truth.cover_url and art["confidence"] >= 0.8


def test_200s_without_results_then_the_answer(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    keys = keys_of(catalog, Scenario.MISSING_RESULTS)
    assert {t.answer.no_results_form for t in keys} == {0, 1, 2}
    assert all(t.expected is Expectation.APPLY and t.offered_is_correct for t in keys)
    for truth in keys[:6]:
        asks = truth.answer.transient_asks
        assert asks in (1, 2)
        for _ in range(asks):
            r = client.post(sim.url + LOOKUP, json=body_for(truth))
            assert r.status_code == 200 and "results" not in r.json()
        answer = lookup(client, sim, truth)
        assert top_artwork(answer)["artwork_url"] == truth.cover_url  # type: ignore[index]
    fresh = keys[6] if len(keys) > 6 else keys[0]
    sim.reset_stats(scenario_state=True)
    item = client.post(sim.url + BULK, json={"items": [body_for(fresh)]}).json()["results"][0]
    assert item["status"] == "no_match" and "results" not in item["lookup"]


def test_partial_degraded_keeps_a_sibling_and_sheds_the_own_row(
    catalog: Catalog, client: httpx.Client
) -> None:
    truth = first(catalog, Scenario.PARTIAL_DEGRADED)
    assert truth.expected is Expectation.APPLY and truth.offered_is_correct
    with start_simulator(catalog, SimulatorConfig()) as sim:
        for _ in range(truth.answer.transient_asks):
            answer = lookup(client, sim, truth)
            assert answer["degraded"] is True and answer["degraded_reason"] == "deadline_exceeded"
            own, *others = answer["results"]
            assert own["library_item"]["id"] in truth.legacy_release_ids and own["artwork"] is None
            kept = [r for r in others if r["library_item"]["id"] not in truth.legacy_release_ids]
            assert kept and all(r["artwork"] is not None for r in kept)
            sibling = catalog.row_by_legacy_id(kept[0]["library_item"]["id"])
            assert sibling is not None and sibling.artist_name.strip() == truth.artist
        answer = lookup(client, sim, truth)
        assert answer["degraded"] is False
        assert top_artwork(answer)["artwork_url"] == truth.cover_url  # type: ignore[index]
    with start_simulator(catalog, SimulatorConfig(generation="feb")) as feb:
        answer = lookup(client, feb, truth)  # feb sheds nothing: the full answer at once
        assert "degraded" not in answer
        assert top_artwork(answer)["artwork_url"] == truth.cover_url  # type: ignore[index]


def test_thumbnails_are_the_right_image_small(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    keys = keys_of(catalog, Scenario.THUMBNAIL)
    assert len(keys) >= 5
    for truth in keys:
        thumb, cover = truth.offered_url, truth.cover_url
        assert thumb is not None and cover is not None and thumb != cover
        small, full = discogs_image.decode(thumb), discogs_image.decode(cover)
        assert small is not None and full is not None
        assert (small.kind, small.entity_id, small.width, small.size) == (
            "R",
            full.entity_id,
            150,
            150,
        )
        assert full.size == 600
        assert thumb == truth.cover_thumbnail_url and truth.expected is Expectation.APPLY
        lid = truth.library_ids[0]
        assert catalog.is_correct_cover(lid, thumb) and not catalog.is_full_size_cover(lid, thumb)
        assert catalog.is_full_size_cover(lid, cover)
        assert ("q:40/h:150/w:150" in thumb) or ("fit-in/150x150" in thumb)
    truth = keys[0]
    art = top_artwork(lookup(client, sim, truth))
    assert art is not None and art["artwork_url"] == truth.offered_url
    assert art["release_id"] == discogs_image.decode(truth.cover_url).entity_id  # type: ignore[union-attr]
    # the same file under any other URL is not a cover: http, a forged size, another key's
    lid, cover, thumb = truth.library_ids[0], truth.cover_url or "", truth.offered_url or ""
    assert not catalog.is_correct_cover(lid, "http://" + thumb.removeprefix("https://"))
    forged = cover.replace("/h:600/w:600/", "/h:150/w:150/").replace("/q:90/", "/q:40/")
    forged = forged.replace("/fit-in/600x600/", "/fit-in/150x150/").replace("(90)", "(40)")
    assert forged != thumb and not catalog.is_correct_cover(lid, forged)  # unsigned
    other = next(t for t in keys if t.key_id != truth.key_id)
    assert not catalog.is_correct_cover(lid, other.offered_url)
    assert not catalog.is_correct_cover(lid, None)


def test_request_validation(sim: RunningSimulator, client: httpx.Client) -> None:
    ok = client.post(
        sim.url + LOOKUP, json={"artist": "A", "album": "B"}
    )  # raw_message optional in aug
    assert ok.status_code == 200
    for bad in ({}, {"artist": 5, "album": "x"}, [1, 2]):
        r = client.post(sim.url + LOOKUP, json=bad)
        assert r.status_code == 422 and isinstance(r.json()["detail"], list)
    r = client.post(
        sim.url + LOOKUP, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert client.get(sim.url + LOOKUP).status_code == 405
    assert client.post(sim.url + "/api/v1/nope", json={}).status_code == 404
    health = client.get(sim.url + "/health")
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    assert health.json()["discogs_breaker_state"] == "closed"


# ---------------------------------------------------------------------------------------------
# Bulk
# ---------------------------------------------------------------------------------------------


def test_bulk_answers_per_item_in_order(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    chosen = [
        first(catalog, s)
        for s in (
            Scenario.DIRECT_EXACT,
            Scenario.NO_MATCH,
            Scenario.TIMEOUT,
            Scenario.ROWLESS_MATCH,
            Scenario.LIVE_CHECK_ONLY,
        )
    ]
    r = client.post(sim.url + BULK, json={"items": [body_for(t) for t in chosen]})
    assert r.status_code == 200
    data = r.json()
    assert set(data) == {"results"}
    results = data["results"]
    assert [x["index"] for x in results] == list(range(len(chosen)))
    assert [x["status"] for x in results] == ["match", "no_match", "no_match", "no_match", "match"]
    assert results[0]["lookup"]["results"][0]["artwork"]["artwork_url"] == chosen[0].cover_url
    assert results[2]["lookup"]["timeout"] is True  # a no_match that is not a real no-match
    assert results[3]["lookup"]["results"] == []  # no row-less probe on bulk
    assert results[4]["lookup"]["results"][0]["artwork"] is None  # never live-checked
    single = lookup(client, sim, chosen[4])
    assert top_artwork(single)["artwork_url"] == chosen[4].cover_url  # type: ignore[index]

    r = client.post(
        sim.url + BULK,
        params={"allow_release_resolution_fallback": "true"},
        json={"items": [body_for(chosen[3]), body_for(chosen[4])]},
    )
    results = r.json()["results"]
    assert (
        results[0]["status"] == "match"
        and results[0]["lookup"]["results"][0]["library_item"]["id"] == 0
    )
    assert results[1]["lookup"]["results"][0]["artwork"]["artwork_url"] == chosen[4].cover_url
    stats = sim.stats()
    assert stats.asks_bulk[chosen[0].key_id] == 1 and stats.asks_single[chosen[4].key_id] == 1
    assert stats.bulk_items == 7 and stats.requests["bulk"] == 2
    assert stats.flags["allow_release_resolution_fallback"] == 2


def test_bulk_limits_and_validation(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    keys = list(catalog.keys.values())
    full = client.post(sim.url + BULK, json={"items": [body_for(t) for t in keys[:100]]})
    assert full.status_code == 200 and len(full.json()["results"]) == 100
    assert (
        client.post(sim.url + BULK, json={"items": [body_for(t) for t in keys[:101]]}).status_code
        == 400
    )
    assert client.post(sim.url + BULK, json={"items": []}).status_code == 422
    assert client.post(sim.url + BULK, json={"items": "x"}).status_code == 422
    assert client.post(sim.url + BULK, json=[1]).status_code == 400
    assert (
        client.post(
            sim.url + BULK, content=b"{oops", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert client.post(sim.url + BULK, json={"items": [{"artist": 3}]}).status_code == 422


def test_bulk_item_errors(catalog: Catalog, client: httpx.Client) -> None:
    config = SimulatorConfig(faults=FaultConfig(rate_bulk_item_error=1.0))
    with start_simulator(catalog, config) as sim:
        items = [body_for(t) for t in list(catalog.keys.values())[:5]]
        results = client.post(sim.url + BULK, json={"items": items}).json()["results"]
        assert all(x["status"] == "error" and x["lookup"] is None and x["message"] for x in results)
        assert sim.stats().faults["bulk_item_error"] == 5
        sim.set_faults(rate_bulk_item_error=0.0)
        results = client.post(sim.url + BULK, json={"items": items}).json()["results"]
        assert all(x["status"] != "error" for x in results)


# ---------------------------------------------------------------------------------------------
# The feb generation
# ---------------------------------------------------------------------------------------------


def test_feb_generation_is_the_older_contract(catalog: Catalog, client: httpx.Client) -> None:
    with start_simulator(
        catalog, SimulatorConfig(generation="feb", api_key=secrets.token_hex(6))
    ) as sim:
        assert (
            client.post(sim.url + BULK, json={"items": [{"artist": "a", "album": "b"}]}).status_code
            == 404
        )
        missing = client.post(sim.url + LOOKUP, json={"artist": "a", "album": "b"})
        assert missing.status_code == 422
        assert missing.json()["detail"][0]["loc"] == ["body", "raw_message"]

        truth = first(catalog, Scenario.DIRECT_EXACT)
        answer = lookup(client, sim, truth, extended=True)  # no auth needed; extended ignored
        assert set(answer) == FEB_TOP_KEYS
        item = answer["results"][0]["library_item"]
        assert not {"label", "call_number", "on_streaming"} & set(item)
        assert item["library_url"] == f"http://www.wxyc.info/wxycdb/libraryRelease?id={item['id']}"
        assert set(answer["results"][0]["artwork"]) == {
            "album",
            "artist",
            "release_id",
            "release_url",
            "artwork_url",
            "confidence",
        }
        answer = lookup(client, sim, first(catalog, Scenario.TIMEOUT))
        assert answer["results"] == [] and "timeout" not in answer
        answer = lookup(client, sim, first(catalog, Scenario.DEGRADED_CACHE_ONLY))
        assert "degraded" not in answer and top_artwork(answer) is None
        assert lookup(client, sim, first(catalog, Scenario.ROWLESS_MATCH))["results"] == []
        # on feb these first answers cannot be told from a confirmed no-match: so says the truth
        flaky = first(catalog, Scenario.FLAKY_TIMEOUT)
        assert lookup(client, sim, flaky)["results"] == []
        shed = first(catalog, Scenario.DEGRADED_DEADLINE)
        answer = lookup(client, sim, shed)
        assert answer["results"] and top_artwork(answer) is None and "degraded" not in answer
        for scenario in (
            Scenario.TIMEOUT,
            Scenario.FLAKY_TIMEOUT,
            Scenario.DEGRADED_DEADLINE,
            Scenario.ROWLESS_MATCH,
            Scenario.ROWLESS_WRONG,
        ):
            truth = first(catalog, scenario)
            assert truth.expected_for("feb") is Expectation.NO_MATCH
            assert truth.expected_for("aug") is truth.expected
        assert "discogs_breaker_state" not in client.get(sim.url + "/health").json()


# ---------------------------------------------------------------------------------------------
# Auth
# ---------------------------------------------------------------------------------------------


def test_bearer_auth(catalog: Catalog, client: httpx.Client) -> None:
    truth = first(catalog, Scenario.DIRECT_EXACT)
    with start_simulator(catalog, SimulatorConfig(api_key=SIM_KEY)) as sim:
        url = sim.url + LOOKUP
        r = client.post(url, json=body_for(truth))
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert (
            client.post(
                url, json=body_for(truth), headers={"Authorization": "Bearer wrong"}
            ).status_code
            == 403
        )
        assert (
            client.post(
                url, json=body_for(truth), headers={"Authorization": f"Basic {SIM_KEY}"}
            ).status_code
            == 403
        )
        for scheme in ("Bearer", "bearer", "BEARER"):
            r = client.post(
                url, json=body_for(truth), headers={"Authorization": f"{scheme} {SIM_KEY}"}
            )
            assert r.status_code == 200
        assert client.post(sim.url + BULK, json={"items": [body_for(truth)]}).status_code == 401
        assert client.get(sim.url + "/health").status_code == 200
        stats = sim.stats()
        assert stats.status_counts["401"] == 2 and stats.status_counts["403"] == 2
        assert stats.recent_requests[-3]["headers"]["authorization"] == f"BEARER {SIM_KEY}"
        sim.configure(api_key=None)
        assert client.post(url, json=body_for(truth)).status_code == 200


# ---------------------------------------------------------------------------------------------
# Capacity, latency and stats
# ---------------------------------------------------------------------------------------------


def test_inflight_cap_queues_instead_of_refusing(catalog: Catalog) -> None:
    truth = first(catalog, Scenario.DIRECT_EXACT)
    config = SimulatorConfig(latency_ms=100, inflight_cap=3)
    with (
        start_simulator(catalog, config) as sim,
        httpx.Client(timeout=10, limits=httpx.Limits(max_connections=20)) as c,
    ):
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(
                pool.map(
                    lambda _: c.post(sim.url + LOOKUP, json=body_for(truth)).status_code, range(12)
                )
            )
        elapsed = time.monotonic() - started
        stats = sim.stats()
    assert statuses == [200] * 12
    assert stats.max_in_flight == 3
    assert stats.max_concurrent >= 8  # the rest waited in the queue
    assert elapsed >= 0.39  # 12 requests / 3 slots x 100 ms


def test_serves_hundreds_of_concurrent_requests_within_its_cap(catalog: Catalog) -> None:
    keys = [t for t in catalog.keys.values()][:400]
    config = SimulatorConfig(latency_ms=20, inflight_cap=8)
    with (
        start_simulator(catalog, config) as sim,
        httpx.Client(timeout=10, limits=httpx.Limits(max_connections=16)) as c,
    ):

        def ask(truth: KeyTruth) -> int:
            return c.post(sim.url + LOOKUP, json=body_for(truth)).status_code

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(ask, keys))
        elapsed = time.monotonic() - started
        stats = sim.stats()
    assert statuses == [200] * len(keys)
    assert stats.max_in_flight <= 8
    # the rate is printed, not asserted (a loaded machine must not fail the suite);
    # bench/resolve_speed.py measures it side by side with the client
    print(f"simulator: {len(keys) / elapsed:.0f} requests/s")


def test_stats_count_asks_arrivals_and_headers(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    a, b = list(catalog.keys.values())[:2]
    headers = {
        "X-Caller-Class": "5",
        "X-Caller-Budget-Ms": "28000",
        "X-Caller-Reason": "library-artwork-url-backfill",
    }
    client.post(sim.url + LOOKUP, json=body_for(a), headers=headers)
    client.post(sim.url + LOOKUP, json=body_for(a), params={"skip_cache": "true"})
    client.post(sim.url + BULK, json={"items": [body_for(a), body_for(b, warm_cache=True)]})
    client.get(sim.url + "/health")
    stats = sim.stats()
    assert stats.requests == {"lookup": 2, "bulk": 1, "health": 1}
    assert stats.asks_single == {a.key_id: 2}
    assert stats.asks_bulk == {a.key_id: 1, b.key_id: 1}
    assert stats.asks(a.key_id) == 3 and stats.total_asks == 4
    assert stats.flags["skip_cache"] == 1 and stats.flags["warm_cache"] == 1
    times = stats.arrival_times()
    assert len(times) == 4 and times == sorted(times)
    assert stats.arrival_times("lookup") == times[:2]
    first_headers = stats.recent_requests[0]["headers"]
    assert (
        first_headers["x-caller-class"] == "5"
        and first_headers["x-caller-reason"] == "library-artwork-url-backfill"
    )
    assert stats.status_counts == {"200": 4}

    remote = client.get(sim.url + "/_sim/stats").json()
    assert remote["asks_single"] == {a.key_id: 2}
    assert remote["requests"] == stats.requests
    assert {
        "faults",
        "arrivals",
        "max_in_flight",
        "max_concurrent",
        "recent_requests",
        "unknown_asks",
    } <= set(remote)
    assert client.post(sim.url + "/_sim/reset").json() == {"ok": True}
    assert sim.stats().total_asks == 0 and sim.stats().arrivals == []


def test_reset_with_state_makes_flaky_keys_fail_again(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    truth = first(catalog, Scenario.FLAKY_TIMEOUT)
    for _ in range(truth.answer.transient_asks):
        lookup(client, sim, truth)
    assert lookup(client, sim, truth)["timeout"] is False
    sim.reset_stats()
    assert lookup(client, sim, truth)["timeout"] is False
    client.post(sim.url + "/_sim/reset", params={"state": "1"})
    assert lookup(client, sim, truth)["timeout"] is True


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------


def test_forced_status_storms_can_be_flipped_mid_run(
    sim: RunningSimulator, client: httpx.Client, catalog: Catalog
) -> None:
    truth = first(catalog, Scenario.DIRECT_EXACT)
    for status in (401, 403, 500, 503):
        sim.configure(force_status=status)
        assert client.post(sim.url + LOOKUP, json=body_for(truth)).status_code == status
        assert client.post(sim.url + BULK, json={"items": [body_for(truth)]}).status_code == status
    sim.configure(force_status=None)
    assert client.post(sim.url + LOOKUP, json=body_for(truth)).status_code == 200
    changed = client.post(
        sim.url + "/_sim/config", json={"force_status": 502, "faults": {"rate_503": 0.5}}
    ).json()
    assert changed["force_status"] == 502 and changed["faults"]["rate_503"] == 0.5
    assert client.post(sim.url + LOOKUP, json=body_for(truth)).status_code == 502
    sim.clear_faults()
    assert client.post(sim.url + LOOKUP, json=body_for(truth)).status_code == 200
    assert sim.stats().faults["forced"] == 9


@pytest.mark.parametrize(
    ("faults", "status"),
    [
        (FaultConfig(rate_500=1.0), 500),
        (FaultConfig(rate_502=1.0), 502),
        (FaultConfig(rate_503=1.0), 503),
    ],
    ids=["500", "502", "503"],
)
def test_http_error_faults(
    catalog: Catalog, client: httpx.Client, faults: FaultConfig, status: int
) -> None:
    truth = first(catalog, Scenario.DIRECT_EXACT)
    with start_simulator(catalog, SimulatorConfig(faults=faults)) as sim:
        r = client.post(sim.url + LOOKUP, json=body_for(truth))
        assert r.status_code == status and "detail" in r.json()
        assert sim.stats().status_counts == {str(status): 1}


def test_fault_rates_are_roughly_honoured_and_seeded(
    catalog: Catalog, client: httpx.Client
) -> None:
    truth = first(catalog, Scenario.DIRECT_EXACT)
    outcomes = []
    for _ in range(2):
        with start_simulator(
            catalog, SimulatorConfig(faults=FaultConfig(rate_503=0.3, seed=9))
        ) as sim:
            outcomes.append(
                [
                    client.post(sim.url + LOOKUP, json=body_for(truth)).status_code
                    for _ in range(200)
                ]
            )
    assert outcomes[0] == outcomes[1]
    assert 0.18 < outcomes[0].count(503) / 200 < 0.42
    assert set(outcomes[0]) == {200, 503}


def test_connection_reset_and_malformed_json(catalog: Catalog, client: httpx.Client) -> None:
    truth = first(catalog, Scenario.DIRECT_EXACT)
    with start_simulator(catalog, SimulatorConfig(faults=FaultConfig(rate_reset=1.0))) as sim:
        with pytest.raises(httpx.TransportError):
            client.post(sim.url + LOOKUP, json=body_for(truth))
        assert sim.stats().status_counts == {"reset": 1}
        sim.set_faults(rate_reset=0.0, rate_malformed=1.0)
        r = client.post(sim.url + LOOKUP, json=body_for(truth))
        assert r.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.text)
        sim.set_faults(rate_malformed=0.0)
        assert client.post(sim.url + LOOKUP, json=body_for(truth)).json()["results"]


def test_hang_and_a_quick_shutdown(catalog: Catalog) -> None:
    truth = first(catalog, Scenario.DIRECT_EXACT)
    sim = start_simulator(
        catalog, SimulatorConfig(faults=FaultConfig(rate_hang=1.0, hang_seconds=30))
    )
    try:
        with httpx.Client(timeout=0.5) as c, pytest.raises(httpx.ReadTimeout):
            c.post(sim.url + LOOKUP, json=body_for(truth))

        def ask_and_get_dropped() -> None:
            with pytest.raises(httpx.TransportError):
                httpx.post(sim.url + LOOKUP, json=body_for(truth), timeout=20)

        hung = threading.Thread(target=ask_and_get_dropped, daemon=True)
        hung.start()
        time.sleep(0.2)
        assert sim.stats().faults["hang"] >= 1
    finally:
        started = time.monotonic()
        sim.stop()
        # far below the hang (20 s) and an idle keep-alive's life: it did not wait for them,
        # with room for a loaded machine
        assert time.monotonic() - started < 10
    hung.join(timeout=2)
    assert not hung.is_alive()
    with pytest.raises(httpx.TransportError):
        httpx.get(sim.url + "/health", timeout=1)


def test_shutdown_with_idle_keepalive_connections(catalog: Catalog) -> None:
    sim = start_simulator(catalog, SimulatorConfig())
    clients = [httpx.Client(timeout=5) for _ in range(5)]
    try:
        for c in clients:
            assert c.get(sim.url + "/health").status_code == 200
        started = time.monotonic()
        sim.stop()
        # far below the hang (20 s) and an idle keep-alive's life: it did not wait for them,
        # with room for a loaded machine
        assert time.monotonic() - started < 10
    finally:
        for c in clients:
            c.close()


def test_health_status_can_be_unhealthy(catalog: Catalog, client: httpx.Client) -> None:
    with start_simulator(catalog, SimulatorConfig(health_status=503)) as sim:
        r = client.get(sim.url + "/health")
        assert r.status_code == 503 and r.json()["status"] == "unhealthy"


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_command_line_serves_and_loads(wxyc_db: Any) -> None:
    cmd = [
        sys.executable,
        "-m",
        "artwork_backfill.demo.simulator",
        "--rows",
        "300",
        "--seed",
        "2",
        "--port",
        "0",
        "--latency-ms",
        "1",
        "--inflight-cap",
        "5",
        "--api-key",
        "k3y-for-tests",
        "--load-dsn",
        wxyc_db.dsn,
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
        assert httpx.get(url + "/health", timeout=5).status_code == 200
        catalog = generate_catalog(300, seed=2)
        truth = first(catalog, Scenario.DIRECT_EXACT)
        r = httpx.post(
            url + LOOKUP,
            json=body_for(truth),
            headers={"Authorization": "Bearer k3y-for-tests"},
            timeout=5,
        )
        assert r.json()["results"][0]["artwork"]["artwork_url"] == truth.cover_url
        with psycopg.connect(wxyc_db.dsn) as conn:
            count = conn.execute("SELECT count(*) FROM wxyc_schema.library").fetchone()
        assert count == (300,)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


@pytest.mark.parametrize(
    ("n_rows", "seed"), [(64_000, 0), *[(n, s) for n in (150, 700, 3000) for s in range(6)]]
)
def test_generator_builds_any_size_and_seed(n_rows: int, seed: int) -> None:
    # 64K rows with seed 0 once drew a blank album as an ambiguous-cover twin
    catalog = generate_catalog(n_rows, seed=seed)
    assert len(catalog) == n_rows
    for truth in catalog.keys.values():
        if truth.scenario is Scenario.AMBIGUOUS_TWO_COVERS:
            assert truth.cover_url is not None and truth.offered_url == truth.cover_url
        correct = truth.offered_is_correct
        for generation in ("aug", "feb"):
            assert correct or truth.expected_for(generation) is not Expectation.APPLY, truth
        if truth.scenario is not Scenario.LONG_URL:
            assert all(len(u) <= 512 for u in (truth.cover_url, truth.offered_url) if u)
