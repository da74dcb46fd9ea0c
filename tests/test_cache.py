"""The DuckDB cache: snapshot, resume queries, identity, durability, Parquet."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from artwork_backfill.cache import Cache, CandidateRow
from artwork_backfill.errors import CacheMismatchError, UserError
from artwork_backfill.model import Answer, Classification, LookupKey

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
    from datetime import UTC, datetime, timedelta

    with Cache(tmp_path / "c.duckdb") as cache:
        rows, keys = rows_and_keys()
        run = cache.start_run("resolve", {})
        cache.replace_candidates(run, rows, keys)
        old = time.time() - 40 * 86400
        cache.append_answers(
            run,
            [
                Answer("k1", "single", 200, C.NO_MATCH, "empty", {"results": []}, 1, 5.0, old, old),
                Answer("k2", "single", 200, C.MATCH, "results", {"results": []}, 1, 5.0, old, old),
                ans("k3", C.NO_MATCH),  # recent
            ],
        )
        assert cache.keys_to_ask(single_followup=True) == []
        cutoff = datetime.now(UTC) - timedelta(days=30)
        again = cache.keys_to_ask(single_followup=True, no_match_asked_before=cutoff)
        assert [k.key_id for k in again] == ["k1"]  # a match is never asked again
