"""Which database a cache belongs to: the cluster's system identifier, the database and the
schema, whatever host name reaches them; a different cluster is refused until `rebind`."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from artwork_backfill.cache.store import Cache
from artwork_backfill.demo.pgembed import EmbeddedPostgres, load_schema
from artwork_backfill.demo.simulator import SimulatorConfig, generate_catalog, start_simulator
from tests.conftest import WxycDb
from tests.test_resolve import env_for, run

CATALOG = generate_catalog(120, seed=5)
FAST = ["--rate-per-min", "12000"]


def test_the_cache_knows_its_database_by_identity_not_by_host_name(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    with wxyc_db.connect() as conn:
        CATALOG.load_into_postgres(conn)
        (sysid,) = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
    cache_path = tmp_path / "c.duckdb"
    with start_simulator(CATALOG, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        env = env_for(wxyc_db, sim, cache_path)
        first = run(["resolve", "--json", *FAST], env)
        assert first.returncode == 0, first.stderr
        with Cache(cache_path, read_only=True) as cache:
            assert cache.meta("source") == f"pg:{sysid}/{wxyc_db.name}/wxyc_schema"

        # the same server under another name (a tunnel on localhost, the RDS endpoint): accepted
        again = run(["resolve", "--json", *FAST], {**env, "DB_HOST": "localhost"})
        assert again.returncode == 0, again.stderr

        # another cluster, even with the same database name: refused, one line, until rebind
        other = EmbeddedPostgres.start()
        try:
            other.create_database(wxyc_db.name)
            with psycopg.connect(other.dsn(wxyc_db.name)) as conn:
                load_schema(conn)
                CATALOG.load_into_postgres(conn)
            other_env = {**env, **other.env(wxyc_db.name), "WXYC_SCHEMA_NAME": "wxyc_schema"}
            refused = run(["resolve", "--json", *FAST], other_env)
            assert refused.returncode == 1 and "Traceback" not in refused.stderr
            assert "was made from pg:" in refused.stderr and "rebind --execute" in refused.stderr
            assert other.password not in refused.stderr

            dry = run(["rebind"], other_env)
            assert dry.returncode == 0 and "dry run" in dry.stdout
            with Cache(cache_path, read_only=True) as cache:
                assert cache.meta("source") == f"pg:{sysid}/{wxyc_db.name}/wxyc_schema"
            moved = run(["rebind", "--execute"], other_env)
            assert moved.returncode == 0, moved.stderr
            after = run(["resolve", "--json", *FAST], other_env)
            assert after.returncode == 0, after.stderr
            # every answer carried over: only the keys still transient are asked again
            assert json.loads(after.stdout)["asked"] == json.loads(again.stdout)["transient"]
            with Cache(cache_path, read_only=True) as cache:
                rebinds = cache.runs("rebind").to_dicts()
            assert len(rebinds) == 1 and json.loads(rebinds[0]["settings"])["from"].startswith(
                f"pg:{sysid}/"
            )
        finally:
            other.stop()


def test_a_cache_bound_by_host_name_is_bound_again_by_identity(
    tmp_path: Path, wxyc_db: WxycDb
) -> None:
    with wxyc_db.connect() as conn:
        CATALOG.load_into_postgres(conn)
    cache_path = tmp_path / "c.duckdb"
    with Cache(cache_path) as cache:  # an older cache: bound to the host string
        cache.bind_source(wxyc_db.settings.identity)
    with start_simulator(CATALOG, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        done = run(["resolve", "--json", *FAST], env_for(wxyc_db, sim, cache_path))
    assert done.returncode == 0, done.stderr
    with Cache(cache_path, read_only=True) as cache:
        assert str(cache.meta("source")).startswith("pg:")
