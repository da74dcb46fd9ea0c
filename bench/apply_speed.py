"""How fast `apply` writes, against WXYC's per-row method and one bare statement.

    uv run python bench/apply_speed.py                # 64K library rows, batches of 5000
    uv run python bench/apply_speed.py --rows 8000    # a quick run

One embedded PostgreSQL with WXYC's schema and write-side triggers (per-row CDC pg_notify,
per-statement catalog watermark), `--rows` library rows generated with COPY, every row given
a cover. Every measured run gets its own identical copy of that database (CREATE DATABASE
... TEMPLATE), so no method inherits another's dead tuples, free space or index growth.

* `apply`: `run_apply` itself, as `apply --execute` runs it: the state read, COPY into a temp
  table + one guarded `UPDATE ... FROM` per batch, the write-ahead intent and the journal in
  DuckDB per batch, ANALYZE at the end.
* `apply (SQL only)`: the same COPY + UPDATE per batch without the ledger and journal, to
  show what the crash-consistency bookkeeping costs.
* `per row`: WXYC's `library-artwork-url-backfill` shape, one
  `UPDATE ... SET artwork_url=%s WHERE id=%s AND artwork_url IS NULL RETURNING id` per row
  in autocommit.
* `one VALUES statement`: a single bare `UPDATE ... FROM (VALUES ...)` over every row.

Every method runs with `synchronous_commit=off` (as WXYC's backfill images do). The embedded
server runs with fsync off, so per-commit costs are understated here; on RDS the per-row
method pays a WAL flush per row on top.
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from artwork_backfill.apply.plan import Plan, PlanRow
from artwork_backfill.apply.run import run_apply
from artwork_backfill.apply.session import open_session
from artwork_backfill.apply.settings import ApplySettings
from artwork_backfill.cache.store import Cache
from artwork_backfill.config import DbSettings
from artwork_backfill.demo.pgembed import EmbeddedPostgres, load_schema
from artwork_backfill.logs import RunLog

SCHEMA = "wxyc_schema"
WORDS = [
    "blue",
    "moon",
    "night",
    "sound",
    "silver",
    "dream",
    "city",
    "fire",
    "river",
    "glass",
    "ghost",
    "garden",
    "machine",
    "heart",
    "light",
    "echo",
    "paper",
    "summer",
    "winter",
    "radio",
    "tiger",
    "velvet",
    "electric",
    "golden",
    "secret",
    "ocean",
    "shadow",
]


def cover(i: int) -> str:
    name = f"s3://discogs-database-images/R-{1_000_000 + i}-1600000000.jpeg"
    stem = base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")
    return f"https://i.discogs.com/Qm9ndXNIYXNo/rs:fit/g:sm/q:90/h:600/w:600/{stem}.jpeg"


def populate(conn: psycopg.Connection, rows: int) -> list[PlanRow]:
    """Artists (one per 3 rows) and library rows, by COPY; the plan covers every row."""
    artists = max(1, rows // 3)
    conn.execute(f"INSERT INTO {SCHEMA}.genres (id, genre_name) VALUES (11, 'Rock')")
    conn.execute(f"INSERT INTO {SCHEMA}.format (id, format_name) VALUES (1, 'cd')")
    names = [
        f"{WORDS[i % len(WORDS)].title()} {WORDS[i // len(WORDS) % len(WORDS)].title()} {i}"
        for i in range(artists)
    ]
    with conn.cursor().copy(
        f"COPY {SCHEMA}.artists (id, artist_name, code_letters, alphabetical_name) FROM STDIN"
    ) as copy:
        for i, name in enumerate(names, 1):
            copy.write_row((i, name, name[:2].upper(), name))
    plan: list[PlanRow] = []
    with conn.cursor().copy(
        f"COPY {SCHEMA}.library (id, artist_id, genre_id, format_id, album_title, code_number, "
        "legacy_release_id, artist_name) FROM STDIN"
    ) as copy:
        for i in range(1, rows + 1):
            artist_id = (i - 1) % artists + 1
            title = f"{WORDS[i % len(WORDS)].title()} {WORDS[(i * 7) % len(WORDS)].title()} {i}"
            copy.write_row((i, artist_id, 11, 1, title, i % 300, i, names[artist_id - 1]))
            plan.append(PlanRow(i, cover(i), names[artist_id - 1], title, "high", "high"))
    conn.commit()
    return plan


def written(db: DbSettings) -> int:
    with psycopg.connect(db.conninfo) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {SCHEMA}.library WHERE artwork_url IS NOT NULL"
        ).fetchone()
        assert row is not None
        return int(row[0])


def with_apply(db: DbSettings, plan: list[PlanRow], batch_size: int, workdir: Path) -> float:
    # no pause between batches: this measures write time (production pauses 100 ms a batch)
    settings = ApplySettings(
        batch_size=batch_size, live_pause=False, sample_size=0, batch_pause_ms=0
    )
    log = RunLog(
        tool="bench apply", run_id="bench", fmt="json", out=io.StringIO(), err=io.StringIO()
    )
    with Cache(workdir / f"bench-{time.monotonic_ns()}.duckdb") as cache:
        cache.bind_source(db.identity)
        started = time.perf_counter()
        result = run_apply(
            cache,
            db,
            Plan(tuple(plan), len(plan), 0, 0, 0),
            execute=True,
            settings=settings,
            log=log,
        )
        elapsed = time.perf_counter() - started
    assert result.applied == len(plan), result
    return elapsed


def with_sql_only(db: DbSettings, plan: list[PlanRow], batch_size: int) -> float:
    from artwork_backfill.apply.writer import apply_kind

    kind = apply_kind(db)
    settings = ApplySettings(batch_size=batch_size, batch_pause_ms=0)
    with open_session(db, settings, read_only=False) as conn:
        started = time.perf_counter()
        for start in range(0, len(plan), batch_size):
            with conn.transaction():
                cur = conn.cursor()
                cur.execute(kind.create)
                with cur.copy(kind.copy) as copy:
                    for row in plan[start : start + batch_size]:
                        copy.write_row(kind.copy_row(row))
                cur.execute(kind.update).fetchall()
        return time.perf_counter() - started


def per_row(db: DbSettings, plan: list[PlanRow]) -> float:
    query = sql.SQL(
        "UPDATE {} SET artwork_url = %s WHERE id = %s AND artwork_url IS NULL RETURNING id"
    ).format(sql.Identifier(SCHEMA, "library"))
    with open_session(db, ApplySettings(), read_only=False) as conn:
        started = time.perf_counter()
        for row in plan:
            conn.execute(query, [row.url, row.library_id]).fetchall()
        return time.perf_counter() - started


def one_values_statement(db: DbSettings, plan: list[PlanRow]) -> float:
    values = ", ".join(["(%s::int, %s::varchar)"] * len(plan))
    query = (
        f"UPDATE {SCHEMA}.library AS l SET artwork_url = v.url FROM (VALUES {values}) AS v(id, url) "
        "WHERE l.id = v.id AND l.artwork_url IS NULL"
    )
    params = [x for row in plan for x in (row.library_id, row.url)]
    with open_session(db, ApplySettings(), read_only=False) as conn:
        cur = psycopg.ClientCursor(conn)  # client-side binding: no 65535-parameter limit
        started = time.perf_counter()
        cur.execute(query, params)
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=1, help="Runs per method; the best counts.")
    args = parser.parse_args()

    with EmbeddedPostgres.start() as server, tempfile.TemporaryDirectory() as tmp:
        with psycopg.connect(server.create_database("bench_template")) as conn:
            load_schema(conn)
            t0 = time.perf_counter()
            plan = populate(conn, args.rows)
            print(f"{args.rows} library rows generated in {time.perf_counter() - t0:.1f} s (COPY)")
        with psycopg.connect(server.dsn("bench_template"), autocommit=True) as conn:
            conn.execute(f"VACUUM ANALYZE {SCHEMA}.library")
        copies = iter(range(1, 10_000))

        def fresh() -> DbSettings:
            """An identical copy of the generated table for every measured run."""
            name = f"bench_{next(copies)}"
            with psycopg.connect(server.dsn(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE bench_template')
            return server.settings(name, SCHEMA)

        methods: list[tuple[str, Callable[[DbSettings], float]]] = [
            (
                f"apply (COPY + UPDATE per {args.batch_size}, ledger, journal)",
                lambda db: with_apply(db, plan, args.batch_size, Path(tmp)),
            ),
            (
                f"apply, SQL only (COPY + UPDATE per {args.batch_size})",
                lambda db: with_sql_only(db, plan, args.batch_size),
            ),
            ("per row, autocommit (WXYC's job)", lambda db: per_row(db, plan)),
            ("one bare UPDATE ... FROM (VALUES ...)", lambda db: one_values_statement(db, plan)),
        ]
        results: list[tuple[str, float]] = []
        for name, method in methods:
            times = []
            for _ in range(args.repeat):
                db = fresh()
                times.append(method(db))
                assert written(db) == len(plan), name
            results.append((name, min(times)))
            print(f"  {name}: " + ", ".join(f"{t:.2f}" for t in times) + " s", flush=True)

    base = results[0][1]
    print(f"\n{args.rows} rows, batch size {args.batch_size}, best of {args.repeat}")
    print(f"{'method':<58} {'seconds':>8} {'rows/s':>9} {'vs apply':>9}")
    for name, seconds in results:
        print(f"{name:<58} {seconds:>8.2f} {args.rows / seconds:>9.0f} {seconds / base:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
