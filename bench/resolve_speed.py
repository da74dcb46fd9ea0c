"""Resolve benchmarks, measured side by side in one run.

Starts a throwaway PostgreSQL and the LML simulator (in a separate process, so its CPU is not
counted as ours), loads a generated catalog, and measures:

  A. throughput with no rate cap (latency ~20 ms, server in-flight cap 8):
     ours (bulk + single follow-ups, and single-only) vs the bound latency and cap allow,
     vs WXYC's method (one sequential request per row, no dedupe, no bulk);
  B. pacing: requests per minute achieved vs --rate-per-min (server-side arrival times);
  C. resolve overhead: CPU seconds per 1,000 answers spent in this process;
  D. requests per distinct key, and keys re-asked after a kill -9 of a real `resolve`.

    uv run python bench/resolve_speed.py                # 20K-row catalog (a few minutes)
    uv run python bench/resolve_speed.py --rows 2000    # quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from artwork_backfill.cache.store import Cache
from artwork_backfill.config import lml_settings
from artwork_backfill.demo.pgembed import EmbeddedPostgres, load_schema
from artwork_backfill.demo.simulator import generate_catalog
from artwork_backfill.resolve.run import run_resolve


def start_sim(rows: int, seed: int, latency_ms: int, cap: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "artwork_backfill.demo.simulator",
            "--rows",
            str(rows),
            "--seed",
            str(seed),
            "--port",
            "0",
            "--latency-ms",
            str(latency_ms),
            "--jitter-ms",
            "0",
            "--inflight-cap",
            str(cap),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    return proc, url


def sim_stats(url: str) -> dict:
    return httpx.get(f"{url}/_sim/stats", timeout=30).json()


def sim_reset(url: str) -> None:
    httpx.post(f"{url}/_sim/reset", timeout=30)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--cap", type=int, default=8)
    ap.add_argument(
        "--wxyc-sample", type=int, default=1000, help="rows timed for WXYC's sequential method"
    )
    ap.add_argument("--pacing-rate", type=float, default=300.0)
    ap.add_argument("--pacing-seconds", type=float, default=30.0)
    args = ap.parse_args()

    catalog = generate_catalog(args.rows, seed=args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench-resolve-"))
    pg = EmbeddedPostgres.start()
    sim, url = start_sim(args.rows, args.seed, args.latency_ms, args.cap)
    results: dict[str, object] = {
        "rows": args.rows,
        "latency_ms": args.latency_ms,
        "server_cap": args.cap,
    }
    try:
        with psycopg.connect(pg.create_database("bench")) as conn:
            load_schema(conn)
            catalog.load_into_postgres(conn)
        db = pg.settings("bench")

        def resolve(name: str, **lml_kw: object) -> dict[str, float]:
            sim_reset(url)
            lml = lml_settings(base_url=url, api_key=None, **lml_kw)  # type: ignore[arg-type]
            with Cache(work / f"{name}.duckdb") as cache:
                c0, t0 = cpu(), time.perf_counter()
                r = run_resolve(cache, db, lml)
                wall, spent = time.perf_counter() - t0, cpu() - c0
            stats = sim_stats(url)
            return {
                "keys": r.keys,
                "candidates": r.candidates,
                "requests": r.requests,
                "answers": r.answers,
                "answer_transactions": r.answer_batches,
                "wall_s": wall,
                "keys_per_s": r.keys / wall,
                "cpu_s": spent,
                "server_max_in_flight": stats["max_in_flight"],
            }

        # A. no rate cap
        # max_attempts=1: transient keys are not retried here, so their backoff waits do not
        # count as throughput (a real run retries them; that is a wait, not work)
        bulk = resolve("bulk", rate_per_min=600_000, concurrency=args.cap, max_attempts=1)
        single = resolve(
            "single", rate_per_min=600_000, concurrency=args.cap, use_bulk=False, max_attempts=1
        )
        bound = args.cap / (args.latency_ms / 1000)  # single lookups/s the server's cap allows
        # WXYC's method: every candidate row, one request each, sequentially, no dedupe, no bulk
        rows = [
            r
            for r in catalog.rows
            if r.artwork_url is None and not r.discogs_unavailable and not r.is_blank
        ]
        sample = rows[: args.wxyc_sample]
        sim_reset(url)
        with httpx.Client(base_url=url, timeout=30) as client:
            t0 = time.perf_counter()
            for r in sample:
                client.post(
                    "/api/v1/lookup",
                    json={
                        "artist": r.artist_name,
                        "album": r.album_title,
                        "raw_message": f"{r.artist_name} - {r.album_title}",
                    },
                )
            per_row = (time.perf_counter() - t0) / len(sample)
        wxyc_total_s = per_row * len(rows)
        results["A_throughput"] = {
            "bulk": bulk,
            "single": single,
            "single_bound_keys_per_s": bound,
            "single_vs_bound": single["keys_per_s"] / bound,
            "wxyc_sequential_rows_per_s": 1 / per_row,
            "wxyc_estimated_total_s": wxyc_total_s,
            "speedup_bulk_vs_wxyc": wxyc_total_s / bulk["wall_s"],
            "speedup_single_vs_wxyc": wxyc_total_s / single["wall_s"],
            "requests_per_key_bulk": bulk["requests"] / bulk["keys"],
            "requests_per_key_single": single["requests"] / single["keys"],
            "requests_per_row_wxyc": 1.0,
        }
        # C. overhead (this process only; the simulator runs in its own)
        results["C_cpu_s_per_1000_answers"] = {
            "bulk": bulk["cpu_s"] / bulk["answers"] * 1000,
            "single": single["cpu_s"] / single["answers"] * 1000,
        }

        # B. pacing at a configured rate, measured from the server's arrival times
        sim_reset(url)
        n = int(args.pacing_rate * args.pacing_seconds / 60)
        lml = lml_settings(
            base_url=url,
            api_key=None,
            rate_per_min=args.pacing_rate,
            concurrency=4,
            use_bulk=False,
            max_attempts=1,
        )
        with Cache(work / "pacing.duckdb") as cache:
            run_resolve(cache, db, lml, limit=n)
        arrivals = sorted(t for t, ep in sim_stats(url)["arrivals"] if ep == "lookup")
        achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) * 60
        worst_window = max(
            sum(1 for t in arrivals[i:] if t < s + 60.0) for i, s in enumerate(arrivals)
        )
        results["B_pacing"] = {
            "configured_per_min": args.pacing_rate,
            "requests": len(arrivals),
            "achieved_per_min": achieved,
            "achieved_vs_configured": achieved / args.pacing_rate,
            "most_in_any_60s_window": worst_window,
        }

        # D. kill -9 in the middle of a real resolve, then resume
        sim_reset(url)
        env = {
            **os.environ,
            **pg.env("bench"),
            "LIBRARY_METADATA_URL": url,
            "ARTWORK_BACKFILL_CACHE": str(work / "kill.duckdb"),
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "artwork_backfill",
                "resolve",
                "--no-bulk",
                "--rate-per-min",
                "3000",
                "--concurrency",
                "4",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while sim_stats(url)["requests"].get("lookup", 0) < 200:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = sim_stats(url)["asks_single"]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "artwork_backfill",
                "resolve",
                "--json",
                "--no-bulk",
                "--rate-per-min",
                "60000",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        after = sim_stats(url)["asks_single"]
        transient = {"timeout", "flaky_timeout", "degraded_deadline"}
        re_asked = [
            k
            for k in before
            if after.get(k, 0) > before[k] and catalog.keys[k].scenario not in transient
        ]
        results["D_kill9"] = {
            "asked_before_kill": len(before),
            "finished_keys_re_asked": len(re_asked),
            "resume": json.loads(done.stdout),
        }
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=10)
        pg.stop()
    print(
        json.dumps(
            results, indent=2, default=lambda x: round(x, 4) if isinstance(x, float) else str(x)
        )
    )


if __name__ == "__main__":
    main()
