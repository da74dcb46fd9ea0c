"""`artwork-backfill report`: score the cache, count, sample, export, and check decisions."""

from __future__ import annotations

import json
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from artwork_backfill.cli.options import (
    GlobalOptions,
    JsonFlag,
    ThresholdOption,
    emit_json,
    parse_thresholds,
    stdout,
)
from artwork_backfill.config import DEFAULT_PARK_AFTER_RUNS
from artwork_backfill.errors import ExitStatus

if TYPE_CHECKING:
    from artwork_backfill.cache.store import Cache
    from artwork_backfill.review.decisions import Decisions
    from artwork_backfill.review.report import ReportStats

_BAR_WIDTH = 40


def report(
    ctx: typer.Context,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Write every row's verdict for review (.csv or .parquet).",
            show_default=False,
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", help="Write a self-contained review page (.html).", show_default=False
        ),
    ] = None,
    sample: Annotated[
        int, typer.Option("--sample", min=0, help="Example rows shown per band.")
    ] = 5,
    decisions: Annotated[
        Path | None,
        typer.Option(
            "--decisions",
            help="Check a filled-in export (.csv or .parquet) against the cache.",
            show_default=False,
        ),
    ] = None,
    threshold: ThresholdOption = None,
    as_json: JsonFlag = False,
) -> int:
    """Score every cached answer into bands and show what they add up to (reads the cache only).

    Bands: high (safe to write), review (a person must look), reject, no_match, pending.
    """
    from artwork_backfill.cache.store import Cache
    from artwork_backfill.review.decisions import read_decisions
    from artwork_backfill.review.report import build_report, export_matches, write_html

    opts: GlobalOptions = ctx.obj
    thresholds = parse_thresholds(threshold)

    with Cache(opts.cache, read_only=True) as cache:
        table, stats = build_report(cache, thresholds, sample=sample)
        parked = _parked(cache)
        live = cache.live
        runs = _write_runs(cache)

    checked = read_decisions(decisions, table) if decisions is not None else None
    written: dict[str, str] = {}
    if export is not None:
        export_matches(table, export)
        written["export"] = str(export)
    if html is not None:
        write_html(table, stats, html)
        written["html"] = str(html)

    if as_json:
        data = stats.to_json()
        data["files"] = written
        data["parked"] = parked
        data["live"] = live  # read from a running resolve's published copy
        data["runs"] = runs
        if checked is not None:
            data["decisions"] = checked.to_json()
        emit_json(data)
        return ExitStatus.OK

    if live:
        stdout.print(
            "resolve is running: this report reads the answers it has published so far "
            "(refreshed every few seconds); run it again to see more",
            markup=False,
        )
    _render(stats, sample)
    if parked["count"]:
        stdout.print(
            f"\nparked: {parked['count']} keys were asked in {parked['park_after_runs']} runs "
            "without a final answer and are not asked again until `resolve --retry-parked`: "
            + ", ".join(f"{r} {n}" for r, n in parked["reasons"].items()),
            markup=False,
        )
    if checked is not None:
        _render_decisions(checked)
    for kind, path in written.items():
        what = "review page" if kind == "html" else "export"
        stdout.print(f"wrote {what} ({table.height} rows) to {path}", markup=False)
    return ExitStatus.OK


def _parked(cache: Cache) -> dict[str, Any]:
    """Keys parked by resolve (asked in `--park-after-runs` completed runs without a final
    answer), by the latest answer's reason, with the setting of the newest resolve run."""
    runs = cache.runs("resolve")
    park_after_runs = DEFAULT_PARK_AFTER_RUNS
    if runs.height:
        with suppress(ValueError, TypeError):
            setting = json.loads(runs["settings"][-1] or "{}").get("park_after_runs")
            park_after_runs = int(setting) if setting else park_after_runs
    keys = cache.parked(park_after_runs)
    reasons: dict[str, int] = {}
    for reason in keys["reason"].to_list():
        reasons[str(reason)] = reasons.get(str(reason), 0) + 1
    return {
        "count": keys.height,
        "park_after_runs": park_after_runs,
        "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def _write_runs(cache: Cache) -> list[dict[str, Any]]:
    """The apply and undo runs (status, counts, thresholds, decisions hash): `apply.history`."""
    from artwork_backfill.apply.history import run_history

    return run_history(cache)


def _render(stats: ReportStats, sample: int) -> None:
    from artwork_backfill.judge.reasons import REASONS
    from artwork_backfill.review.report import BANDS, NO_VALUE, SCORED_BANDS

    bands = Table(
        title=f"{stats.candidates} candidate rows, {stats.keys} keys", title_justify="left"
    )
    bands.add_column("band")
    bands.add_column("rows", justify="right")
    bands.add_column("keys", justify="right")
    bands.add_column("share of rows", justify="right")
    for band in BANDS:
        rows = stats.bands.get(band, 0)
        share = f"{rows / stats.candidates:.1%}" if stats.candidates else NO_VALUE
        bands.add_row(band, str(rows), str(stats.bands_keys.get(band, 0)), share)
    stdout.print(bands)

    peak = max((b.rows for b in stats.histogram), default=0)
    stdout.print("\nscore histogram (high, review and reject rows)")
    for b in stats.histogram:
        width = round(b.rows / peak * _BAR_WIDTH) if peak else 0
        bar = "█" * width if width or not b.rows else "▏"
        stdout.print(f"  {b.low:5.0f}–{b.high:<4.0f} {bar} {b.rows}", markup=False)

    if stats.reasons:
        reasons = Table(title="\nreasons", title_justify="left")
        reasons.add_column("code")
        reasons.add_column("rows", justify="right")
        reasons.add_column("keys", justify="right")
        reasons.add_column("meaning")
        for code, count in stats.reasons.items():
            reasons.add_row(
                Text(code),
                str(count),
                str(stats.reasons_keys.get(code, 0)),
                Text(REASONS.get(code, "")),
            )
        stdout.print(reasons)

    types = Table(title="\nsearch_type of the answers", title_justify="left")
    types.add_column("search_type")
    types.add_column("keys", justify="right")
    types.add_column("rows", justify="right")
    for name, count in stats.search_types.items():
        types.add_row(Text(name), str(count), str(stats.search_types_rows.get(name, 0)))
    stdout.print(types)

    if stats.pending_keys:
        stdout.print(
            f"\npending: {stats.pending_keys} keys ({stats.pending_rows} rows): "
            f"{stats.not_asked_keys} not asked, {stats.transient_keys} transient, {stats.error_keys} error",
            markup=False,
        )
        for reason, count in stats.pending_reasons.items():
            stdout.print(f"  {reason}: {count} keys", markup=False)
        stdout.print("Re-run `artwork-backfill resolve` to ask about them again.", markup=False)

    if sample:
        for band in BANDS:
            picked = stats.samples.get(band) or []
            if not picked:
                continue
            table = Table(
                title=f"\n{band}: {len(picked)} of {stats.bands.get(band, 0)} rows",
                title_justify="left",
            )
            table.add_column("id", justify="right")
            table.add_column("on the shelf")
            table.add_column("LML matched")
            table.add_column("score", justify="right")
            table.add_column("reasons")
            for r in picked:
                matched = (
                    f"{r.matched_artist or NO_VALUE}\n{r.matched_album or NO_VALUE}"
                    if r.matched_artist or r.matched_album
                    else NO_VALUE
                )
                table.add_row(
                    str(r.library_id),
                    Text(f"{r.artist_name}\n{r.album_title}"),
                    Text(matched),
                    f"{r.score:.1f}" if band in SCORED_BANDS else NO_VALUE,
                    Text("\n".join(r.reasons) or NO_VALUE),
                )
            stdout.print(table)


def _render_decisions(checked: Decisions) -> None:
    def by_band(counts: dict[str, int]) -> str:
        return ", ".join(f"{band} {n}" for band, n in sorted(counts.items())) or "none"

    stdout.print(f"\ndecisions {checked.path}: valid for the current cache", markup=False)
    stdout.print(
        f"  accepted:  {len(checked.accepted)} ({by_band(checked.accepted_by_band)})", markup=False
    )
    stdout.print(
        f"  rejected:  {len(checked.rejected)} ({by_band(checked.rejected_by_band)})", markup=False
    )
    stdout.print(f"  unchanged: {checked.unchanged} (no decision)", markup=False)
    if checked.unknown_undecided:
        stdout.print(
            f"  ignored:   {checked.unknown_undecided} undecided rows no longer in the candidate snapshot",
            markup=False,
        )
