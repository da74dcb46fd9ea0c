"""Watching a run: while `resolve` holds the cache, `report` reads the copy it publishes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from artwork_backfill.cache.store import Cache, live_path
from artwork_backfill.demo.simulator import SimulatorConfig, generate_catalog, start_simulator
from tests.conftest import WxycDb
from tests.test_resolve import env_for, run

CATALOG = generate_catalog(300, seed=13)


def test_report_works_while_resolve_runs_and_its_counts_grow(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    with wxyc_db.connect() as conn:
        CATALOG.load_into_postgres(conn)
    cache_path = tmp_path / "c.duckdb"
    with start_simulator(CATALOG, SimulatorConfig(latency_ms=5, jitter_ms=0)) as sim:
        env = env_for(wxyc_db, sim, cache_path, ARTWORK_BACKFILL_LIVE_PUBLISH_S="0.2")
        # single lookups at 240/min: a run of over a minute, stopped once the test has seen enough
        proc = subprocess.Popen(
            [sys.executable, "-m", "artwork_backfill", "resolve", "--no-bulk",
             "--rate-per-min", "240", "--concurrency", "2"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        seen: list[int] = []
        try:
            for _ in range(200):  # bounded: each report is a second or two
                if proc.poll() is not None:
                    break
                done = run(["report", "--json", "--sample", "0"], env, timeout=60)
                if done.returncode != 0:
                    # before the first publish (or before resolve made the file at all)
                    assert "in use" in done.stderr or "does not exist" in done.stderr, done.stderr
                    continue
                data = json.loads(done.stdout)
                assert data["live"] is True
                answered = data["candidates"] - data["pending"]["rows"]
                if not seen or answered > seen[-1]:
                    seen.append(answered)
                if len(seen) >= 3:
                    break
            # a dry-run apply plans from the same published answers
            dry = run(["apply", "--json"], env, timeout=60)
            still_running = proc.poll() is None
        finally:
            proc.send_signal(signal.SIGINT)
            _out, err = proc.communicate(timeout=90)
    assert still_running, err  # the three reports were taken while it ran
    assert len(seen) >= 3 and seen == sorted(seen), seen  # and each saw more answers
    assert proc.returncode == 130, err
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert planned["dry_run"] is True and planned["applied"] == 0
    assert not live_path(cache_path).exists()  # the run is over: readers read the cache again
    with Cache(cache_path, read_only=True) as cache:
        assert cache.live is False
        assert cache.response_count() >= seen[-1]
