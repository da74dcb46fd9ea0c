"""Resolve with a progress bar on stderr: shared by `resolve` and `demo`."""

from __future__ import annotations

import time

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from artwork_backfill.cache.store import Cache
from artwork_backfill.cli.options import stderr
from artwork_backfill.config import DbSettings, LmlSettings
from artwork_backfill.resolve.run import ResolveResult, run_resolve

BAND_ORDER = ("high", "review", "reject", "no_match", "pending")


def found_so_far(bands: dict[str, int]) -> str:
    """Rows per band of the keys finished so far: `high 120 review 14 no_match 30`."""
    return " ".join(f"{b} {bands[b]}" for b in BAND_ORDER if bands.get(b))


def resolve_with_progress(
    cache: Cache,
    db: DbSettings,
    lml: LmlSettings,
    *,
    only_discogs_artists: bool = False,
    limit: int | None = None,
    recheck_no_match_days: float | None = None,
    park_after_runs: int | None = None,
    retry_parked: bool = False,
    audit: bool = False,
    lookup: bool = True,
) -> ResolveResult:
    """Run resolve with a progress bar (keys done, requests, rate, ETA) on stderr."""
    progress = Progress(
        TextColumn("[bold]audit" if audit else "[bold]resolve"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("keys"),
        TextColumn("{task.fields[requests]} req"),
        TextColumn("{task.fields[rate]}/min"),
        TextColumn("{task.fields[found]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr,
        transient=False,
    )
    task_id = None
    started = time.monotonic()

    def on_start(candidates: int, keys: int, to_ask: int) -> None:
        nonlocal task_id
        stderr.print(
            f"{candidates} candidate rows, {keys} distinct keys, {to_ask} to ask "
            f"(LML {lml.display}, {lml.rate_per_min:g}/min, {lml.concurrency} in flight)"
        )
        task_id = progress.add_task("resolve", total=to_ask, requests=0, rate="0", found="")
        progress.start()

    def on_progress(done: int, total: int, requests: int, bands: dict[str, int]) -> None:
        if task_id is not None:
            elapsed = max(time.monotonic() - started, 1e-6)
            progress.update(
                task_id,
                completed=done,
                requests=requests,
                rate=f"{requests / elapsed * 60:.1f}",
                found=found_so_far(bands),
            )

    try:
        return run_resolve(
            cache,
            db,
            lml,
            only_discogs_artists=only_discogs_artists,
            limit=limit,
            recheck_no_match_days=recheck_no_match_days,
            park_after_runs=park_after_runs,
            retry_parked=retry_parked,
            audit=audit,
            lookup=lookup,
            progress=on_progress,
            on_start=on_start,
        )
    finally:
        progress.stop()
