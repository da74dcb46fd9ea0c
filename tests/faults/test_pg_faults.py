"""PostgreSQL faults, against the real CLI in a subprocess and the per-test database.

The server restarted in the middle of `apply --execute`; a row lock held on a row being
written (retried while it is released, a one-line failure while it is not); a statement
timeout inside a batch; the connection of `resolve`'s candidate export terminated while it
waits; and the export's own lock timeout (an ACCESS EXCLUSIVE lock on the catalog makes
`resolve` fail by itself instead of waiting for ever).

Every case ends with a clean re-run, and checks the database against what a clean run writes
(the plan computed from the same cache): nothing half written, the journal names exactly the
rows written. No case depends on speed: each waits (bounded) for a state it can see, a log
line or a backend in pg_stat_activity, never for a time to pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from artwork_backfill.apply.plan import plan_apply
from artwork_backfill.cache.store import Cache
from artwork_backfill.config import APPLICATION_NAME
from artwork_backfill.demo.pgembed import EmbeddedPostgres
from artwork_backfill.demo.simulator import Catalog, SimulatorConfig, start_simulator
from artwork_backfill.review.matches import match_table
from tests.conftest import WxycDb
from tests.faults.conftest import FAST, fault_env, ok_json, run_cli, seeded_catalog

ROWS = 150
HOOKS = Path(__file__).resolve().parent.parent / "_apply_with_hooks.py"
WAIT_S = 90.0  # the bound on every wait for a state (a hang guard, never a speed assertion)


# -- helpers ---------------------------------------------------------------------------------


def error_lines(text: str) -> list[str]:
    """The `error: ...` lines a failed command printed (log lines are not errors)."""
    return [line for line in text.splitlines() if line.startswith("error:")]


def assert_one_clear_error(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 1, exactly one `error:` line naming every needle, no traceback, no 'unexpected'."""
    assert done.returncode == 1, (done.returncode, done.stdout[-1500:], done.stderr[-1500:])
    text = done.stdout + done.stderr
    assert "Traceback" not in text and "unexpected" not in text, text[-2000:]
    errors = error_lines(done.stderr)
    assert len(errors) == 1, done.stderr[-2000:]
    for needle in needles:
        assert needle.lower() in errors[0].lower(), errors[0]
    return errors[0]


def artwork(db: WxycDb) -> dict[int, str | None]:
    with db.connect() as conn:
        rows = conn.execute(f"SELECT id, artwork_url FROM {db.schema}.library ORDER BY id")
        return dict(rows.fetchall())


def planned(cache_path: Path) -> dict[int, str]:
    """library_id -> URL of every row a clean `apply --execute` writes, from the cache."""
    with Cache(cache_path, read_only=True) as cache:
        plan = plan_apply(match_table(cache))
    return {r.library_id: r.url for r in plan.rows}


def expected_library(catalog: Catalog, plan: dict[int, str]) -> dict[int, str | None]:
    """The library after a clean apply: the loaded catalog with the planned covers written."""
    return {r.library_id: plan.get(r.library_id, r.artwork_url) for r in catalog.rows}


def journal_map(cache_path: Path) -> dict[int, set[str]]:
    with Cache(cache_path, read_only=True) as cache:
        frame = cache.journal()
    out: dict[int, set[str]] = {}
    for library_id, url in frame.select("library_id", "artwork_url").iter_rows():
        out.setdefault(int(library_id), set()).add(str(url))
    return out


def written_by_us(db: WxycDb, catalog: Catalog) -> dict[int, str]:
    """Rows holding a URL the catalog did not load: what apply wrote."""
    loaded = {r.library_id: r.artwork_url for r in catalog.rows}
    return {i: u for i, u in artwork(db).items() if u is not None and loaded.get(i) is None}


def assert_whole_batches(written: set[int], plan: dict[int, str], size: int) -> None:
    """Every batch (the plan's rows in order, `size` at a time) is written whole or not at all."""
    ids = sorted(plan)
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        assert {i in written for i in batch} in ({True}, {False}), f"batch {batch} half written"


def resolved(db: WxycDb, tmp_path: Path) -> tuple[Catalog, Path, dict[str, str]]:
    """A catalog in the database, resolved into a cache against the simulator."""
    catalog = seeded_catalog(db, ROWS)
    cache_path = tmp_path / "c.duckdb"
    with start_simulator(catalog, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        env = fault_env(db, sim.url, cache_path, LIVE_ACTIVITY_LOOKBACK_SECONDS="0")
        ok_json(run_cli(["resolve", "--json", *FAST], env))
    env.pop("LIBRARY_METADATA_URL")
    return catalog, cache_path, env


def apply_proc(env: dict[str, str], *args: str, delay_ms: int = 0) -> subprocess.Popen[str]:
    """`apply --execute --log-format json ...` with the crash-test hooks (delay per batch)."""
    return subprocess.Popen(
        [
            sys.executable,
            str(HOOKS),
            "--delay-ms",
            str(delay_ms),
            "--",
            *("apply", "--execute", "--log-format", "json", *args),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(proc: subprocess.Popen[str], predicate: Any) -> list[dict[str, Any]]:
    """JSON log lines from stdout until one satisfies `predicate` (or the output ends)."""
    assert proc.stdout is not None
    seen: list[dict[str, Any]] = []
    for line in proc.stdout:
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        seen.append(record)
        if predicate(record):
            break
    return seen


def finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    try:
        out, err = proc.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=30)
        raise AssertionError(f"the command did not end by itself: {err[-1500:]}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def restart(server: EmbeddedPostgres) -> None:
    """Restart the test cluster (fast shutdown: every session is terminated), same options."""
    done = server._run(
        [
            "pg_ctl",
            "-D",
            str(server.data_dir),
            "-l",
            str(server.root / "server.log"),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "restart",
        ]
    )
    assert done.returncode == 0, done.stderr[-1000:]


def wait_for(what: str, check: Any, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def catalog_locked(db: WxycDb, mode: str = "ACCESS EXCLUSIVE") -> Iterator[psycopg.Connection]:
    """Another session holds a table lock on the library for the block's duration."""
    conn = db.connect()
    try:
        conn.execute(f"LOCK TABLE {db.schema}.library IN {mode} MODE")
        yield conn
    finally:
        conn.rollback()
        conn.close()


def backends_waiting_on_a_lock(db: WxycDb) -> list[int]:
    """The tool's backends in this database that wait for a lock."""
    with db.connect(autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s "
            "AND wait_event_type = 'Lock'",
            [db.name, APPLICATION_NAME],
        ).fetchall()
    return [int(r[0]) for r in rows]


def clean_rerun(
    db: WxycDb, catalog: Catalog, cache_path: Path, env: dict[str, str], plan: dict[int, str]
) -> dict[str, Any]:
    """A re-run completes; the library and the journal are a clean run's."""
    result = ok_json(run_cli(["apply", "--execute", "--json"], env))
    assert result["status"] == "completed" and result["remaining"] == 0, result
    assert result["raced"] == 0 and result["stale"] == 0, result
    assert artwork(db) == expected_library(catalog, plan)
    assert journal_map(cache_path) == {i: {u} for i, u in plan.items()}
    with Cache(cache_path, read_only=True) as cache:
        intents = set(cache.runs("apply-batch")["status"].to_list())
    assert not {"running", "died"} & intents, intents  # every batch intent settled
    return result


# -- the server restarts while apply writes -------------------------------------------------


def test_a_server_restart_mid_apply_is_one_line_and_a_rerun_finishes(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    catalog, cache_path, env = resolved(wxyc_db, tmp_path)
    plan = planned(cache_path)
    size = 6
    assert len(plan) >= 5 * size, "the catalog must give several batches"
    proc = apply_proc(env, "--batch-size", str(size), delay_ms=600)
    try:
        seen = read_until(proc, lambda r: r.get("step") == "batch_done" and r["batch_index"] == 2)
        assert seen and seen[-1].get("batch_index") == 2, seen[-3:]
        restart(wxyc_db.server)  # batch 3 is in flight (or about to start): its session dies
        done = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert_one_clear_error(done, "failed")
    assert wxyc_db.server.password not in done.stdout + done.stderr
    written = written_by_us(wxyc_db, catalog)
    assert all(plan[i] == u for i, u in written.items())  # every write is a planned cover
    assert_whole_batches(set(written), plan, size)
    assert 2 * size <= len(written) < len(plan)
    # the journal never names a row that is not written (batches in doubt wait for the re-run)
    assert set(journal_map(cache_path)) <= set(written)

    again = clean_rerun(wxyc_db, catalog, cache_path, env, plan)
    assert again["applied"] + again["already_applied"] == len(plan)


# -- a row lock on a row being written -------------------------------------------------------


class RowLock:
    """Another writer holds a row lock on one library row until `release()`."""

    def __init__(self, db: WxycDb, library_id: int) -> None:
        self.conn = db.connect()
        # `plays` is outside the watermark trigger's columns: only this row is locked
        self.conn.execute(
            f"UPDATE {db.schema}.library SET plays = plays + 1 WHERE id = %s", [library_id]
        )

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()


def test_a_row_lock_released_in_time_is_retried_and_the_run_completes(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    catalog, cache_path, env = resolved(wxyc_db, tmp_path)
    plan = planned(cache_path)
    size = 10
    locked = sorted(plan)[size + 3]  # a row of batch 2
    lock = RowLock(wxyc_db, locked)
    env = {**env, "BACKFILL_LOCK_TIMEOUT_MS": "200"}
    proc = apply_proc(env, "--batch-size", str(size))
    try:
        seen = read_until(proc, lambda r: r.get("step") in ("batch_retry", "failed", "finished"))
        assert seen and seen[-1]["step"] == "batch_retry" and seen[-1]["batch_index"] == 2, seen
        # batch 2 waits behind the lock: nothing of it is written, batch 1 is
        written = written_by_us(wxyc_db, catalog)
        assert set(written) == set(sorted(plan)[:size])
        lock.release()
        done = finish(proc)
    finally:
        lock.release()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert done.returncode == 0, done.stderr[-2000:]
    assert artwork(wxyc_db) == expected_library(catalog, plan)
    assert journal_map(cache_path) == {i: {u} for i, u in plan.items()}


def test_a_row_lock_held_throughout_fails_the_run_in_one_line_and_keeps_whole_batches(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    catalog, cache_path, env = resolved(wxyc_db, tmp_path)
    plan = planned(cache_path)
    size = 10
    locked = sorted(plan)[size + 3]  # a row of batch 2
    lock = RowLock(wxyc_db, locked)
    try:
        done = run_cli(
            ["apply", "--execute", "--batch-size", str(size)],
            {**env, "BACKFILL_LOCK_TIMEOUT_MS": "100"},
        )
    finally:
        lock.release()
    assert_one_clear_error(done, "batch 2 failed", "lock timeout")
    written = written_by_us(wxyc_db, catalog)
    assert set(written) == set(sorted(plan)[:size])  # batch 1 committed, batch 2 not at all
    assert journal_map(cache_path) == {i: {plan[i]} for i in written}
    with Cache(cache_path, read_only=True) as cache:
        assert cache.runs("apply")["status"].to_list() == ["failed"]
    clean_rerun(wxyc_db, catalog, cache_path, env, plan)


# -- a statement timeout inside a batch ------------------------------------------------------


def test_a_statement_timeout_in_a_batch_is_one_line_and_nothing_of_it_is_written(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    catalog, cache_path, env = resolved(wxyc_db, tmp_path)
    plan = planned(cache_path)
    size = 10
    slow = sorted(plan)[2 * size + 1]  # a row of batch 3
    lib = f"{wxyc_db.schema}.library"
    with wxyc_db.connect() as conn:  # test-only: updating that one row takes a minute
        conn.execute(
            f"""CREATE FUNCTION {wxyc_db.schema}.slow_row() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.id = {slow} THEN PERFORM pg_sleep(60); END IF; RETURN NEW; END $$;
            CREATE TRIGGER slow_row BEFORE UPDATE ON {lib}
                FOR EACH ROW EXECUTE FUNCTION {wxyc_db.schema}.slow_row();"""
        )
    done = run_cli(
        ["apply", "--execute", "--batch-size", str(size)],
        {**env, "DB_STATEMENT_TIMEOUT_MS": "500"},
    )
    assert_one_clear_error(done, "batch 3 failed", "statement timeout")
    written = written_by_us(wxyc_db, catalog)
    assert set(written) == set(sorted(plan)[: 2 * size])
    assert journal_map(cache_path) == {i: {plan[i]} for i in written}
    with wxyc_db.connect() as conn:
        conn.execute(f"DROP TRIGGER slow_row ON {lib}")
    clean_rerun(wxyc_db, catalog, cache_path, env, plan)


# -- the candidate export: its connection dropped, its lock wait bounded ----------------------


def test_the_export_connection_terminated_while_it_waits_is_one_line(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    catalog = seeded_catalog(wxyc_db, ROWS)
    cache_path = tmp_path / "c.duckdb"
    with start_simulator(catalog, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        env = fault_env(wxyc_db, sim.url, cache_path, ARTWORK_BACKFILL_EXPORT_LOCK_TIMEOUT_S="120")
        with catalog_locked(wxyc_db) as holder:
            proc = subprocess.Popen(
                [sys.executable, "-m", "artwork_backfill", "resolve", "--json", *FAST],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                pids = wait_for(
                    "resolve's export to wait for the lock",
                    lambda: backends_waiting_on_a_lock(wxyc_db),
                )
                assert len(pids) == 1
                holder.execute("SELECT pg_terminate_backend(%s)", [pids[0]])
                done = finish(proc)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=30)
        line = assert_one_clear_error(done, "reading the candidates")
        assert "terminat" in line.lower(), line
        assert wxyc_db.server.password not in done.stdout + done.stderr
        assert sim.stats().total_asks == 0  # nothing was asked on a half export
        with Cache(cache_path, read_only=True) as cache:
            assert cache.candidate_count() == (0, 0)  # nothing half exported
        out = ok_json(run_cli(["resolve", "--json", *FAST], env))
    assert out["candidates"] > 0 and out["status"] == "completed"


def test_the_export_gives_up_on_a_lock_by_itself(wxyc_db: WxycDb, tmp_path: Path) -> None:
    catalog = seeded_catalog(wxyc_db, ROWS)
    cache_path = tmp_path / "c.duckdb"
    with start_simulator(catalog, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        env = fault_env(wxyc_db, sim.url, cache_path, ARTWORK_BACKFILL_EXPORT_LOCK_TIMEOUT_S="1")
        with catalog_locked(wxyc_db):
            done = run_cli(["resolve", "--json", *FAST], env, timeout=WAIT_S)
        line = assert_one_clear_error(done, "lock")
        assert "ARTWORK_BACKFILL_EXPORT_LOCK_TIMEOUT_S" in line and wxyc_db.schema in line
        assert sim.stats().total_asks == 0
        # a share lock (e.g. a running CREATE INDEX) does not block the read: it goes through
        with catalog_locked(wxyc_db, "SHARE"):
            out = ok_json(run_cli(["resolve", "--json", *FAST], env, timeout=WAIT_S))
    assert out["candidates"] > 0 and out["status"] == "completed"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ARTWORK_BACKFILL_EXPORT_LOCK_TIMEOUT_S", "soon"),
        ("ARTWORK_BACKFILL_EXPORT_STATEMENT_TIMEOUT_S", "-5"),
    ],
)
def test_a_bad_export_timeout_setting_is_one_line_naming_it(
    wxyc_db: WxycDb, tmp_path: Path, name: str, value: str
) -> None:
    env = fault_env(wxyc_db, "http://127.0.0.1:9", tmp_path / "c.duckdb", **{name: value})
    done = run_cli(["resolve", *FAST], env, timeout=WAIT_S)
    assert_one_clear_error(done, name)


def test_the_export_timeouts_are_read_from_the_environment() -> None:
    from artwork_backfill.errors import ConfigError
    from artwork_backfill.resolve.candidates import export_timeouts

    assert export_timeouts({}) == (30.0, 600.0)
    assert export_timeouts(
        {
            "ARTWORK_BACKFILL_EXPORT_LOCK_TIMEOUT_S": " 1.5 ",
            "ARTWORK_BACKFILL_EXPORT_STATEMENT_TIMEOUT_S": "20",
        }
    ) == (1.5, 20.0)
    for bad in ("inf", "nan", "0", "-1", "1s"):
        with pytest.raises(ConfigError, match="ARTWORK_BACKFILL_EXPORT_LOCK_TIMEOUT_S"):
            export_timeouts({"ARTWORK_BACKFILL_EXPORT_LOCK_TIMEOUT_S": bad})
