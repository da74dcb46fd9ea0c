"""`artwork-backfill resolve` end to end: a real PostgreSQL with WXYC's schema, the LML
simulator on 127.0.0.1, and the real command in a subprocess."""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from artwork_backfill.cache.store import Cache
from artwork_backfill.demo.simulator import (
    Scenario,
    SimulatorConfig,
    generate_catalog,
    start_simulator,
)
from artwork_backfill.demo.simulator import catalog as sim_catalog
from artwork_backfill.demo.simulator.server import RunningSimulator
from artwork_backfill.judge.answers import body_has_artwork
from artwork_backfill.judge.normalize import grouping_key
from artwork_backfill.model import CandidateRow
from artwork_backfill.resolve.candidates import keys_of
from artwork_backfill.review.matches import match_table
from tests.conftest import WxycDb

CATALOG = generate_catalog(400, seed=11)
# Scenarios whose first asks are no final answers; the simulator names its own set (newer
# ones, e.g. bodies without results and partly shed answers, are in it).
TRANSIENT_SCENARIOS = {Scenario.TIMEOUT, Scenario.FLAKY_TIMEOUT, Scenario.DEGRADED_DEADLINE} | set(
    getattr(sim_catalog, "TRANSIENT_SCENARIOS", ())
)
EXPECTED_ROWS = {
    r.library_id
    for r in CATALOG.rows
    if r.artwork_url is None and not r.discogs_unavailable and not r.is_blank
}
EXPECTED_KEYS = {CATALOG.row(i).key_id for i in EXPECTED_ROWS}
FAST = ["--rate-per-min", "6000"]
# throwaway keys for the simulator, made per test run
SIM_KEY, RIGHT_KEY, WRONG_KEY = (
    f"{name}-{secrets.token_hex(6)}" for name in ("sim", "right", "wrong")
)


@pytest.fixture
def db(wxyc_db: WxycDb) -> WxycDb:
    with wxyc_db.connect() as conn:
        CATALOG.load_into_postgres(conn)
    return wxyc_db


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with start_simulator(CATALOG, SimulatorConfig(latency_ms=1, jitter_ms=0)) as running:
        yield running


def env_for(db: WxycDb, sim: RunningSimulator | None, cache: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "LML_", "LIBRARY_METADATA", "DATABASE_URL"))
    }
    env.update(db.env())
    env["ARTWORK_BACKFILL_CACHE"] = str(cache)
    if sim is not None:
        env["LIBRARY_METADATA_URL"] = sim.url
    env.update(extra)
    return env


def run(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "artwork_backfill", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def resolve_json(
    db: WxycDb, sim: RunningSimulator, cache: Path, *args: str, **extra: str
) -> dict[str, object]:
    done = run(["resolve", "--json", *FAST, *args], env_for(db, sim, cache, **extra))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout)


def non_transient(key_id: str) -> bool:
    return CATALOG.keys[key_id].scenario not in TRANSIENT_SCENARIOS


def test_bulk_run_asks_each_key_once_and_never_a_protected_row(
    db: WxycDb, sim: RunningSimulator, tmp_path: Path
) -> None:
    cache_path = tmp_path / "c.duckdb"
    out = resolve_json(db, sim, cache_path)
    assert set(out) >= {"run_id", "candidates", "keys", "requests", "final", "transient"}
    assert out["candidates"] == len(EXPECTED_ROWS)
    assert out["keys"] == len(EXPECTED_KEYS)

    with Cache(cache_path, read_only=True) as cache:
        assert set(cache.candidates()["library_id"].to_list()) == EXPECTED_ROWS
    protected = {r.library_id for r in CATALOG.rows} - EXPECTED_ROWS
    assert protected, "the catalog must hold protected rows for this test to mean anything"

    stats = sim.stats()
    asked = set(stats.asks_single) | set(stats.asks_bulk)
    assert asked == EXPECTED_KEYS  # no key of a protected-only row was ever asked
    assert stats.unknown_asks == 0
    for key_id in EXPECTED_KEYS:
        if non_transient(key_id):
            assert stats.asks_bulk.get(key_id, 0) == 1, key_id
            assert stats.asks_single.get(key_id, 0) <= 1, key_id  # follow-up only without artwork
    # bulk carries the load: far fewer HTTP requests than keys
    assert stats.requests.get("bulk", 0) <= len(EXPECTED_KEYS) // 100 + 1 + 4 * 3
    # LIVE_CHECK_ONLY keys get their cover only from the single follow-up
    live = [k for k in EXPECTED_KEYS if CATALOG.keys[k].scenario is Scenario.LIVE_CHECK_ONLY]
    assert live and all(stats.asks_single.get(k) == 1 for k in live)
    # a re-run asks nothing that has a final answer
    sim.reset_stats()
    again = resolve_json(db, sim, cache_path)
    stats = sim.stats()
    re_asked = {k for k in set(stats.asks_single) | set(stats.asks_bulk) if non_transient(k)}
    assert re_asked == set()
    assert again["final"] == out["final"] or again["final"] >= out["final"]


def test_single_path_headers_and_body(db: WxycDb, tmp_path: Path) -> None:
    with start_simulator(
        CATALOG, SimulatorConfig(latency_ms=1, jitter_ms=0, api_key=SIM_KEY)
    ) as sim:
        out = resolve_json(
            db,
            sim,
            tmp_path / "c.duckdb",
            "--no-bulk",
            "--limit",
            "25",
            LML_API_KEY=SIM_KEY,
        )
        stats = sim.stats()
    assert out["requests"] == stats.requests.get("lookup", 0) >= 25
    assert stats.requests.get("bulk", 0) == 0
    for request in stats.recent_requests:
        headers = request["headers"]
        assert headers["x-caller-class"] == "5"
        assert headers["x-caller-reason"] == "library-artwork-backfill"
        assert int(headers["x-caller-budget-ms"]) > 0
        assert headers["authorization"] == f"Bearer {SIM_KEY}"
    for flag in ("song", "warm_cache", "skip_cache"):
        assert stats.flags.get(flag, 0) == 0
    raw = (tmp_path / "c.duckdb").read_bytes()
    assert SIM_KEY.encode() not in raw


def test_feb_lml_without_bulk_falls_back_to_single(db: WxycDb, tmp_path: Path) -> None:
    with start_simulator(
        CATALOG, SimulatorConfig(generation="feb", latency_ms=1, jitter_ms=0)
    ) as sim:
        out = resolve_json(db, sim, tmp_path / "c.duckdb")
        stats = sim.stats()
    assert out["bulk_unavailable"] is True
    assert 1 <= stats.requests.get("bulk", 0) <= 4  # the 404 is learned once per worker at most
    assert stats.status_counts.get("404", 0) == stats.requests.get("bulk", 0)
    for key_id in EXPECTED_KEYS:
        assert stats.asks_single.get(key_id, 0) >= 1
        if non_transient(key_id):
            assert stats.asks_single[key_id] == 1


def test_pacing_never_exceeds_the_rate(db: WxycDb, sim: RunningSimulator, tmp_path: Path) -> None:
    done = run(
        [
            "resolve",
            "--json",
            "--no-bulk",
            "--rate-per-min",
            "600",
            "--limit",
            "30",
            "--concurrency",
            "4",
        ],
        env_for(db, sim, tmp_path / "c.duckdb"),
    )
    assert done.returncode == 0, done.stderr
    # The client's own send times (stored with every answer): the pacer releases a request
    # only one interval after the previous release, so this holds on a loaded machine too.
    with Cache(tmp_path / "c.duckdb", read_only=True) as cache:
        sent = sorted(t.timestamp() for t in cache.responses()["requested_at"].to_list())
    assert len(sent) >= 30
    assert min(b - a for a, b in itertools.pairwise(sent)) >= 0.1 - 1e-3
    for i, start in enumerate(sent):  # no 1-second window holds more than 10
        assert sum(1 for t in sent[i:] if t < start + 1.0 - 1e-3) <= 10
    # what the server saw: never more than it was sent, and on average within the rate
    arrivals = sorted(sim.stats().arrival_times("lookup"))
    assert len(arrivals) == len(sent)
    achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) * 60
    assert achieved <= 600 * 1.05


def test_transient_answers_are_cached_but_never_a_no_match(db: WxycDb, tmp_path: Path) -> None:
    config = SimulatorConfig(latency_ms=1, jitter_ms=0)
    with start_simulator(CATALOG, config) as sim:
        sim.set_faults(
            rate_500=0.08,
            rate_503=0.04,
            rate_reset=0.04,
            rate_malformed=0.04,
            rate_hang=0.03,
            hang_seconds=3.0,
            seed=5,
        )
        out = resolve_json(
            db,
            sim,
            tmp_path / "c.duckdb",
            "--no-bulk",
            "--max-attempts",
            "2",
            "--request-timeout",
            "1",
        )
        faults = sim.stats().faults
    assert sum(faults.values()) > 5
    assert out["transient"] > 0
    with Cache(tmp_path / "c.duckdb", read_only=True) as cache:
        answers = cache.responses()
        states = {r["key_id"]: r for r in cache.key_states().iter_rows(named=True)}
    by_status = answers.filter(answers["http_status"].is_in([500, 503]))
    assert by_status.height > 0 and set(by_status["classification"]) == {"transient"}
    assert set(answers.filter(answers["http_status"].is_null())["classification"]) == {"transient"}
    reasons = set(answers["reason"])
    assert "client_timeout" in reasons and "bad_json" in reasons
    assert any(r.startswith("connection_error") for r in reasons)
    for key_id, state in states.items():
        scenario = CATALOG.keys[key_id].scenario
        if scenario is Scenario.TIMEOUT:  # LML never answers it in budget
            assert state["classification"] == "transient"
        if state["classification"] == "no_match":
            assert scenario in {Scenario.NO_MATCH, Scenario.DEGRADED_CACHE_ONLY}, scenario
    # every attempt is kept, with its attempt number
    assert answers["attempt"].max() == 2


def test_kill_9_then_resume_asks_no_finished_key_again(
    db: WxycDb, sim: RunningSimulator, tmp_path: Path
) -> None:
    cache_path = tmp_path / "c.duckdb"
    env = env_for(db, sim, cache_path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "artwork_backfill",
            "resolve",
            "--no-bulk",
            "--rate-per-min",
            "1200",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while sim.stats().requests.get("lookup", 0) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "resolve finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = dict(sim.stats().asks_single)
    out = resolve_json(db, sim, cache_path, "--no-bulk")
    after = sim.stats().asks_single
    re_asked = [k for k in before if non_transient(k) and after[k] > before[k]]
    assert len(re_asked) <= 4  # at most the requests that were in flight at the kill
    assert out["final"] + out["transient"] == len(EXPECTED_KEYS)
    assert set(after) == EXPECTED_KEYS


@pytest.mark.parametrize(("sent_key", "status"), [(None, "401"), (WRONG_KEY, "403")])
def test_auth_failure_stops_at_once(
    db: WxycDb, tmp_path: Path, sent_key: str | None, status: str
) -> None:
    with start_simulator(CATALOG, SimulatorConfig(latency_ms=1, api_key=RIGHT_KEY)) as sim:
        extra = {"LML_API_KEY": sent_key} if sent_key else {}
        done = run(["resolve", *FAST], env_for(db, sim, tmp_path / "c.duckdb", **extra), timeout=60)
        stats = sim.stats()
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert status in done.stderr and "LML_API_KEY" in done.stderr
    # "at once" is counted in requests, not seconds: at most the ones already in flight
    assert stats.requests.get("bulk", 0) + stats.requests.get("lookup", 0) <= 4
    if sent_key:
        assert sent_key not in done.stderr + done.stdout


def test_cache_refuses_a_different_database(
    db: WxycDb, sim: RunningSimulator, tmp_path: Path
) -> None:
    cache_path = tmp_path / "c.duckdb"
    resolve_json(db, sim, cache_path, "--limit", "3")
    other = WxycDb(server=db.server, name=db.name + "_other")
    with psycopg.connect(db.server.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{other.name}" TEMPLATE "wxyc_template"')
    done = run(["resolve", *FAST], env_for(other, sim, cache_path))
    assert done.returncode == 1
    assert "was made from" in done.stderr and "Traceback" not in done.stderr
    # the other schema name is another source too
    done = run(["resolve", *FAST], env_for(db, sim, cache_path, WXYC_SCHEMA_NAME="other_schema"))
    assert done.returncode == 1 and "was made from" in done.stderr


def test_only_discogs_artists_limit_and_parquet(
    db: WxycDb, sim: RunningSimulator, tmp_path: Path
) -> None:
    cache_path = tmp_path / "c.duckdb"
    out = resolve_json(db, sim, cache_path, "--only-discogs-artists", "--limit", "7")
    discogs_rows = {i for i in EXPECTED_ROWS if CATALOG.row(i).discogs_artist_id is not None}
    assert out["candidates"] == len(discogs_rows) < len(EXPECTED_ROWS)
    assert out["asked"] == 7
    assert out["not_asked"] == out["keys"] - 7
    done = run(["export-parquet", str(tmp_path / "answers.parquet")], env_for(db, sim, cache_path))
    assert done.returncode == 0, done.stderr
    import polars as pl

    assert pl.read_parquet(tmp_path / "answers.parquet").height == out["answers"]


def test_setting_errors_are_one_line_and_never_show_secrets(
    db: WxycDb, sim: RunningSimulator, tmp_path: Path
) -> None:
    cache_path = tmp_path / "c.duckdb"
    env = env_for(db, sim, cache_path)
    password = env["DB_PASSWORD"]
    del env["DB_HOST"]
    done = run(["resolve"], env)
    assert done.returncode == 1 and "DB_HOST" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    env = env_for(db, None, cache_path)
    done = run(["resolve"], env)
    assert done.returncode == 1 and "LIBRARY_METADATA_URL" in done.stderr
    # a wrong password: the server refuses, the message names the database, not the secret
    env = env_for(db, sim, cache_path, DB_PASSWORD=password + "-nope")
    done = run(["resolve"], env)
    assert done.returncode == 1 and "cannot connect" in done.stderr
    assert password not in done.stderr + done.stdout
    env = env_for(db, sim, cache_path, WXYC_SCHEMA_NAME="x; drop table")
    done = run(["resolve"], env)
    assert done.returncode == 1 and "WXYC_SCHEMA_NAME" in done.stderr
    for out in (run(["resolve", "--help"], env_for(db, sim, cache_path)),):
        assert password not in out.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_cleanly_and_keeps_answers(
    db: WxycDb, sim: RunningSimulator, tmp_path: Path, sig: signal.Signals
) -> None:
    cache_path = tmp_path / "c.duckdb"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "artwork_backfill",
            "resolve",
            "--no-bulk",
            "--rate-per-min",
            "1200",
        ],
        env=env_for(db, sim, cache_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while sim.stats().requests.get("lookup", 0) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err + out
    with Cache(cache_path, read_only=True) as cache:
        runs = cache.runs("resolve")
        assert runs["status"].to_list() == ["interrupted"]
        asked = cache.response_count()
    assert asked >= 25
    # the re-run finishes what is left and asks no finished key again
    before = dict(sim.stats().asks_single)
    out2 = resolve_json(db, sim, cache_path, "--no-bulk")
    after = sim.stats().asks_single
    assert out2["final"] + out2["transient"] == len(EXPECTED_KEYS)
    assert [k for k in before if non_transient(k) and after[k] > before[k]] == []


def test_an_lml_that_fails_every_request_stops_the_run(db: WxycDb, tmp_path: Path) -> None:
    cache_path = tmp_path / "c.duckdb"
    with start_simulator(CATALOG, SimulatorConfig(latency_ms=1, force_status=503)) as sim:
        done = run(
            ["resolve", "--no-bulk", *FAST, "--max-consecutive-failures", "6"],
            env_for(db, sim, cache_path),
            timeout=60,
        )
        requests = sim.stats().requests.get("lookup", 0)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "6 requests in a row" in done.stderr and "http_503" in done.stderr
    assert 6 <= requests <= 6 + 4  # the ones already in flight may still finish
    with Cache(cache_path, read_only=True) as cache:
        answers = cache.responses()
        assert set(answers["classification"]) == {"transient"}  # kept, never a no-match
        assert cache.runs("resolve")["status"].to_list() == ["lml_unavailable"]


def test_an_unreachable_lml_is_a_clear_error(db: WxycDb, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = env_for(db, None, tmp_path / "c.duckdb", LIBRARY_METADATA_URL=f"http://127.0.0.1:{port}")
    done = run(["resolve", *FAST, "--max-consecutive-failures", "3"], env, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "in a row" in done.stderr and "connection_error" in done.stderr


def test_a_database_error_while_exporting_is_one_line(
    db: WxycDb, sim: RunningSimulator, tmp_path: Path
) -> None:
    with db.connect(autocommit=True) as conn:
        conn.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-pw-77'")
    env = env_for(db, sim, tmp_path / "c.duckdb", DB_USERNAME="reader", DB_PASSWORD="reader-pw-77")
    done = run(["resolve", *FAST], env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "permission denied" in done.stderr and "reader-pw-77" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_keys_bulk_cannot_answer_go_to_single_lookups(db: WxycDb, tmp_path: Path) -> None:
    """A bulk endpoint that fails every time (but single /lookup works) costs coverage nothing."""
    with start_simulator(CATALOG, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        sim.set_faults(rate_bulk_item_error=1.0, seed=3)
        out = resolve_json(db, sim, tmp_path / "c.duckdb", "--max-attempts", "2")
        stats = sim.stats()
    assert stats.requests.get("bulk", 0) >= 1
    for key_id in EXPECTED_KEYS:
        if non_transient(key_id):
            assert stats.asks_bulk.get(key_id) == 2 and stats.asks_single.get(key_id) == 1, key_id
    # every key LML can answer got its final answer from a single lookup
    assert out["final"] >= sum(1 for k in EXPECTED_KEYS if non_transient(k))
    assert out["transient"] <= sum(1 for k in EXPECTED_KEYS if not non_transient(k))


# -- what is sent: headers and body per endpoint -----------------------------------------------


def test_budget_header_on_single_lookups_never_on_bulk(db: WxycDb, tmp_path: Path) -> None:
    """WXYC measured bulk requests with X-Caller-Budget-Ms shedding 12-25% (contract §5.5)."""
    config = SimulatorConfig(latency_ms=1, jitter_ms=0, header_log_size=100_000)
    with start_simulator(CATALOG, config) as sim:
        resolve_json(db, sim, tmp_path / "c.duckdb")
        stats = sim.stats()
    by_path = Counter(r["path"].split("?")[0] for r in stats.recent_requests)
    assert by_path["/api/v1/lookup/bulk"] >= 1 and by_path["/api/v1/lookup"] >= 1  # both paths ran
    assert len(stats.recent_requests) == stats.requests.get("bulk", 0) + stats.requests.get(
        "lookup", 0
    )  # every request's headers were kept
    without_budget = 0
    for request in stats.recent_requests:
        headers = request["headers"]
        assert headers["x-caller-class"] == "5"
        if request["path"].startswith("/api/v1/lookup/bulk"):
            assert "x-caller-budget-ms" not in headers
        elif "x-caller-budget-ms" in headers:
            assert int(headers["x-caller-budget-ms"]) > 0
        else:
            without_budget += 1
    # ... except a single lookup of a key LML answered `timeout: true` before: no budget, so
    # LML runs its full search (contract §4)
    with Cache(tmp_path / "c.duckdb", read_only=True) as cache:
        answers = cache.responses().sort("response_id").to_dicts()
    timed_out: set[str] = set()
    after_timeout = 0
    for a in answers:
        if a["endpoint"] == "single" and a["key_id"] in timed_out:
            after_timeout += 1
        if a["reason"] == "timeout_flag":
            timed_out.add(a["key_id"])
    assert after_timeout > 0 and without_budget == after_timeout
    # extended: true on every single lookup and every bulk item
    assert stats.flags.get("extended", 0) == stats.bulk_items + stats.requests.get("lookup", 0)


def test_export_keeps_the_artists_discogs_id_and_each_keys_rows(
    db: WxycDb, sim: RunningSimulator, tmp_path: Path
) -> None:
    cache_path = tmp_path / "c.duckdb"
    out = resolve_json(db, sim, cache_path, "--limit", "1")
    assert out["asked"] == 1
    with Cache(cache_path, read_only=True) as cache:
        frame = cache.candidates()
        pending = cache.keys_to_ask(single_followup=True)
    assert frame.height == len(EXPECTED_ROWS)
    ids = {r["library_id"]: r for r in frame.iter_rows(named=True)}
    with_id = 0
    for library_id, stored in ids.items():
        truth = CATALOG.row(library_id).discogs_artist_id
        assert stored["discogs_artist_id"] == truth, library_id
        assert stored["has_discogs_artist"] is (truth is not None)
        with_id += truth is not None
    assert 0 < with_id < len(ids)  # both kinds of artist are in the catalog
    # the keys a later run asks about carry the legacy ids of all their candidate rows
    for key in pending:
        rows = [r for r in ids.values() if r["key_id"] == key.key_id]
        assert key.legacy_release_ids == tuple(sorted({r["legacy_release_id"] for r in rows}))
    assert any(len(k.legacy_release_ids) > 1 for k in pending)


def test_keys_of_carries_every_rows_legacy_id() -> None:
    rows = [
        CandidateRow(12, 7002, "Stereolab ", "Dots and Loops", "lp", True, "k1", 10323),
        CandidateRow(10, 7000, "Stereolab", "Dots  and Loops", "cd", True, "k1", 10323),
        CandidateRow(11, 7000, "Stereolab", "Dots and Loops", "cd", True, "k1", 10323),
        CandidateRow(13, 8000, "Broadcast", "Tender Buttons", "cd", False, "k2"),
    ]
    keys = {k.key_id: k for k in keys_of(rows)}
    assert keys["k1"].legacy_release_ids == (7000, 7002)
    assert (keys["k1"].artist, keys["k1"].album) == ("Stereolab", "Dots and Loops")  # lowest id
    assert keys["k2"].legacy_release_ids == (8000,)


# -- answers that are no answers, against a scripted LML of the test's own -----------------------


def _cover(release_id: int) -> str:
    name = f"s3://discogs-database-images/R-{release_id}-1631372138-6749.jpeg"
    encoded = base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")
    segments = "/".join(encoded[i : i + 16] for i in range(0, len(encoded), 16))
    return f"https://i.discogs.com/sig/rs:fit/g:sm/q:90/h:600/w:600/{segments}.jpeg"


def _own_ids(key_id: str) -> list[int]:
    return sorted(
        {CATALOG.row(i).legacy_release_id for i in EXPECTED_ROWS if CATALOG.row(i).key_id == key_id}
    )


def _result(library_id: int, covered: bool) -> dict[str, Any]:
    artwork = (
        {"artwork_url": _cover(900_000 + library_id), "release_id": 900_000 + library_id}
        if covered
        else None
    )
    return {"library_item": {"id": library_id, "title": "T", "artist": "A"}, "artwork": artwork}


OTHER_ROW = 999_000_001  # a real library row that is none of the key's


def _answer(kind: str, key_id: str) -> dict[str, Any]:
    own = _own_ids(key_id)[0]
    shed: dict[str, Any] = {"search_type": "direct", "degraded": True, "timeout": False}
    shed["degraded_reason"] = "deadline_exceeded"
    if kind == "good":
        return {"results": [_result(own, True)], "search_type": "direct", "degraded": False}
    if kind == "no_results":  # a 200 whose JSON has no results list
        return {"search_type": "direct", "timeout": False, "degraded": False}
    if kind == "own_lost":  # the key's row lost its cover, another row kept one
        return {**shed, "results": [_result(own, False), _result(OTHER_ROW, True)]}
    if kind == "other_lost":  # the key's row kept its cover, another row lost one
        return {**shed, "results": [_result(own, True), _result(OTHER_ROW, False)]}
    if kind == "rowless":  # no result of the key's rows at all: the artwork counts
        return {**shed, "results": [_result(0, True)]}
    raise AssertionError(kind)


class ScriptedLml:
    """A tiny LML on 127.0.0.1: the n-th ask of a key gets script[key][n] (the last repeats)."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script = script
        self.asks: Counter[str] = Counter()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                path = self.path.split("?")[0]
                if path == "/api/v1/lookup":
                    payload: Any = outer.lookup(data)
                elif path == "/api/v1/lookup/bulk":
                    items = []
                    for i, item in enumerate(data["items"]):
                        lookup = outer.lookup(item)
                        status = "match" if lookup.get("results") else "no_match"
                        items.append({"index": i, "status": status, "lookup": lookup})
                    payload = {"results": items}
                else:
                    self.send_error(404)
                    return
                raw = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def lookup(self, request: dict[str, Any]) -> dict[str, Any]:
        key_id = grouping_key(request.get("artist"), request.get("album"))
        key_id = CATALOG.aliases.get(key_id, key_id)
        with self.lock:
            n = self.asks[key_id]
            self.asks[key_id] += 1
        if key_id not in EXPECTED_KEYS:
            return {"results": [], "search_type": "alternative"}
        kinds = self.script.get(key_id, ["good"])
        return _answer(kinds[min(n, len(kinds) - 1)], key_id)

    def __enter__(self) -> ScriptedLml:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.mark.parametrize("mode", ["single", "bulk"])
def test_answers_that_are_no_answers_are_asked_again(db: WxycDb, tmp_path: Path, mode: str) -> None:
    keys = sorted(EXPECTED_KEYS)
    multi = [k for k in keys if len(_own_ids(k)) > 1]
    single = [k for k in keys if len(_own_ids(k)) == 1]
    script = {
        single[0]: ["no_results", "good"],
        single[1]: ["own_lost", "good"],
        multi[0]: ["own_lost", "good"],
        single[2]: ["other_lost"],
        multi[1]: ["other_lost"],
        single[3]: ["rowless"],
        # asked again in the next run, its rows' ids now coming from the cache
        single[4]: ["no_results", "other_lost"],
        multi[2]: ["no_results", "other_lost"],
    }
    mode_args = ["--no-bulk"] if mode == "single" else []
    cache_path = tmp_path / "c.duckdb"
    with ScriptedLml(script) as lml:
        env = env_for(db, None, cache_path, LIBRARY_METADATA_URL=lml.url)
        for _ in range(2):  # one try a run: what is transient waits for the next run
            done = run(["resolve", "--json", *FAST, "--max-attempts", "1", *mode_args], env)
            assert done.returncode == 0, done.stderr
    with Cache(cache_path, read_only=True) as cache:
        answers = cache.responses()
        states = {r["key_id"]: r for r in cache.key_states().iter_rows(named=True)}
    seen: dict[str, list[tuple[str, str, str]]] = {}
    for r in answers.iter_rows(named=True):
        seen.setdefault(r["key_id"], []).append((r["classification"], r["reason"], r["run_id"]))

    def classes(key_id: str) -> list[tuple[str, str]]:
        return [(c, reason) for c, reason, _ in seen[key_id]]

    assert classes(single[0])[0] == ("transient", "results_missing")
    for key_id in (single[1], multi[0]):
        assert classes(key_id)[0] == ("transient", "degraded_partial"), key_id
    for key_id in (single[0], single[1], multi[0]):
        assert classes(key_id)[-1] == ("match", "results"), key_id
    for key_id in (single[2], multi[1], single[3]):  # final at once, never asked again
        assert classes(key_id) == [("match", "degraded_with_artwork")], key_id
        assert lml.asks[key_id] == 1
    for key_id in (single[4], multi[2]):
        assert classes(key_id) == [
            ("transient", "results_missing"),
            ("match", "degraded_with_artwork"),
        ], key_id
        if mode == "single":  # the second ask came from the next run's resume query
            assert seen[key_id][0][2] != seen[key_id][1][2]
    for key_id in script:
        assert states[key_id]["classification"] == "match", key_id
    # no answer without a results list was ever recorded as final
    for r in answers.iter_rows(named=True):
        if r["classification"] in ("match", "no_match") and r["body"]:
            assert isinstance(json.loads(r["body"]).get("results"), list)


def test_recheck_asks_again_no_matches_and_matches_without_a_usable_cover(
    db: WxycDb, sim: RunningSimulator, tmp_path: Path
) -> None:
    cache_path = tmp_path / "c.duckdb"
    resolve_json(db, sim, cache_path)
    # the answers are 40 days old now
    conn = duckdb.connect(str(cache_path))
    conn.execute(
        "UPDATE responses SET received_at = received_at - INTERVAL 40 DAY, "
        "requested_at = requested_at - INTERVAL 40 DAY"
    )
    conn.close()
    with Cache(cache_path, read_only=True) as cache:
        answers = cache.responses()
    covered: set[str] = set()  # keys with a final match whose results hold a usable cover
    uncovered_matches: set[str] = set()
    for r in answers.iter_rows(named=True):
        body = json.loads(r["body"]) if r["body"] else None
        assert r["has_artwork"] is body_has_artwork(body)
        if r["classification"] == "match":
            (covered if body_has_artwork(body) else uncovered_matches).add(r["key_id"])
    uncovered_matches -= covered
    assert covered and uncovered_matches  # the catalog holds both, or this test means nothing

    sim.reset_stats()
    resolve_json(db, sim, cache_path)  # no recheck: only what was never final
    stats = sim.stats()
    assert not (set(stats.asks_single) | set(stats.asks_bulk)) & (covered | uncovered_matches)

    sim.reset_stats()
    resolve_json(db, sim, cache_path, "--recheck-no-match-days", "30")
    stats = sim.stats()
    asked = set(stats.asks_single) | set(stats.asks_bulk)
    assert asked == EXPECTED_KEYS - covered  # a match with a usable cover is never asked again
    assert uncovered_matches <= asked


def test_resolve_ends_with_one_summary_line_and_what_it_found_per_band(
    db: WxycDb, sim: RunningSimulator, tmp_path: Path
) -> None:
    cache_path = tmp_path / "c.duckdb"
    env = env_for(db, sim, cache_path)
    first = run(["resolve", "--json", *FAST], env)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    # every key asked finished (final, or out of tries): every row is counted once
    assert out["status"] == "completed" and sum(out["found"].values()) == out["candidates"]
    with Cache(cache_path, read_only=True) as cache:
        bands = Counter(match_table(cache)["band"].to_list())
    # provisional: the whole cache's evidence (covers shared across keys) only lowers a band
    assert 0 < bands["high"] <= out["found"]["high"]
    assert bands["no_match"] == out["found"]["no_match"]
    summary = first.stderr.strip().splitlines()[-1]
    assert summary.startswith(f"resolve completed: asked {out['asked']} keys with ")
    assert f"this run found (rows) high {out['found']['high']} " in summary
    # in text mode the line ends stdout
    again = run(["resolve", *FAST], env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1].startswith("resolve completed: asked ")
