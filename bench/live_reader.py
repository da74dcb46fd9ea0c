"""What watching a run costs `resolve`: side by side in one run, on one catalog.

  off     resolve with publishing turned off (ARTWORK_BACKFILL_LIVE_PUBLISH_S=0), no reader
  on      resolve publishing its answers every --every seconds (the default is 10 s), no reader
  reader  the same, with another process running `report --json` in a loop on the live copy

Each mode runs --reps times, interleaved; resolve runs single lookups with no rate cap against
the simulator (so it writes as often as it can: the worst case for publishing). Printed: keys
per second per mode and the ratios to `off`, and the writer time spent publishing.

    uv run python bench/live_reader.py                 # 3,000 rows
    uv run python bench/live_reader.py --rows 1000 --reps 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from artwork_backfill.cache.store import Cache
from artwork_backfill.config import lml_settings
from artwork_backfill.demo.pgembed import EmbeddedPostgres, load_schema
from artwork_backfill.demo.simulator import generate_catalog
from artwork_backfill.resolve.run import run_resolve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from resolve_speed import sim_reset, start_sim


def reader_loop(cache: Path, stop: threading.Event, counts: list[int]) -> None:
    """Run `report --json` on the live copy until told to stop; count the reports that read it."""
    while not stop.is_set():
        done = subprocess.run(
            [sys.executable, "-m", "artwork_backfill", "--cache", str(cache), "report", "--json",
             "--sample", "0"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if done.returncode == 0 and json.loads(done.stdout).get("live"):
            counts.append(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--every", type=float, default=1.0, help="publish interval for on/reader")
    args = ap.parse_args()

    catalog = generate_catalog(args.rows, seed=args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench-live-"))
    pg = EmbeddedPostgres.start()
    sim, url = start_sim(args.rows, args.seed, 5, 8)
    per_mode: dict[str, list[float]] = {"off": [], "on": [], "reader": []}
    publish: dict[str, list[tuple[int, float]]] = {"on": [], "reader": []}
    reports: list[int] = []
    try:
        with psycopg.connect(pg.create_database("bench")) as conn:
            load_schema(conn)
            catalog.load_into_postgres(conn)
        db = pg.settings("bench")
        for rep in range(args.reps):
            for mode in ("off", "on", "reader"):
                sim_reset(url)
                os.environ["ARTWORK_BACKFILL_LIVE_PUBLISH_S"] = (
                    "0" if mode == "off" else str(args.every)
                )
                path = work / f"{mode}-{rep}.duckdb"
                lml = lml_settings(base_url=url, api_key=None, rate_per_min=600_000, concurrency=8,
                                   use_bulk=False, max_attempts=1)  # fmt: skip
                stop, counts = threading.Event(), []
                reader = threading.Thread(target=reader_loop, args=(path, stop, counts))
                with Cache(path) as cache:
                    if mode == "reader":
                        reader.start()
                    t0 = time.perf_counter()
                    result = run_resolve(cache, db, lml)
                    wall = time.perf_counter() - t0
                stop.set()
                if mode == "reader":
                    reader.join()
                    reports.append(len(counts))
                per_mode[mode].append(result.keys / wall)
                if mode != "off":
                    publish[mode].append((result.live_publishes, result.live_publish_s / wall))
        base = statistics.median(per_mode["off"])
        print(f"{args.rows} rows, {args.reps} runs per mode, publishing every {args.every:g} s")
        for mode, rates in per_mode.items():
            line = f"  {mode:7} {statistics.median(rates):8.1f} keys/s   ratio to off {statistics.median(rates) / base:.3f}"
            if mode in publish:
                pubs = statistics.median(p for p, _ in publish[mode])
                share = statistics.median(s for _, s in publish[mode])
                line += f"   {pubs:.0f} publishes, {share:.1%} of the run spent publishing"
            print(line)
        print(f"  reports that read the live copy while resolve ran: {reports}")
    finally:
        sim.terminate()
        pg.stop()


if __name__ == "__main__":
    main()
