"""`artwork-backfill demo`: the whole flow on embedded defaults, nothing to configure.

A throwaway PostgreSQL with WXYC's schema and a generated catalog, the LML simulator on
127.0.0.1, then resolve -> report -> apply --execute, and a check of every written cover
against the simulator's ground truth. Everything started here is stopped on the way out,
Ctrl-C included, unless --keep asks to leave it up until Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import psycopg
from rich.console import Console
from rich.table import Table

from artwork_backfill.apply.plan import plan_apply
from artwork_backfill.apply.run import run_apply
from artwork_backfill.apply.settings import ApplySettings
from artwork_backfill.cache.store import Cache, new_run_id
from artwork_backfill.config import lml_settings
from artwork_backfill.demo.pgembed import EmbeddedPostgres, load_schema
from artwork_backfill.demo.simulator import SimulatorConfig, generate_catalog, start_simulator
from artwork_backfill.errors import UserError
from artwork_backfill.logs import RunLog
from artwork_backfill.resolve.run import ResolveResult
from artwork_backfill.review.report import build_report, export_matches, write_html

DEMO_DB = "wxyc"


@dataclass
class DemoResult:
    rows: int
    candidates: int
    keys: int
    requests: int
    bands: dict[str, int]
    applied: int
    wrong_covers: int
    workdir: Path


# What the demo writes in its workdir, and the manifest naming what it made there.
DEMO_FILES = (
    "backfill.duckdb",
    "backfill.duckdb.wal",
    "review.html",
    "matches.csv",
    "apply.log",
    "demo.env",
)
MANIFEST = ".artwork-backfill-demo"


def claim_workdir(workdir: Path) -> None:
    """Make sure the demo only ever replaces files it made itself.

    A file the demo writes that is already there and is not listed in the workdir's manifest
    (a real cache and its journal, an export someone kept) stops the demo with one line naming
    it; nothing is touched. Otherwise the manifest lists every file of this run, so the next
    demo run may replace them.
    """
    manifest = workdir / MANIFEST
    made = set(manifest.read_text().split()) if manifest.is_file() else set()
    foreign = [name for name in DEMO_FILES if (workdir / name).exists() and name not in made]
    if foreign:
        raise UserError(
            f"--workdir {workdir} already holds {', '.join(foreign)}, which the demo did not "
            "make: it replaces nothing it did not create. Pass another --workdir (or move the "
            "files away yourself)"
        )
    manifest.write_text("".join(f"{name}\n" for name in DEMO_FILES))


def run_demo(
    *,
    rows: int,
    seed: int,
    workdir: Path,
    rate_per_min: float,
    keep: bool,
    console: Console,
    resolve_step: Callable[..., ResolveResult],
) -> DemoResult:
    """Run the flow; `resolve_step` is the CLI's resolve-with-progress (same code as `resolve`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cache_path = workdir / "backfill.duckdb"
    claim_workdir(workdir)
    for stale in (cache_path, cache_path.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)  # the demo's own, from its last run (claim_workdir)

    console.rule("[bold]artwork-backfill demo")
    console.print("Everything runs on this machine: a throwaway PostgreSQL and a simulated LML.\n")
    pg = EmbeddedPostgres.start()
    sim = None
    try:
        dsn = pg.create_database(DEMO_DB)
        console.print(f"[bold]1[/] PostgreSQL on 127.0.0.1:{pg.port} ({pg.bin_dir})")
        catalog = generate_catalog(rows, seed=seed)
        with psycopg.connect(dsn) as conn:
            load_schema(conn)
            catalog.load_into_postgres(conn)
        console.print(
            f"[bold]2[/] loaded WXYC's schema and a generated catalog of {len(catalog)} library rows "
            f"({sum(1 for r in catalog.rows if r.artwork_url)} already have artwork, "
            f"{sum(1 for r in catalog.rows if r.discogs_unavailable)} are flagged not on Discogs)"
        )
        api_key = secrets.token_urlsafe(16)
        sim = start_simulator(
            catalog, SimulatorConfig(latency_ms=20, jitter_ms=10, inflight_cap=8, api_key=api_key)
        )
        console.print(
            f"[bold]3[/] LML simulator at {sim.url} (20 ms latency, 8 in flight, bearer auth, "
            "wrong-album traps, timeouts and degraded answers mixed in)"
        )
        db = pg.settings(DEMO_DB)
        lml = lml_settings(
            base_url=sim.url, api_key=api_key, rate_per_min=rate_per_min, concurrency=4
        )
        (workdir / "demo.env").write_text(
            "".join(f"export {k}={v}\n" for k, v in pg.env(DEMO_DB).items())
            + f"export LIBRARY_METADATA_URL={sim.url}\nexport LML_API_KEY={api_key}\n"
            + f"export ARTWORK_BACKFILL_CACHE={cache_path}\n"
        )
        os.chmod(workdir / "demo.env", 0o600)

        console.print(
            f"\n[bold]4[/] resolve: ask LML once per distinct (artist, album), at {rate_per_min:g} "
            "requests/min (production: 50 or less)"
        )
        with Cache(cache_path) as cache:
            resolved = resolve_step(cache, db, lml)
            console.print(
                f"   {resolved.candidates} candidate rows -> {resolved.keys} keys, "
                f"{resolved.requests} HTTP requests, {resolved.final} keys answered for good, "
                f"{resolved.transient} still transient (a re-run retries them)"
            )

            console.print(
                "\n[bold]5[/] report: score every cached answer (no network, no database)"
            )
            table, stats = build_report(cache, sample=4)
            html_path = workdir / "review.html"
            csv_path = workdir / "matches.csv"
            write_html(table, stats, html_path)
            export_matches(table, csv_path)
            bands = Table(show_header=True, header_style="bold")
            bands.add_column("band")
            bands.add_column("rows", justify="right")
            bands.add_column("keys", justify="right")
            bands.add_column("what happens")
            meaning = {
                "high": "written by apply",
                "review": "a person decides (review page)",
                "reject": "never written",
                "no_match": "LML has no usable cover",
                "pending": "transient: asked again next run",
            }
            for band, what in meaning.items():
                bands.add_row(
                    band, str(stats.bands.get(band, 0)), str(stats.bands_keys.get(band, 0)), what
                )
            console.print(bands)

            console.print(
                "\n[bold]6[/] apply --execute: COPY into a temp table + one guarded UPDATE per batch"
            )
            plan = plan_apply(table)
            log_path = workdir / "apply.log"
            with log_path.open("w") as log_file:
                log = RunLog(
                    tool="artwork-backfill apply",
                    run_id=new_run_id(),
                    fmt="json",
                    out=log_file,
                    err=log_file,
                )
                applied = run_apply(
                    cache, db, plan, execute=True, settings=ApplySettings(batch_size=500), log=log
                )
            journal = cache.journal(applied.run_id)
            wrong = [
                (lid, url)
                for lid, url in zip(
                    journal["library_id"].to_list(), journal["artwork_url"].to_list(), strict=True
                )
                if not catalog.is_correct_cover(lid, url)
            ]
            console.print(
                f"   applied {applied.applied} rows in {applied.batches} batches "
                f"(raced {applied.raced}, stale {applied.stale}); run id {applied.run_id}; "
                f"JSON log lines in {log_path}"
            )
            verdict = (
                "[green]0 wrong covers[/]" if not wrong else f"[red]{len(wrong)} WRONG covers[/]"
            )
            console.print(
                f"   checked against the simulator's ground truth: {len(journal)} covers written, {verdict}"
            )
            _print_samples(console, table)

        console.print("\n[bold]Where things are[/]")
        console.print(
            f"   review page   {html_path}  (open it in a browser: accept/reject, download decisions)"
        )
        console.print(f"   match table   {csv_path}")
        console.print(f"   cache         {cache_path}")
        console.print(
            f"   undo the writes: artwork-backfill --cache {cache_path} undo {applied.run_id} --execute "
            f"(with the settings in {workdir / 'demo.env'})"
        )
        if keep:
            console.print(
                f"\n[bold]--keep[/]: PostgreSQL and the simulator stay up until Ctrl-C. In another shell:\n"
                f"   . {workdir / 'demo.env'}   # connection settings (secrets stay in that file)\n"
                f"   artwork-backfill report\n"
                f'   psql "host=$DB_HOST port=$DB_PORT dbname=$DB_NAME user=$DB_USERNAME"  # PGPASSWORD=$DB_PASSWORD'
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                console.print("stopping")
        return DemoResult(
            rows=len(catalog),
            candidates=resolved.candidates,
            keys=resolved.keys,
            requests=resolved.requests,
            bands=dict(stats.bands),
            applied=applied.applied,
            wrong_covers=len(wrong),
            workdir=workdir,
        )
    finally:
        if sim is not None:
            sim.stop()
        pg.stop()
        console.print("[dim]stopped the demo's PostgreSQL and LML simulator[/]")


def _print_samples(console: Console, table: pl.DataFrame) -> None:
    """A few written and a few refused matches, shelf vs Discogs, with the reasons."""
    for band, title in (("high", "accepted (written)"), ("reject", "rejected (never written)")):
        rows = table.filter(table["band"] == band).head(4)
        if rows.height == 0:
            continue
        t = Table(title=title, show_lines=False, header_style="bold")
        for col in (
            "shelf artist",
            "shelf title",
            "matched artist",
            "matched album",
            "score",
            "reasons",
        ):
            t.add_column(col, overflow="fold")
        for r in rows.iter_rows(named=True):
            t.add_row(
                r["artist_name"],
                r["album_title"],
                r["matched_artist"] or "",
                r["matched_album"] or "",
                f"{r['score']:.0f}",
                (r["reasons"] or "").replace(";", " "),
            )
        console.print(t)
