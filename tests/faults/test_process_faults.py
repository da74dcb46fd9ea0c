"""Process and file faults, against the real CLI in a subprocess, the LML simulator and the
per-test PostgreSQL.

- `kill -9` of `resolve` at seeded random points while it asks (the simulator answers slowly
  enough to be mid-run), then a clean re-run: the cache scores exactly as a run without kills
  on a second cache, and no key with a final answer was asked again unless its request was in
  flight at a kill;
- `kill -9` of `apply --execute` at every point of a batch (crash hooks) and once from outside,
  then a clean re-run: the library equals a clean run's (the plan computed from the same
  cache), and the journal names exactly the rows written;
- two processes on one cache: the second gets a one-line "in use" error;
- a truncated and a corrupt cache file, a read-only cache directory, a full disk while the
  cache is written: every command fails with one clear line (exit 1, no traceback, nothing
  "unexpected"), and what was stored before a full disk is still readable;
- a cache of the older layout 1 is migrated; an unknown layout version is refused.

No case depends on speed: each waits (bounded) for a state it can observe, never for a time.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from artwork_backfill.cache.schema import SCHEMA_VERSION
from artwork_backfill.cache.store import Cache
from artwork_backfill.demo.pgembed import EmbeddedPostgres
from artwork_backfill.demo.simulator import Catalog, SimulatorConfig, start_simulator
from artwork_backfill.demo.simulator.catalog import TRANSIENT_SCENARIOS
from artwork_backfill.demo.simulator.server import RunningSimulator
from artwork_backfill.review.matches import match_table
from tests.conftest import WxycDb, _janitor
from tests.faults.conftest import FAST, fault_env, ok_json, run_cli, seeded_catalog
from tests.faults.test_pg_faults import (
    WAIT_S,
    apply_proc,
    artwork,
    assert_one_clear_error,
    clean_rerun,
    finish,
    journal_map,
    planned,
    read_until,
    resolved,
    wait_for,
    written_by_us,
)

HOOKS = Path(__file__).resolve().parent.parent / "_apply_with_hooks.py"
POINTS = ("after_update", "after_intent", "after_commit", "after_journal")
DEAD_LML = "http://127.0.0.1:9"  # nothing listens there: a command that asks fails fast


def resolve_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "artwork_backfill", "resolve", *args]


def lookups(sim: RunningSimulator) -> int:
    return sim.stats().requests.get("lookup", 0)


def bands(cache_path: Path) -> dict[int, tuple[str, str | None]]:
    """library_id -> (band, artwork_url), as `report` scores the cache."""
    with Cache(cache_path, read_only=True) as cache:
        table = match_table(cache)
    return {
        int(i): (str(b), u)
        for i, b, u in table.select("library_id", "band", "artwork_url").iter_rows()
    }


def final_keys(catalog: Catalog) -> set[str]:
    """Candidate keys whose first answer is final (no transient scenario)."""
    return {
        r.key_id
        for r in catalog.rows
        if r.artwork_url is None
        and not r.discogs_unavailable
        and not r.is_blank
        and catalog.keys[r.key_id].scenario not in TRANSIENT_SCENARIOS
    }


# -- kill -9 of resolve ------------------------------------------------------------------------


def test_kill_9_of_resolve_at_random_points_then_a_rerun_scores_as_a_clean_run(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    catalog = seeded_catalog(wxyc_db, 180)
    rng = random.Random(20260114)
    concurrency = 4
    kills = 3
    killed_cache = tmp_path / "killed.duckdb"
    slow = SimulatorConfig(latency_ms=30, jitter_ms=20)  # mid-run for a while, whatever the load
    args = ["--no-bulk", "--concurrency", str(concurrency), *FAST]
    with start_simulator(catalog, slow) as sim:
        env = fault_env(wxyc_db, sim.url, killed_cache)
        for _ in range(kills):
            target = lookups(sim) + rng.randint(5, 35)
            proc = subprocess.Popen(
                resolve_cmd(*args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                wait_for(
                    "resolve to be mid-run",
                    lambda p=proc, t=target: p.poll() is not None or lookups(sim) >= t,  # type: ignore[misc]
                )
                assert proc.poll() is None, "resolve finished before it could be killed"
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL
        done = ok_json(run_cli(["resolve", "--json", *args], env))
        killed_asks = sim.stats()
    assert done["status"] == "completed"
    assert done["final"] + done["transient"] == done["keys"] and done["not_asked"] == 0
    with Cache(killed_cache, read_only=True) as cache:
        statuses = cache.runs("resolve")["status"].to_list()
    assert sorted(statuses).count("completed") == 1 and len(statuses) == kills + 1

    clean_cache = tmp_path / "clean.duckdb"
    with start_simulator(catalog, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        ok_json(run_cli(["resolve", "--json", *args], fault_env(wxyc_db, sim.url, clean_cache)))
        clean_asks = sim.stats()

    assert bands(killed_cache) == bands(clean_cache)
    # No key LML answered finally was asked again, except the requests in flight at a kill
    # (at most `concurrency` a kill: a worker's answer is stored before it takes more work).
    keys = final_keys(catalog)
    assert keys and all(killed_asks.asks(k) >= 1 for k in keys)
    extra = {k: killed_asks.asks(k) - clean_asks.asks(k) for k in keys}
    assert all(n >= 0 for n in extra.values())
    assert sum(extra.values()) <= kills * concurrency, {k: n for k, n in extra.items() if n}


# -- kill -9 of apply --execute ---------------------------------------------------------------


def test_kill_9_of_apply_at_several_points_then_a_rerun_writes_what_a_clean_run_writes(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    catalog, cache_path, env = resolved(wxyc_db, tmp_path)
    plan = planned(cache_path)
    size = 3
    rng = random.Random(99)
    kills = [(point, rng.randint(1, 3)) for point in rng.sample(POINTS, len(POINTS))]
    assert len(plan) >= size * (3 * len(kills) + 6), "the catalog must give enough batches"

    def check_consistent() -> None:
        written = written_by_us(wxyc_db, catalog)
        assert all(plan.get(i) == u for i, u in written.items())  # only planned covers
        journal = journal_map(cache_path)
        assert all(written.get(i) in urls for i, urls in journal.items()), "journal > library"

    for point, batch in kills:
        killed = subprocess.run(
            [
                sys.executable,
                str(HOOKS),
                "--kill-at",
                f"{point}:{batch}",
                "--",
                *("apply", "--execute", "--batch-size", str(size)),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT_S,
            check=False,
        )
        assert killed.returncode == -signal.SIGKILL, (point, batch, killed.stderr[-1500:])
        check_consistent()

    # once from outside, at whatever point the process is after its second batch
    proc = apply_proc(env, "--batch-size", str(size), delay_ms=300)
    try:
        seen = read_until(proc, lambda r: r.get("step") == "batch_done" and r["batch_index"] == 2)
        assert seen and seen[-1]["step"] == "batch_done", seen[-3:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    check_consistent()
    assert written_by_us(wxyc_db, catalog)  # the kills left work done behind

    result = clean_rerun(wxyc_db, catalog, cache_path, env, plan)
    assert result["applied"] + result["already_applied"] == len(plan)
    with Cache(cache_path, read_only=True) as cache:
        runs = cache.runs("apply")["status"].to_list()
    assert runs.count("completed") == 1 and len(runs) == len(kills) + 2


# -- two processes on one cache ---------------------------------------------------------------


def test_a_second_process_on_a_cache_in_use_gets_one_line(wxyc_db: WxycDb, tmp_path: Path) -> None:
    catalog = seeded_catalog(wxyc_db, 150)
    cache_path = tmp_path / "c.duckdb"
    with start_simulator(catalog, SimulatorConfig(latency_ms=200, jitter_ms=0)) as sim:
        env = fault_env(wxyc_db, sim.url, cache_path)
        first = subprocess.Popen(
            resolve_cmd("--no-bulk", "--concurrency", "1", *FAST),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(
                "the first resolve to ask", lambda: first.poll() is not None or lookups(sim) >= 1
            )
            assert first.poll() is None, first.communicate()[1][-1500:]
            # a second writer: one line
            for args in (["resolve", *FAST], ["apply", "--execute"], ["undo", "x", "--execute"]):
                assert_one_clear_error(run_cli(args, env), "in use")
            # readers read what the running resolve published so far (`<cache>.live`), or
            # refuse in one line while nothing is published yet
            for args in (["report", "--json", "--sample", "0"], ["apply", "--json"]):
                reader = run_cli(args, env)
                if reader.returncode != 0:
                    assert_one_clear_error(reader, "in use")
                else:
                    assert "Traceback" not in reader.stderr
            assert first.poll() is None  # the first process never noticed
            first.send_signal(signal.SIGINT)
            ended = finish(first)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(timeout=30)
    assert ended.returncode == 130, ended.stderr[-1500:]
    with Cache(cache_path, read_only=True) as cache:
        assert cache.response_count() >= 1


# -- broken cache files -------------------------------------------------------------------------


def broken_commands(tmp_path: Path) -> list[list[str]]:
    """Commands of each way of opening the cache: writing (resolve, apply --execute; undo opens
    it as apply does) and reading (report with its files, export-parquet)."""
    return [
        ["resolve", *FAST],
        ["report", "--html", str(tmp_path / "review.html"), "--export", str(tmp_path / "m.csv")],
        ["apply", "--execute"],
        ["export-parquet", str(tmp_path / "answers.parquet")],
    ]


@dataclass(frozen=True)
class Made:
    """A database of this module's own and a cache resolved from it (never changed)."""

    db: WxycDb
    catalog: Catalog
    cache: Path


@pytest.fixture(scope="module")
def made(pg_server: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Made]:
    """Made once for the cases that only read the database: each copies the cache."""
    name = f"faults_process_{os.getpid()}"
    with _janitor(pg_server, name, template="wxyc_template"):
        db = WxycDb(server=pg_server, name=name)
        catalog, cache_path, _env = resolved(db, tmp_path_factory.mktemp("made"))
        assert not Path(str(cache_path) + ".wal").exists()  # checkpointed: the file is all
        yield Made(db, catalog, cache_path)


def good_cache(made: Made, tmp_path: Path) -> tuple[WxycDb, Path, dict[str, str]]:
    """A copy of the module's cache, and the environment of a CLI run on it."""
    cache_path = tmp_path / "c.duckdb"
    shutil.copy(made.cache, cache_path)
    env = fault_env(made.db, None, cache_path, LIVE_ACTIVITY_LOOKBACK_SECONDS="0")
    return made.db, cache_path, env


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_cache_file_is_one_clear_line_for_every_command(
    made: Made, tmp_path: Path, damage: str
) -> None:
    db, cache_path, env = good_cache(made, tmp_path)
    before = artwork(db)
    data = bytearray(cache_path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:  # seeded random bytes over the middle third of the file
        rng = random.Random(5)
        start, end = len(data) // 3, 2 * len(data) // 3
        data[start:end] = bytes(rng.randrange(256) for _ in range(end - start))
    cache_path.write_bytes(bytes(data))
    env = {**env, "LIBRARY_METADATA_URL": DEAD_LML}
    for args in broken_commands(tmp_path):
        done = run_cli(args, env)
        line = assert_one_clear_error(done)
        assert str(cache_path) in line or "cache" in line.lower(), (args, line)
    assert artwork(db) == before  # nothing was written from a broken cache


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at `path` (the tests run as root), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert mounted.returncode == 0, f"mount tmpfs failed: {mounted.stderr}"
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def remount(path: Path, mode: str) -> None:
    done = subprocess.run(
        ["mount", "-o", f"remount,{mode}", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_a_read_only_cache_directory(made: Made, tmp_path: Path) -> None:
    _db, cache_path, env = good_cache(made, tmp_path)
    with tmpfs(tmp_path / "ro", "64m") as ro:
        cache_copy = ro / "c.duckdb"
        shutil.copy(cache_path, cache_copy)
        remount(ro, "ro")
        probe = ro / "probe"
        with pytest.raises(OSError):
            probe.write_text("x")  # root cannot write here either
        env = {**env, "ARTWORK_BACKFILL_CACHE": str(cache_copy), "LIBRARY_METADATA_URL": DEAD_LML}
        # the commands that write the cache: one clear line each
        for args in (["resolve", *FAST], ["apply", "--execute"]):
            done = run_cli(args, env)
            line = assert_one_clear_error(done)
            assert "read-only" in line.lower() or "read only" in line.lower(), (args, line)
        # the commands that only read it work
        report = ok_json(run_cli(["report", "--json", "--sample", "0"], env))
        assert report["candidates"] > 0
        # a new cache in the read-only directory
        done = run_cli(["resolve", *FAST], {**env, "ARTWORK_BACKFILL_CACHE": str(ro / "n.duckdb")})
        assert "read-only" in assert_one_clear_error(done).lower()


def test_a_new_cache_below_a_read_only_directory_is_one_line(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    """The cache's directory does not exist and cannot be made."""
    with tmpfs(tmp_path / "ro", "1m") as ro:
        remount(ro, "ro")
        env = fault_env(wxyc_db, DEAD_LML, ro / "sub" / "c.duckdb")
        for args in (["resolve", *FAST], ["report"], ["apply"]):
            line = assert_one_clear_error(run_cli(args, env))
            assert "read-only" in line.lower() or "does not exist" in line, (args, line)


def test_a_full_disk_while_resolve_writes_is_one_line_and_keeps_what_was_stored(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    catalog = seeded_catalog(wxyc_db, 250)
    with tmpfs(tmp_path / "small", "384k") as small:
        cache_path = small / "c.duckdb"
        with start_simulator(catalog, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
            env = fault_env(wxyc_db, sim.url, cache_path)
            done = run_cli(["resolve", "--no-bulk", *FAST], env)
        assert done.returncode == 1, (done.returncode, done.stderr[-1500:])
        roomy = tmp_path / "roomy"
        roomy.mkdir()
        for part in small.iterdir():
            shutil.move(str(part), roomy / part.name)
    # everything stored before the disk filled is readable from a roomy place ...
    with Cache(roomy / "c.duckdb", read_only=True) as cache:
        stored = cache.response_count()
        states = cache.key_states()
        runs = cache.runs("resolve")
    assert runs.height == 1
    assert stored >= 1 and states.height > 0
    # ... and the moved cache is a working cache: resolve continues it
    with start_simulator(catalog, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        env = fault_env(wxyc_db, sim.url, roomy / "c.duckdb")
        out = ok_json(run_cli(["resolve", "--json", "--no-bulk", *FAST], env))
    assert out["not_asked"] == 0 and out["final"] > 0
    # the failure itself was one clear line
    line = assert_one_clear_error(done)
    assert "space" in line.lower() or "full" in line.lower(), line


# -- cache layouts ----------------------------------------------------------------------------


def test_a_layout_1_cache_is_migrated(made: Made, tmp_path: Path) -> None:
    _db, cache_path, env = good_cache(made, tmp_path)
    expected = bands(cache_path)
    conn = duckdb.connect(str(cache_path))
    try:  # what layout 1 was: no discogs_artist_id on the candidates, nor layout 3's parts
        conn.execute("ALTER TABLE candidates DROP COLUMN discogs_artist_id")
        conn.execute("ALTER TABLE journal DROP COLUMN previous_artwork_url")
        conn.execute("ALTER TABLE journal DROP COLUMN verdict_id")
        conn.execute("DROP TABLE audit_rows")
        conn.execute("UPDATE meta SET value = '1' WHERE name = 'schema_version'")
    finally:
        conn.close()
    # read-only commands read it as it is
    report = ok_json(run_cli(["report", "--json", "--sample", "0"], env))
    assert report["candidates"] == len(expected)
    with start_simulator(made.catalog, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        out = ok_json(
            run_cli(["resolve", "--json", *FAST], {**env, "LIBRARY_METADATA_URL": sim.url})
        )
    assert out["status"] == "completed"
    with Cache(cache_path, read_only=True) as cache:
        assert cache.meta("schema_version") == SCHEMA_VERSION
        assert {"previous_artwork_url", "verdict_id"} <= set(cache.journal().columns)
        assert "discogs_artist_id" in cache.candidates().columns
        assert cache.candidates()["discogs_artist_id"].is_not_null().any()  # re-exported
    assert bands(cache_path) == expected


def test_a_cache_of_an_unknown_layout_is_refused_by_every_command(
    made: Made, tmp_path: Path
) -> None:
    _db, cache_path, env = good_cache(made, tmp_path)
    conn = duckdb.connect(str(cache_path))
    try:
        conn.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    finally:
        conn.close()
    before = cache_path.read_bytes()
    env = {**env, "LIBRARY_METADATA_URL": DEAD_LML}
    for args in broken_commands(tmp_path):
        line = assert_one_clear_error(run_cli(args, env), "layout version 99")
        assert "newer" in line, line
    assert cache_path.read_bytes() == before  # refused before anything was written
