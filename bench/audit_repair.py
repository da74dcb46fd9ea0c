"""The audit and `apply --repair` on a simulated catalog, checked against the simulator's truth.

Starts a throwaway PostgreSQL and the LML simulator (in this process, on a catalog generated
with `filled_share`, so a share of the rows already hold a value of a known kind: the right
cover, a label logo, an artist photo, another album's or artist's cover, an unusable URL), and
runs the real CLI (`python -m artwork_backfill`, one process per command):

  1. `audit --no-lookup`: the verdicts from the URLs alone; LML must get no request at all;
  2. `resolve`, then `audit` (with lookups), then a second `audit`, which may ask only keys
     the first left without a final answer (the verdicts shown "with lookup" are the second
     audit's: the one `apply --repair` plans from);
  3. `apply --repair --execute`: per kind, the rows repaired, to the right cover or not (must
     be 0), NULLs written (must be 0), ok / unverified rows and backfill rows touched (0);
  4. `undo` of that run: every old value back?
  5. on a fresh database and cache: `resolve` and `audit` again, then `apply --repair
     --clear-wrong --execute`: rows cleared per kind, each of them a wrong value without a
     replacement (a wrong value offered a `review` replacement is kept); then `undo`.

Printed: a markdown table to paste into the README, the checks, and the command line used.

    uv run --extra demo python bench/audit_repair.py                 # 6,000 rows
    uv run --extra demo python bench/audit_repair.py --rows 2000 --seed 3
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from artwork_backfill.cache.store import Cache
from artwork_backfill.config import DEFAULT_PARK_AFTER_RUNS
from artwork_backfill.demo.pgembed import EmbeddedPostgres, load_schema
from artwork_backfill.demo.simulator import SimulatorConfig, generate_catalog, start_simulator
from artwork_backfill.demo.simulator.catalog import FILLED_KINDS, Catalog
from artwork_backfill.review.matches import audit_rows

RATE = ["--rate-per-min", "60000"]  # the simulator takes it; the bench is about what is written
VERDICTS = ("ok", "wrong", "unverified")


def cli(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run one `artwork-backfill ... --json` command; its JSON (a failure stops the bench)."""
    done = subprocess.run(
        [sys.executable, "-m", "artwork_backfill", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0 or "Traceback" in done.stderr:
        raise SystemExit(f"`{' '.join(args)}` failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)


def library(dsn: str) -> dict[int, str | None]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("SELECT id, artwork_url FROM wxyc_schema.library").fetchall())


def audit_table(cache: Path) -> list[dict[str, Any]]:
    with Cache(cache, read_only=True) as c:
        return list(audit_rows(c).iter_rows(named=True))


def kind_of(catalog: Catalog, library_id: int) -> str:
    return catalog.row(library_id).artwork_kind or "right"


def pending_keys(cache: Path) -> set[str]:
    """The audit snapshot's keys without a final answer: what another audit may ask again."""
    with Cache(cache, read_only=True) as c:
        keys = c.keys_to_ask(
            single_followup=True, park_after_runs=DEFAULT_PARK_AFTER_RUNS, snapshot="audit_rows"
        )
    return {k.key_id for k in keys}


def api_requests(stats: Any) -> int:
    """HTTP requests to LML's API (not the simulator's own /_sim endpoints)."""
    return sum(n for endpoint, n in stats.requests.items() if endpoint != "sim")


def verdicts_by_kind(catalog: Catalog, table: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {k: Counter() for k in FILLED_KINDS}
    for r in table:
        out[kind_of(catalog, r["library_id"])][r["audit"]] += 1
    return out


def fresh_db(pg: EmbeddedPostgres, name: str, catalog: Catalog) -> str:
    dsn = pg.create_database(name)
    with psycopg.connect(dsn) as conn:
        load_schema(conn)
        catalog.load_into_postgres(conn)
    return dsn


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--filled-share", type=float, default=0.25)
    args = ap.parse_args()
    command = (
        "python3 -m uv run --locked --extra demo python bench/audit_repair.py "
        f"--rows {args.rows} --seed {args.seed} --filled-share {args.filled_share:g}"
    )

    t0 = time.perf_counter()
    catalog = generate_catalog(args.rows, seed=args.seed, filled_share=args.filled_share)
    truth_filled = {
        r.library_id for r in catalog.rows if r.artwork_url and not r.discogs_unavailable
    }
    work = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    pg = EmbeddedPostgres.start()
    sim = start_simulator(catalog, SimulatorConfig(latency_ms=1, jitter_ms=0))
    base_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "LML_", "LIBRARY_METADATA", "DATABASE_URL"))
    }
    checks: list[tuple[str, bool, str]] = []

    def check(name: str, passed: bool, detail: str = "") -> None:
        checks.append((name, passed, detail))

    try:
        dsn = fresh_db(pg, "bench", catalog)
        cache = work / "audit.duckdb"
        env = {
            **base_env,
            **pg.env("bench"),
            "WXYC_SCHEMA_NAME": "wxyc_schema",
            "LIBRARY_METADATA_URL": sim.url,
            "ARTWORK_BACKFILL_CACHE": str(cache),
        }

        # 1. the audit from the URLs alone
        sim.reset_stats()
        offline = cli(["audit", "--no-lookup"], env)
        offline_requests = api_requests(sim.stats())
        offline_table = audit_table(cache)
        no_lookup = verdicts_by_kind(catalog, offline_table)
        audited_ids = {r["library_id"] for r in offline_table}
        check(
            "audit --no-lookup sends LML no request",
            offline_requests == 0 and offline["requests"] == 0,
            f"{offline_requests} HTTP requests (CLI counts {offline['requests']})",
        )
        check(
            "the audit snapshot is every filled row",
            audited_ids == truth_filled,
            f"{len(audited_ids)} audited, {len(truth_filled)} filled",
        )

        # 2. resolve, audit with lookups, and a second audit
        resolved = cli(["resolve", *RATE], env)
        sim.reset_stats()
        first = cli(["audit", *RATE], env)
        first_requests = api_requests(sim.stats())
        first_table = {r["library_id"]: r["audit"] for r in audit_table(cache)}
        pending = {catalog.aliases.get(k, k) for k in pending_keys(cache)}
        sim.reset_stats()
        second = cli(["audit", *RATE], env)
        stats = sim.stats()
        second_requests = api_requests(stats)
        asked_again = set(stats.asks_single) | set(stats.asks_bulk)
        table = audit_table(cache)
        with_lookup = verdicts_by_kind(catalog, table)
        changed_verdicts = sum(1 for r in table if first_table.get(r["library_id"]) != r["audit"])
        check(
            "a second audit asks only keys still pending",
            asked_again <= pending,
            f"{second_requests} requests for {len(asked_again)} keys; {len(pending)} pending; "
            f"{len(asked_again - pending)} asked that had a final answer",
        )

        # 3. the repair
        audit_of = {r["library_id"]: r for r in table}
        before = library(dsn)
        repair = cli(["apply", "--repair", "--execute"], env)
        after = library(dsn)
        repaired: Counter[str] = Counter()
        to_right: Counter[str] = Counter()
        to_wrong: Counter[str] = Counter()
        nulls: Counter[str] = Counter()
        ok_touched: Counter[str] = Counter()
        unverified_touched: Counter[str] = Counter()
        backfill_touched = 0
        for lid, old in before.items():
            new = after[lid]
            if new == old:
                continue
            if lid not in audit_of:
                backfill_touched += 1
                continue
            kind = kind_of(catalog, lid)
            verdict = audit_of[lid]["audit"]
            if verdict == "ok":
                ok_touched[kind] += 1
            elif verdict == "unverified":
                unverified_touched[kind] += 1
            if new is None:
                nulls[kind] += 1
                continue
            repaired[kind] += 1
            if catalog.is_correct_cover(lid, new):
                to_right[kind] += 1
            else:
                to_wrong[kind] += 1
        check(
            "apply --repair counts what it wrote",
            repair["repaired"] == sum(repaired.values()) + sum(nulls.values()),
            f"CLI {repair['repaired']}, database {sum(repaired.values()) + sum(nulls.values())}",
        )
        check("no repair writes a wrong cover", sum(to_wrong.values()) == 0)
        check("no repair writes NULL", sum(nulls.values()) == 0)
        check(
            "no ok or unverified row is touched",
            sum(ok_touched.values()) + sum(unverified_touched.values()) == 0,
            f"ok {sum(ok_touched.values())}, unverified {sum(unverified_touched.values())}",
        )
        check("no backfill row is touched by a repair", backfill_touched == 0)

        # 4. undo
        undo = cli(["undo", repair["run_id"], "--execute"], env)
        restored = library(dsn) == before
        check(
            "undo restores every old value",
            restored and undo["reverted"] == repair["repaired"],
            f"reverted {undo['reverted']} of {repair['repaired']}, "
            f"restored_previous {undo['restored_previous']}",
        )

        # 5. --clear-wrong on a fresh database and cache
        dsn2 = fresh_db(pg, "bench_clear", catalog)
        cache2 = work / "clear.duckdb"
        env2 = {**env, **pg.env("bench_clear"), "ARTWORK_BACKFILL_CACHE": str(cache2)}
        sim.reset_stats(scenario_state=True)  # flaky keys fail again, as in the first pass
        cli(["resolve", *RATE], env2)
        cli(["audit", *RATE], env2)
        clear_table = {r["library_id"]: r for r in audit_table(cache2)}
        before2 = library(dsn2)
        cleared_run = cli(["apply", "--repair", "--clear-wrong", "--execute"], env2)
        after2 = library(dsn2)
        cleared: Counter[str] = Counter()
        repaired2 = 0
        bad_clears: list[int] = []
        for lid, old in before2.items():
            if after2[lid] == old:
                continue
            r = clear_table.get(lid)
            if after2[lid] is not None:
                repaired2 += 1
                continue
            cleared[kind_of(catalog, lid)] += 1
            if r is None or r["audit"] != "wrong" or r["artwork_url"]:
                bad_clears.append(lid)
        wrong_without = sum(
            1 for r in clear_table.values() if r["audit"] == "wrong" and not r["artwork_url"]
        )
        check(
            "--clear-wrong clears only wrong values without a replacement, and all of them",
            not bad_clears and sum(cleared.values()) == wrong_without,
            f"cleared {sum(cleared.values())}, wrong without a replacement {wrong_without}, "
            f"cleared otherwise {len(bad_clears)}",
        )
        kept_for_review = sum(
            1 for r in clear_table.values() if r["audit"] == "wrong" and r["band"] == "review"
        )
        undo2 = cli(["undo", cleared_run["run_id"], "--execute"], env2)
        restored2 = library(dsn2) == before2
        check(
            "undo of the --clear-wrong run restores every old value",
            restored2,
            f"reverted {undo2['reverted']} of {cleared_run['repaired']}",
        )
    finally:
        sim.stop()
        pg.stop()
    elapsed = time.perf_counter() - t0

    def trio(c: Counter[str]) -> str:
        return " / ".join(str(c.get(v, 0)) for v in VERDICTS)

    def total(per_kind: dict[str, Counter[str]]) -> Counter[str]:
        out: Counter[str] = Counter()
        for c in per_kind.values():
            out.update(c)
        return out

    print(
        f"{args.rows:,} rows (seed {args.seed}, filled_share {args.filled_share:g}): "
        f"{len(truth_filled):,} filled rows audited, {resolved['keys']:,} backfill keys resolved"
    )
    print()
    print(
        "| filled kind | rows | no lookup ok / wrong / unverified | with lookup ok / wrong / "
        "unverified | repaired | to the right cover | to a wrong cover | NULLs written | "
        "ok rows touched | cleared (--clear-wrong) |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")

    def n(c: Counter[str], kind: str) -> int:
        return sum(c.values()) if kind == "all" else c.get(kind, 0)

    for kind in [*FILLED_KINDS, "all"]:
        nl = total(no_lookup) if kind == "all" else no_lookup[kind]
        wl = total(with_lookup) if kind == "all" else with_lookup[kind]
        cells = [
            "**all**" if kind == "all" else kind,
            str(sum(nl.values())),
            trio(nl),
            trio(wl),
            *(str(n(c, kind)) for c in (repaired, to_right, to_wrong, nulls, ok_touched, cleared)),
        ]
        print("| " + " | ".join(cells) + " |")
    print()
    print(
        f"LML requests: audit --no-lookup {offline_requests}; first audit {first_requests} "
        f"({first['asked']} keys asked); second audit {second_requests} "
        f"({len(asked_again)} keys asked: the first audit left {len(pending)} pending, "
        f"{len(asked_again - pending)} asked had a final answer); "
        f"verdicts changed by the second audit: {changed_verdicts}"
    )
    print(
        f"repair: {repair['repaired']} repaired, {repair['left_wrong']} wrong values without "
        f"a replacement kept, {repair['kept_changed']} changed since the audit; "
        f"replacements offered: high {second['replacements']['high']}, "
        f"review {second['replacements']['review']}"
    )
    print(
        f"undo: {undo['reverted']} reverted ({undo['restored_previous']} to the old cover); "
        f"every old value restored: {'yes' if restored else 'NO'}"
    )
    print(
        f"--clear-wrong (fresh database): {sum(cleared.values())} cleared, {repaired2} repaired "
        f"in the same run, {kept_for_review} wrong values offered a review replacement kept; "
        f"undo restored every value: {'yes' if restored2 else 'NO'}"
    )
    print()
    for name, passed, detail in checks:
        print(f"  [{'ok' if passed else 'FAIL'}] {name}" + (f" ({detail})" if detail else ""))
    print()
    print(f"command: {command}")
    print(f"as run: {shlex.join([Path(sys.executable).name, *sys.argv])} ({elapsed:.0f} s)")
    if not all(passed for _, passed, _ in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
