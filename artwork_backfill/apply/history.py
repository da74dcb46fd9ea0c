"""What the cache knows about our writes: per library row, every journaled write in order and
which of them an undo took back (`RowHistory`), and the apply/undo runs as `report` lists
them (`run_history`).

A row's *owner* is its latest journaled write that no undo took back. Undo of run A reverts a
row only while A owns it (and the row still holds A's URL): a later run's write, or an undo
of A already done, means the value there now is not A's to take back, even when it is the
same URL (WXYC's API writes the same LML covers). Apply leaves out a row whose latest write
was undone (`apply --include-undone` writes it again).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl

from artwork_backfill.cache.store import Cache


@dataclass(frozen=True, slots=True)
class Write:
    """One journaled write of one row."""

    run_id: str
    library_id: int
    url: str
    previous: str | None  # the value the write replaced (None for a backfill)
    undone: bool


class RowHistory:
    """Our writes per library row, oldest first, each marked undone or not."""

    def __init__(self, writes: dict[int, list[Write]]) -> None:
        self.writes = writes

    @classmethod
    def load(
        cls,
        cache: Cache,
        *,
        more_writes: Iterable[tuple[str, int, str]] = (),
        more_undone: Iterable[tuple[str, int]] = (),
    ) -> RowHistory:
        """From the journal and the undo log; `more_*` are what a dry run's reconcile would
        add (run_id, library_id, url) and (apply run_id, library_id), newest."""
        undone = undo_log_pairs(cache) | set(more_undone)
        journal = cache.journal()
        started = {
            str(r): i for i, r in enumerate(cache.runs("apply")["run_id"].to_list())
        }  # runs() is ordered by started_at: the tie-break for equal written_at
        writes: dict[int, list[Write]] = {}
        if journal.height:
            previous = (
                journal["previous_artwork_url"].to_list()
                if "previous_artwork_url" in journal.columns  # an older layout, read only
                else [None] * journal.height
            )
            entries = sorted(
                zip(
                    journal["written_at"].to_list(),
                    journal["run_id"].to_list(),
                    journal["library_id"].to_list(),
                    journal["artwork_url"].to_list(),
                    previous,
                    strict=True,
                ),
                key=lambda e: (e[0], started.get(str(e[1]), len(started)), e[2]),
            )
            for _, run_id, library_id, url, prev in entries:
                key = (str(run_id), int(library_id))
                writes.setdefault(key[1], []).append(
                    Write(key[0], key[1], str(url), prev, key in undone)
                )
        for run_id, library_id, url in more_writes:
            row = writes.setdefault(int(library_id), [])
            if not any(w.run_id == run_id for w in row):
                row.append(Write(run_id, int(library_id), url, None, False))
        return cls(writes)

    def owner(self, library_id: int) -> Write | None:
        """The latest write of the row that was not undone: whose value the row should hold."""
        for write in reversed(self.writes.get(library_id, ())):
            if not write.undone:
                return write
        return None

    def latest(self, library_id: int) -> Write | None:
        row = self.writes.get(library_id)
        return row[-1] if row else None

    def journaled(self, library_id: int, url: str) -> bool:
        """Some run of ours wrote exactly this URL to this row."""
        return any(w.url == url for w in self.writes.get(library_id, ()))


def undo_log_pairs(cache: Cache) -> set[tuple[str, int]]:
    """(apply run_id, library_id) of every row an undo reverted."""
    frame = cache.undo_log().select("run_id", "library_id")
    return {(str(r), int(i)) for r, i in frame.iter_rows()}


# What `report --json` shows of each run's summary.
_APPLY_COUNTS = (
    "planned",
    "eligible",
    "applied",
    "raced",
    "stale",
    "already_applied",
    "skipped_undone",
    "undone_included",
    "not_attempted",
    "batches",
    "remaining",
)
_UNDO_COUNTS = (
    "journaled",
    "reverted",
    "restored_previous",
    "skipped",
    "already_undone",
    "superseded",
    "not_attempted",
    "batches",
)


def run_history(cache: Cache) -> list[dict[str, Any]]:
    """Every apply and undo run (dry runs record none), oldest first: status, counts, the
    thresholds and decisions file an apply planned with, the verdicts it journaled, the run
    an undo took back."""
    journal = cache.journal()
    journaled: dict[str, tuple[int, int]] = {}
    if journal.height:
        distinct: pl.Expr = (
            pl.col("verdict_id").drop_nulls().n_unique()
            if "verdict_id" in journal.columns
            else pl.lit(0)
        )
        for run_id, count, verdicts in (
            journal.group_by("run_id").agg(pl.len().alias("rows"), distinct.alias("v")).iter_rows()
        ):
            journaled[str(run_id)] = (int(count), int(verdicts))
    out: list[dict[str, Any]] = []
    runs = cache.runs()
    for row in runs.filter(pl.col("command").is_in(["apply", "undo"])).iter_rows(named=True):
        settings = _loads(row["settings"])
        summary = _loads(row["summary"])
        entry: dict[str, Any] = {
            "run_id": row["run_id"],
            "command": row["command"],
            "status": row["status"],
            "started_at": _iso(row["started_at"]),
            "finished_at": _iso(row["finished_at"]),
        }
        if row["command"] == "apply":
            rows, verdict_ids = journaled.get(str(row["run_id"]), (0, 0))
            entry.update(
                thresholds=settings.get("thresholds"),
                decisions_sha256=settings.get("decisions_sha256"),
                include_undone=bool(settings.get("include_undone", False)),
                journaled=rows,
                verdict_ids=verdict_ids,
                counts={k: summary[k] for k in _APPLY_COUNTS if k in summary},
            )
        else:
            entry.update(
                target_run_id=settings.get("target_run_id"),
                counts={k: summary[k] for k in _UNDO_COUNTS if k in summary},
            )
        out.append(entry)
    return out


def _loads(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


__all__ = ["RowHistory", "Write", "run_history", "undo_log_pairs"]
