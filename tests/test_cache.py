"""The DuckDB cache: snapshot, resume queries, identity, durability, Parquet."""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from artwork_backfill.cache.schema import SCHEMA_VERSION
from artwork_backfill.cache.store import CANDIDATE_COLUMNS, Cache
from artwork_backfill.errors import CacheMismatchError, UserError
from artwork_backfill.model import Answer, CandidateRow, Classification, LookupKey

C = Classification


def rows_and_keys() -> tuple[list[CandidateRow], list[LookupKey]]:
    rows = [
        CandidateRow(10, 5001, "Stereolab", "Emperor Tomato Ketchup", "cd", True, "k1"),
        CandidateRow(11, 5002, "Stereolab", "Emperor Tomato Ketchup", "vinyl", True, "k1"),
        CandidateRow(12, 7000, "Noura Mint Seymali", "Yenbett", "cd", False, "k2"),
        CandidateRow(13, 7001, "Lone Artist", "Only Album", "cd", False, "k3"),
    ]
    keys = [
        LookupKey("k1", "Stereolab", "Emperor Tomato Ketchup"),
        LookupKey("k2", "Noura Mint Seymali", "Yenbett"),
        LookupKey("k3", "Lone Artist", "Only Album"),
    ]
    return rows, keys


def ans(
    key: str, cls: C, *, endpoint: str = "single", artwork: bool = False, reason: str = "r"
) -> Answer:
    results = []
    if cls is C.MATCH:
        results = [
            {
                "library_item": {"id": 1},
                "artwork": {"artwork_url": "https://i.discogs.com/a.jpeg"} if artwork else None,
            }
        ]
    now = time.time()
    return Answer(key, endpoint, 200, cls, reason, {"results": results}, 1, 12.5, now, now)


def test_keys_to_ask_and_followup(tmp_path: Path) -> None:
    with Cache(tmp_path / "c.duckdb") as cache:
        rows, keys = rows_and_keys()
        run = cache.start_run("resolve", {})
        cache.replace_candidates(run, rows, keys)
        assert {k.key_id for k in cache.keys_to_ask(single_followup=True)} == {"k1", "k2", "k3"}
        cache.append_answers(
            run,
            [
                ans("k1", C.MATCH, endpoint="bulk", artwork=True),
                ans("k2", C.NO_MATCH, endpoint="bulk"),
                ans("k3", C.TRANSIENT, reason="timeout_flag"),
            ],
        )
        # k1 is done; k2 had no artwork from bulk (single may still find it); k3 is transient
        assert {k.key_id for k in cache.keys_to_ask(single_followup=True)} == {"k2", "k3"}
        assert {k.key_id for k in cache.keys_to_ask(single_followup=False)} == {"k3"}
        assert cache.bulk_final_keys() == {"k1", "k2"}
        cache.append_answers(run, [ans("k2", C.NO_MATCH), ans("k3", C.TRANSIENT)])
        assert [k.key_id for k in cache.keys_to_ask(single_followup=True)] == ["k3"]
        assert cache.keys_to_ask(single_followup=True, limit=0) == []


def test_key_states_prefers_latest_final(tmp_path: Path) -> None:
    with Cache(tmp_path / "c.duckdb") as cache:
        rows, keys = rows_and_keys()
        run = cache.start_run("resolve", {})
        cache.replace_candidates(run, rows, keys)
        cache.append_answers(run, [ans("k1", C.MATCH, artwork=True, reason="first")])
        cache.append_answers(run, [ans("k1", C.TRANSIENT, reason="later_timeout")])
        cache.append_answers(run, [ans("k2", C.TRANSIENT, reason="http_503")])
        states = {r["key_id"]: r for r in cache.key_states().iter_rows(named=True)}
        assert states["k1"]["reason"] == "first" and states["k1"]["answers"] == 2
        assert states["k2"]["classification"] == "transient"
        assert states["k3"]["classification"] is None and states["k3"]["answers"] == 0


def test_snapshot_is_replaced_not_appended(tmp_path: Path) -> None:
    with Cache(tmp_path / "c.duckdb") as cache:
        rows, keys = rows_and_keys()
        cache.replace_candidates(cache.start_run("resolve", {}), rows, keys)
        cache.replace_candidates(cache.start_run("resolve", {}), rows[:2], keys[:1])
        assert cache.candidate_count() == (2, 1)
        # keys stay known (their answers are kept forever), only the snapshot shrinks
        assert {k.key_id for k in cache.keys_to_ask(single_followup=True)} == {"k1"}


def test_a_partial_export_adds_to_the_snapshot_and_never_shrinks_it(tmp_path: Path) -> None:
    with Cache(tmp_path / "c.duckdb") as cache:
        rows, keys = rows_and_keys()
        cache.replace_candidates(cache.start_run("resolve", {}), rows[:3], keys[:2])
        renamed = [dataclasses.replace(rows[0], album_title="Emperor Tomato Ketchup (Remaster)")]
        subset = [*renamed, rows[3]]  # one row refreshed, one added
        cache.replace_candidates(cache.start_run("resolve", {}), subset, keys, partial=True)
        snap = {r["library_id"]: r["album_title"] for r in cache.candidates().iter_rows(named=True)}
        assert sorted(snap) == [10, 11, 12, 13]
        assert snap[10] == "Emperor Tomato Ketchup (Remaster)"
        # the plan names what it is made from: rows, the full run and the partial one
        info = cache.snapshot_info()
        assert info["rows"] == 4 and len(info["runs"]) == 2 and info["snapshot"] == "candidates"
        assert info["exported_from"] <= info["exported_to"]


def test_source_binding_refuses_another_database(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    with Cache(path) as cache:
        cache.bind_source("db1:5432/wxyc/wxyc_schema")
        cache.bind_source("db1:5432/wxyc/wxyc_schema")
    with Cache(path) as cache:
        with pytest.raises(CacheMismatchError, match="db1:5432/wxyc/wxyc_schema"):
            cache.bind_source("db2:5432/wxyc/wxyc_schema")
        with pytest.raises(CacheMismatchError):
            cache.check_source("db1:5432/wxyc/other_schema")


def test_answers_survive_reopen_and_export_parquet(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    with Cache(path) as cache:
        rows, keys = rows_and_keys()
        run = cache.start_run("resolve", {})
        cache.replace_candidates(run, rows, keys)
        cache.append_answers(run, [ans("k1", C.MATCH, artwork=True), ans("k2", C.NO_MATCH)])
    with Cache(path, read_only=True) as cache:
        assert cache.response_count() == 2
        out = tmp_path / "answers.parquet"
        assert cache.export_parquet(out) == 2
        with pytest.raises(UserError, match="parquet"):
            cache.export_parquet(tmp_path / "answers.csv")
    frame = pl.read_parquet(out)
    assert set(frame["classification"]) == {"match", "no_match"}
    assert {
        "body",
        "http_status",
        "attempt",
        "latency_ms",
        "requested_at",
        "run_id",
        "artist",
        "album",
    } <= set(frame.columns)


def test_unusable_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        Cache(tmp_path / "missing.duckdb", read_only=True)
    junk = tmp_path / "junk.duckdb"
    junk.write_text("this is not a database")
    with pytest.raises(UserError, match="cache"):
        Cache(junk)


def test_second_writer_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(path)!r}); print('ok', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(UserError, match="in use by another"):
            Cache(path)
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert duckdb.__version__


def test_old_no_matches_are_asked_again_only_when_asked_to(tmp_path: Path) -> None:
    with Cache(tmp_path / "c.duckdb") as cache:
        rows, keys = rows_and_keys()
        run = cache.start_run("resolve", {})
        cache.replace_candidates(run, rows, keys)
        old = time.time() - 40 * 86400
        cache.append_answers(
            run,
            [
                Answer("k1", "single", 200, C.NO_MATCH, "empty", {"results": []}, 1, 5.0, old, old),
                Answer("k2", "single", 200, C.MATCH, "results", with_cover(), 1, 5.0, old, old),
                ans("k3", C.NO_MATCH),  # recent
            ],
        )
        assert cache.keys_to_ask(single_followup=True) == []
        cutoff = datetime.now(UTC) - timedelta(days=30)
        again = cache.keys_to_ask(single_followup=True, no_match_asked_before=cutoff)
        assert [k.key_id for k in again] == ["k1"]  # a match with a cover is never asked again


# -- image URLs, as LML sends them (contract §5.5) ----------------------------------------------


def discogs_url(kind: str, entity_id: int) -> str:
    name = f"s3://discogs-database-images/{kind}-{entity_id}-1631372138-6749.jpeg"
    encoded = base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")
    segments = "/".join(encoded[i : i + 16] for i in range(0, len(encoded), 16))
    return f"https://i.discogs.com/sig/rs:fit/g:sm/q:90/h:600/w:600/{segments}.jpeg"


COVER = discogs_url("R", 5)
UNUSABLE = {
    "none": None,
    "spacer": "https://s.discogs.com/images/spacer.gif",
    "placeholder": "https://s.discogs.com/images/default-release.png",
    "photo": discogs_url("A", 6018972),
    "logo": discogs_url("L", 1818),
}


def with_cover(url: str | None = COVER, library_id: int = 5001) -> dict[str, object]:
    artwork = None if url is None else {"artwork_url": url, "release_id": 5}
    return {"results": [{"library_item": {"id": library_id}, "artwork": artwork}]}


def answer_at(
    key: str, cls: C, body: dict[str, object], when: float, endpoint: str = "single"
) -> Answer:
    return Answer(key, endpoint, 200, cls, "r", body, 1, 5.0, when, when)


def many_keys(names: list[str]) -> tuple[list[CandidateRow], list[LookupKey]]:
    rows = [
        CandidateRow(100 + i, 9000 + i, f"Artist {n}", f"Album {n}", "cd", False, n)
        for i, n in enumerate(names)
    ]
    return rows, [LookupKey(r.key_id, r.artist_name, r.album_title) for r in rows]


def test_recheck_asks_again_every_final_answer_without_a_usable_cover(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    old = time.time() - 40 * 86400
    recent = time.time() - 1 * 86400
    names = ["cover", "no_match", "recent_no_match", "recent_none", *(f"old_{u}" for u in UNUSABLE)]
    with Cache(path) as cache:
        rows, keys = many_keys(names)
        run = cache.start_run("resolve", {})
        cache.replace_candidates(run, rows, keys)
        cache.append_answers(
            run,
            [
                answer_at("cover", C.MATCH, with_cover(COVER), old),
                answer_at("no_match", C.NO_MATCH, {"results": []}, old),
                answer_at("recent_no_match", C.NO_MATCH, {"results": []}, recent),
                answer_at("recent_none", C.MATCH, with_cover(None), recent),
                *(
                    answer_at(f"old_{u}", C.MATCH, with_cover(url), old)
                    for u, url in UNUSABLE.items()
                ),
            ],
        )
    with Cache(path) as cache:  # a real file, reopened
        assert cache.keys_to_ask(single_followup=True) == []  # no recheck: all final
        cutoff = datetime.now(UTC) - timedelta(days=30)
        again = {
            k.key_id for k in cache.keys_to_ask(single_followup=True, no_match_asked_before=cutoff)
        }
        assert again == {"no_match", *(f"old_{u}" for u in UNUSABLE)}
        # a cutoff after every answer: still never the match with a usable cover
        later = datetime.now(UTC) + timedelta(days=1)
        everything = {
            k.key_id for k in cache.keys_to_ask(single_followup=True, no_match_asked_before=later)
        }
        assert everything == set(names) - {"cover"}
        # the recheck's own answer (a match, again without a cover) is fresh: done until the TTL
        run = cache.start_run("resolve", {})
        cache.append_answers(
            run, [answer_at("old_photo", C.MATCH, with_cover(UNUSABLE["photo"]), time.time())]
        )
    with Cache(path) as cache:
        again = {
            k.key_id for k in cache.keys_to_ask(single_followup=True, no_match_asked_before=cutoff)
        }
        assert "old_photo" not in again and "old_logo" in again


def test_bulk_answers_with_only_unusable_images_get_the_single_follow_up(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    names = ["bulk_cover", *(f"bulk_{u}" for u in UNUSABLE)]
    with Cache(path) as cache:
        rows, keys = many_keys(names)
        run = cache.start_run("resolve", {})
        cache.replace_candidates(run, rows, keys)
        now = time.time()
        cache.append_answers(
            run,
            [
                answer_at("bulk_cover", C.MATCH, with_cover(COVER), now, "bulk"),
                *(
                    answer_at(f"bulk_{u}", C.MATCH, with_cover(url), now, "bulk")
                    for u, url in UNUSABLE.items()
                ),
            ],
        )
    with Cache(path) as cache:
        stored = dict(cache.responses().select("key_id", "has_artwork").iter_rows())
        assert stored == {"bulk_cover": True, **{f"bulk_{u}": False for u in UNUSABLE}}
        follow = {k.key_id for k in cache.keys_to_ask(single_followup=True)}
        assert follow == {f"bulk_{u}" for u in UNUSABLE}
        assert cache.keys_to_ask(single_followup=False) == []
        # the large-append path (a frame, not VALUES) records the same
        run = cache.start_run("resolve", {})
        cache.append_answers(
            run,
            [
                answer_at(f"bulk_{u}", C.NO_MATCH, with_cover(url), now, "bulk")
                for u, url in UNUSABLE.items()
            ]
            * 3,
        )
        assert cache.responses()["has_artwork"].to_list().count(True) == 1


def test_keys_carry_their_rows_legacy_ids(tmp_path: Path) -> None:
    with Cache(tmp_path / "c.duckdb") as cache:
        rows, keys = rows_and_keys()
        cache.replace_candidates(cache.start_run("resolve", {}), rows, keys)
        asked = {k.key_id: k.legacy_release_ids for k in cache.keys_to_ask(single_followup=True)}
    assert asked == {"k1": (5001, 5002), "k2": (7000,), "k3": (7001,)}


def test_candidates_keep_the_artists_discogs_id(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    rows = [
        CandidateRow(10, 5001, "Stereolab", "Emperor Tomato Ketchup", "cd", True, "k1", 10323),
        CandidateRow(11, 5002, "Stereolab", "Emperor Tomato Ketchup", "lp", True, "k1", 10323),
        CandidateRow(12, 7000, "Noura Mint Seymali", "Yenbett", "cd", False, "k2"),
        CandidateRow(13, 7001, "Known Artist", "Album", "cd", True, "k3"),  # flag without an id
    ]
    keys = [LookupKey("k1", "Stereolab", "Emperor Tomato Ketchup"), LookupKey("k2", "N", "Y")]
    with Cache(path) as cache:
        cache.replace_candidates(
            cache.start_run("resolve", {}), rows, [*keys, LookupKey("k3", "K", "A")]
        )
    with Cache(path, read_only=True) as cache:
        frame = cache.candidates()
    assert frame.columns == list(CANDIDATE_COLUMNS)
    assert frame["discogs_artist_id"].dtype == pl.Int64
    got = {
        r["library_id"]: (r["discogs_artist_id"], r["has_discogs_artist"])
        for r in frame.iter_rows(named=True)
    }
    assert got == {10: (10323, True), 11: (10323, True), 12: (None, False), 13: (None, True)}
    with pytest.raises(ValueError, match="has_discogs_artist"):
        CandidateRow(14, 7002, "A", "B", "cd", False, "k4", 77)


# -- a cache of layout 1 (before discogs_artist_id, when has_artwork counted any URL) ----------

_LAYOUT_1 = [
    "CREATE TABLE meta (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    """CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, command VARCHAR NOT NULL,
        started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ, status VARCHAR NOT NULL,
        settings VARCHAR, summary VARCHAR)""",
    """CREATE TABLE keys (key_id VARCHAR PRIMARY KEY, artist VARCHAR NOT NULL,
        album VARCHAR NOT NULL, first_seen_run VARCHAR NOT NULL)""",
    """CREATE TABLE candidates (library_id INTEGER PRIMARY KEY, legacy_release_id BIGINT NOT NULL,
        artist_name VARCHAR NOT NULL, album_title VARCHAR NOT NULL, format_name VARCHAR,
        has_discogs_artist BOOLEAN NOT NULL, key_id VARCHAR NOT NULL,
        snapshot_run VARCHAR NOT NULL, exported_at TIMESTAMPTZ NOT NULL)""",
    "CREATE SEQUENCE response_seq START 1",
    """CREATE TABLE responses (response_id BIGINT PRIMARY KEY DEFAULT nextval('response_seq'),
        run_id VARCHAR NOT NULL, key_id VARCHAR NOT NULL, endpoint VARCHAR NOT NULL,
        http_status INTEGER, classification VARCHAR NOT NULL, reason VARCHAR NOT NULL,
        has_artwork BOOLEAN NOT NULL, body VARCHAR, attempt INTEGER NOT NULL,
        latency_ms DOUBLE NOT NULL, requested_at TIMESTAMPTZ NOT NULL,
        received_at TIMESTAMPTZ NOT NULL)""",
    """CREATE TABLE journal (run_id VARCHAR NOT NULL, library_id INTEGER NOT NULL,
        artwork_url VARCHAR NOT NULL, artist_name VARCHAR, album_title VARCHAR, band VARCHAR,
        written_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (run_id, library_id))""",
    """CREATE TABLE undo_log (undo_run_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
        library_id INTEGER NOT NULL, reverted_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (undo_run_id, run_id, library_id))""",
]


def shed(*results: tuple[int, str | None]) -> dict[str, object]:
    """A degraded (deadline_exceeded) answer with (library_item.id, artwork_url) results."""
    return {
        "results": [
            {
                "library_item": {"id": library_id},
                "artwork": None if url is None else {"artwork_url": url, "release_id": 5},
            }
            for library_id, url in results
        ],
        "degraded": True,
        "degraded_reason": "deadline_exceeded",
    }


OTHER_ROW = 999_001
# key -> (classification, body) as layout 1 stored them; key i's rows are 5000+10i, 5000+10i+1
LAYOUT_1_ANSWERS: dict[str, tuple[str, object]] = {
    "cover": ("match", COVER),
    **{u: ("match", url) for u, url in UNUSABLE.items()},
    # layout 1 called these final; today they are no answers (contract §5.5)
    "no_results": ("no_match", {"search_type": "direct", "timeout": False}),
    "shed_lost": ("match", shed((5070, None), (OTHER_ROW, COVER))),
    # a shed answer that kept the own row's cover stays a match
    "shed_kept": ("match", shed((5080, COVER), (OTHER_ROW, None))),
}
LAYOUT_1_ROWS = 2 * len(LAYOUT_1_ANSWERS)


def make_layout_1_cache(path: Path) -> None:
    """A cache file exactly as layout 1 wrote it: one answer per kind of image and of answer."""
    conn = duckdb.connect(str(path))
    for statement in _LAYOUT_1:
        conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('source', 'db:5432/wxyc/s')")
    now = datetime.now(UTC)
    conn.execute(
        "INSERT INTO runs VALUES ('run1', 'resolve', ?, ?, 'completed', '{}', '{}')", [now, now]
    )
    for i, (name, (cls, answer)) in enumerate(LAYOUT_1_ANSWERS.items()):
        conn.execute(
            "INSERT INTO keys VALUES (?, ?, ?, 'run1')", [name, f"Artist {name}", f"Album {name}"]
        )
        for copy in range(2):  # two rows per key
            conn.execute(
                "INSERT INTO candidates VALUES (?, ?, ?, ?, 'cd', ?, ?, 'run1', ?)",
                [
                    10 * i + copy,
                    5000 + 10 * i + copy,
                    f"Artist {name}",
                    f"Album {name}",
                    i % 2 == 0,
                    name,
                    now,
                ],
            )
        body = answer if isinstance(answer, dict) else with_cover(answer, 5000 + 10 * i)
        urls = [(r.get("artwork") or {}).get("artwork_url") for r in body.get("results") or []]
        conn.execute(
            "INSERT INTO responses (run_id, key_id, endpoint, http_status, classification, reason, "
            "has_artwork, body, attempt, latency_ms, requested_at, received_at) "
            "VALUES ('run1', ?, 'bulk', 200, ?, 'results', ?, ?, 1, 5.0, ?, ?)",
            [name, cls, any(urls), json.dumps(body), now, now],  # layout 1: any URL counted
        )
    conn.close()


def test_a_layout_1_cache_reads_as_it_is_when_opened_read_only(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    make_layout_1_cache(path)
    with Cache(path, read_only=True) as cache:
        frame = cache.candidates()
        assert frame.columns == list(CANDIDATE_COLUMNS)
        assert frame.height == LAYOUT_1_ROWS
        assert frame["discogs_artist_id"].null_count() == LAYOUT_1_ROWS
        assert cache.key_states().height == len(LAYOUT_1_ANSWERS)
        assert cache.meta("schema_version") == "1"
        # read as stored: a read-only open judges nothing again (the scorer reads the bodies)
        states = {r["key_id"]: r for r in cache.key_states().iter_rows(named=True)}
        assert states["no_results"]["classification"] == "no_match"
        assert states["spacer"]["has_artwork"] is True
    # ... and stays layout 1 on disk: a read-only open changes nothing
    conn = duckdb.connect(str(path), read_only=True)
    assert conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone() == ("1",)
    columns = {r[0] for r in conn.execute("DESCRIBE candidates").fetchall()}
    conn.close()
    assert "discogs_artist_id" not in columns


def test_report_reads_a_layout_1_cache(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    make_layout_1_cache(path)
    done = subprocess.run(
        [sys.executable, "-m", "artwork_backfill", "--cache", str(path), "report", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert json.loads(done.stdout)["candidates"] == LAYOUT_1_ROWS


def test_a_layout_1_cache_is_migrated_when_opened_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    make_layout_1_cache(path)
    with Cache(path) as cache:
        assert cache.meta("schema_version") == SCHEMA_VERSION
        assert cache.meta("source") == "db:5432/wxyc/s"  # nothing else lost
        assert cache.candidates()["discogs_artist_id"].null_count() == LAYOUT_1_ROWS
        answers = {r["key_id"]: r for r in cache.responses().iter_rows(named=True)}
        # has_artwork now means a usable cover: a spacer, placeholder, photo or logo is none
        assert {k for k, r in answers.items() if r["has_artwork"]} == {
            "cover",
            "shed_lost",
            "shed_kept",
        }
        # answers that are no answers are transient now; the rest keep their classification
        judged = {k: (r["classification"], r["reason"]) for k, r in answers.items()}
        assert judged["no_results"] == ("transient", "results_missing")
        assert judged["shed_lost"] == ("transient", "degraded_partial")
        assert judged["shed_kept"] == ("match", "results")
        assert {judged[k] for k in ("cover", *UNUSABLE)} == {("match", "results")}
        assert all(json.loads(r["body"]) for r in answers.values())  # bodies untouched
        # the bulk answers without a usable cover get their follow-up, no answers are asked again
        assert {k.key_id for k in cache.keys_to_ask(single_followup=True)} == {
            *UNUSABLE,
            "no_results",
            "shed_lost",
        }
        # the next export stores the artist's id
        rows = [
            CandidateRow(1, 5001, "Artist cover", "Album cover", "cd", True, "cover", 4242),
            CandidateRow(2, 5002, "Artist none", "Album none", "cd", False, "none"),
        ]
        cache.replace_candidates(cache.start_run("resolve", {}), rows, [])
        assert cache.candidates()["discogs_artist_id"].to_list() == [4242, None]
    with Cache(path) as cache:  # a second open has nothing left to migrate
        assert cache.meta("schema_version") == SCHEMA_VERSION
        assert cache.candidates()["discogs_artist_id"].to_list() == [4242, None]
        assert cache.responses()["has_artwork"].to_list().count(True) == 3
        assert cache.responses()["classification"].to_list().count("transient") == 2


def test_a_cache_of_an_unknown_layout_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    with Cache(path) as cache:
        cache._all("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    for read_only in (False, True):
        with pytest.raises(UserError, match="layout version 99"):
            Cache(path, read_only=read_only)
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()  # a DuckDB file, but no cache
    with pytest.raises(UserError, match="not a usable cache"):
        Cache(other, read_only=True)


# -- runs that died, parking, owed follow-ups ---------------------------------------------------


def test_a_run_whose_process_died_is_marked_on_the_next_writable_open(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    with Cache(path) as cache:
        dead = cache.start_run("resolve", {})
        with Cache(path) as same_process:  # another handle of this process: not a restart
            assert same_process.runs()["status"].to_list() == ["running"]
    # a read-only open (report) changes nothing
    with Cache(path, read_only=True) as reader:
        assert reader.runs()["status"].to_list() == ["running"]
    with Cache(path) as cache:
        runs = cache.runs().to_dicts()
        assert [(r["run_id"], r["status"]) for r in runs] == [(dead, "died")]
        assert runs[0]["finished_at"] is not None
        live = cache.start_run("resolve", {})
        assert cache.runs().filter(pl.col("run_id") == live)["status"].to_list() == ["running"]


def _run_with(cache: Cache, answers: list[Answer], status: str = "completed") -> str:
    run = cache.start_run("resolve", {})
    cache.append_answers(run, answers)
    cache.finish_run(run, status, {})
    return run


def test_keys_without_a_final_answer_after_k_completed_runs_are_parked(tmp_path: Path) -> None:
    with Cache(tmp_path / "c.duckdb") as cache:
        rows, keys = rows_and_keys()
        cache.replace_candidates(cache.start_run("resolve", {}), rows, keys)
        ask = lambda: {k.key_id for k in cache.keys_to_ask(single_followup=True, park_after_runs=2)}  # noqa: E731
        _run_with(
            cache,
            [ans("k1", C.ERROR, reason="http_422"), ans("k2", C.TRANSIENT, reason="timeout_flag")],
        )
        # a run stopped by the breaker or a signal does not count
        _run_with(cache, [ans("k1", C.ERROR, reason="http_422")], status="lml_unavailable")
        _run_with(cache, [ans("k1", C.ERROR, reason="http_422")], status="interrupted")
        assert ask() == {"k1", "k2", "k3"} and cache.parked(2).height == 0
        _run_with(cache, [ans("k1", C.ERROR, reason="http_422"), ans("k2", C.MATCH, artwork=True)])
        assert ask() == {"k3"}  # k1 parked after 2 completed runs, k2 is done
        parked = cache.parked(2).to_dicts()
        assert [(p["key_id"], p["failed_runs"], p["reason"]) for p in parked] == [
            ("k1", 2, "http_422")
        ]
        assert {
            k.key_id
            for k in cache.keys_to_ask(single_followup=True, park_after_runs=2, retry_parked=True)
        } == {"k1", "k3"}
        assert {k.key_id for k in cache.keys_to_ask(single_followup=True)} == {
            "k1",
            "k3",
        }  # no parking


def test_keys_lml_answered_timeout_carry_it(tmp_path: Path) -> None:
    with Cache(tmp_path / "c.duckdb") as cache:
        rows, keys = rows_and_keys()
        run = cache.start_run("resolve", {})
        cache.replace_candidates(run, rows, keys)
        cache.append_answers(
            run,
            [
                ans("k2", C.TRANSIENT, reason="timeout_flag"),
                ans("k3", C.TRANSIENT, reason="http_503"),
            ],
        )
        flags = {k.key_id: k.timed_out for k in cache.keys_to_ask(single_followup=True)}
        assert flags == {"k1": False, "k2": True, "k3": False}


def test_a_bulk_no_match_whose_single_follow_up_failed_is_pending(tmp_path: Path) -> None:
    with Cache(tmp_path / "c.duckdb") as cache:
        rows, keys = rows_and_keys()
        run = cache.start_run("resolve", {})
        cache.replace_candidates(run, rows, keys)
        cache.append_answers(
            run,
            [
                ans("k1", C.NO_MATCH, endpoint="bulk"),
                ans("k2", C.NO_MATCH, endpoint="bulk"),
                ans("k3", C.MATCH, endpoint="bulk", artwork=True),
            ],
        )
        cache.append_answers(
            run,
            [ans("k1", C.TRANSIENT, reason="bad_json"), ans("k3", C.TRANSIENT, reason="http_503")],
        )
        states = {
            r["key_id"]: (r["classification"], r["reason"])
            for r in cache.key_states().iter_rows(named=True)
        }
        # k1: the follow-up is owed; k2: no follow-up tried, bulk's no-match stands;
        # k3: bulk found a cover, a later failure changes nothing
        assert states == {
            "k1": ("transient", "bad_json"),
            "k2": ("no_match", "r"),
            "k3": ("match", "r"),
        }


def test_the_writer_threads_cursor_shares_the_file(tmp_path: Path) -> None:
    import threading

    with Cache(tmp_path / "c.duckdb") as cache:
        rows, keys = rows_and_keys()
        run = cache.start_run("resolve", {})
        cache.replace_candidates(run, rows, keys)
        writer = cache.cursor()
        thread = threading.Thread(
            target=writer.append_answers, args=(run, [ans("k1", C.NO_MATCH)] * 20)
        )
        thread.start()
        thread.join()
        writer.close()
        assert cache.response_count(run) == 20  # the main handle sees what the cursor wrote
        assert cache.runs()["status"].to_list() == [
            "running"
        ]  # still open: closing a cursor is not closing the file
