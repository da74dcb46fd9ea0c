"""Run the LML simulator as a process: `python -m artwork_backfill.demo.simulator --rows 2000`.

The first line of stdout is the base URL (flushed at once), so a parent process can read it;
the server then runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

import psycopg
from psycopg import sql

from artwork_backfill.demo.pgembed import load_schema
from artwork_backfill.demo.simulator.catalog import Catalog, generate_catalog
from artwork_backfill.demo.simulator.server import start_simulator
from artwork_backfill.demo.simulator.state import FaultConfig, SimulatorConfig


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m artwork_backfill.demo.simulator", description=__doc__.splitlines()[0]
    )
    p.add_argument("--rows", type=int, default=2000, help="library rows to generate")
    p.add_argument("--seed", type=int, default=0, help="catalog seed (same seed, same catalog)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--generation", choices=("aug", "feb"), default="aug")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--inflight-cap", type=int, default=8)
    p.add_argument("--bulk-concurrency", type=int, default=10)
    p.add_argument("--api-key", default=None, help="require this bearer key (aug only)")
    p.add_argument(
        "--force-status",
        type=int,
        default=None,
        help="answer every /api/v1 request with this status",
    )
    p.add_argument("--health-status", type=int, default=200)
    for kind in ("500", "502", "503", "reset", "malformed", "hang", "bulk-item-error"):
        p.add_argument(f"--fault-rate-{kind}", type=float, default=0.0, metavar="P")
    p.add_argument("--hang-seconds", type=float, default=5.0)
    p.add_argument("--fault-seed", type=int, default=0)
    p.add_argument("--load-dsn", default=None, help="also load the catalog into this database")
    p.add_argument("--schema", default="wxyc_schema", help="schema for --load-dsn")
    return p


def _load(catalog: Catalog, dsn: str, schema: str) -> None:
    with psycopg.connect(dsn) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.library",)).fetchone()
        if not exists or exists[0] is None:
            load_schema(conn, schema)
        count = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.library").format(sql.Identifier(schema))
        ).fetchone()
        if count and count[0]:
            raise SystemExit(
                f"error: {schema}.library already has {count[0]} rows; load into an empty schema"
            )
        catalog.load_into_postgres(conn, schema)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    catalog = generate_catalog(args.rows, seed=args.seed)
    if args.load_dsn:
        _load(catalog, args.load_dsn, args.schema)
    config = SimulatorConfig(
        generation=args.generation,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        inflight_cap=args.inflight_cap,
        bulk_concurrency=args.bulk_concurrency,
        api_key=args.api_key,
        force_status=args.force_status,
        health_status=args.health_status,
        host=args.host,
        port=args.port,
        faults=FaultConfig(
            rate_500=args.fault_rate_500,
            rate_502=args.fault_rate_502,
            rate_503=args.fault_rate_503,
            rate_reset=args.fault_rate_reset,
            rate_malformed=args.fault_rate_malformed,
            rate_hang=args.fault_rate_hang,
            hang_seconds=args.hang_seconds,
            rate_bulk_item_error=args.fault_rate_bulk_item_error,
            seed=args.fault_seed,
        ),
    )
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    with start_simulator(catalog, config) as sim:
        print(sim.url, flush=True)
        print(
            f"serving {len(catalog)} rows ({len(catalog.keys)} keys, seed {args.seed}, {args.generation}); "
            "stats at /_sim/stats; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
