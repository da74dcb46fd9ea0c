"""`artwork-backfill demo`: the whole flow against a throwaway PostgreSQL and the LML simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from artwork_backfill.cli.options import stdout
from artwork_backfill.cli.progress import resolve_with_progress
from artwork_backfill.errors import ExitStatus


def demo(
    rows: Annotated[
        int, typer.Option("--rows", min=50, max=200_000, help="Library rows to generate.")
    ] = 3000,
    seed: Annotated[
        int, typer.Option("--seed", help="Catalog seed (same seed, same catalog).")
    ] = 7,
    workdir: Annotated[
        Path, typer.Option("--workdir", help="Where the demo's cache, review page and CSV go.")
    ] = Path("data/demo"),
    rate_per_min: Annotated[
        float, typer.Option("--rate-per-min", help="Resolve's pace against the local simulator.")
    ] = 3000.0,
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave PostgreSQL and the simulator up until Ctrl-C.")
    ] = False,
) -> int:
    """The whole flow on embedded defaults: throwaway PostgreSQL + LML simulator, resolve,
    report, apply --execute, and a check of every written cover against the ground truth."""
    from artwork_backfill.demo.run import run_demo

    result = run_demo(
        rows=rows,
        seed=seed,
        workdir=workdir,
        rate_per_min=rate_per_min,
        keep=keep,
        console=stdout,
        resolve_step=resolve_with_progress,
    )
    return ExitStatus.OK if result.wrong_covers == 0 else ExitStatus.ERROR
