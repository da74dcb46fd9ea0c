"""The plan, pure: which rows to write (`plan_apply`), and what the guarded UPDATE would do with
a row given its current state (`RowState`, `classify`). No I/O.

`plan_apply(table, decisions)` takes the `high` band, plus `review` rows a reviewer
accepted, minus rows a reviewer rejected, never a row whose URL is empty or fails
`judge.urls.cover_problems`, and never a `reject`, `no_match` or `pending` row, whatever a decision
says. Each plan row carries the artist and title the row was resolved with, because the write
is guarded by them.

`plan_apply(table, decisions, repair=True)` plans the audit's rows instead (`apply --repair`):
a value the audit found `wrong`, replaced by the gate's `high` cover (or a reviewer-accepted
`review` one), pinned to the value audited (`PlanRow.previous`: the UPDATE only touches a row
that still holds it). With `clear_wrong`, a wrong value with no replacement is cleared (NULL);
without it, nothing ever writes NULL over a value. An `ok` or `unverified` value is never
touched, and a replacement that fails validation or equals the value is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from artwork_backfill.judge.score import Band
from artwork_backfill.judge.urls import cover_problems

if TYPE_CHECKING:
    from artwork_backfill.review.decisions import Decisions

HIGH = str(Band.HIGH)
REVIEW = str(Band.REVIEW)


@dataclass(frozen=True, slots=True)
class PlanRow:
    """One write: the cover for a library row, and the text the row was resolved with."""

    library_id: int
    url: str
    artist_name: str
    album_title: str
    band: str  # the verdict's band ("high", or e.g. "review" for a reviewer-accepted row)
    source: str  # "high" | "accepted" | "cleared" (a repair's --clear-wrong)
    verdict_id: str | None = None  # the match table's verdict written (journaled with the row)
    # a repair: the value audited, which the row must still hold (None: a backfill, NULL)
    previous: str | None = None
    # a repair that clears a wrong value with no replacement (`url` is then "": NULL is written)
    clear: bool = False


@dataclass(frozen=True)
class Plan:
    rows: tuple[PlanRow, ...]  # sorted by library_id
    high: int  # rows planned from the high band
    accepted: int  # rows planned because a reviewer accepted them (outside the high band)
    rejected: int  # high-band rows a reviewer rejected
    invalid: int  # rows left out because their URL is missing or fails validation
    invalid_reasons: dict[str, int] = field(default_factory=dict)
    # accepted rows left out because their band is not `review` (`decisions.read_decisions`
    # refuses such a file; this guards a decisions object that reached the plan another way)
    not_reviewable: int = 0
    repair: bool = False  # planned from the audit's rows (apply --repair)
    cleared: int = 0  # of a repair: wrong values with no replacement, cleared (--clear-wrong)
    left_wrong: int = 0  # of a repair: wrong values with no replacement, kept (no --clear-wrong)

    def __len__(self) -> int:
        return len(self.rows)


def plan_apply(
    table: pl.DataFrame,
    decisions: Decisions | None = None,
    *,
    repair: bool = False,
    clear_wrong: bool = False,
) -> Plan:
    """The rows to write: high band + accepted review rows - rejected, with a valid URL each.

    Only a `review` row is taken on a reviewer's accept: an accepted `reject`, `no_match` or
    `pending` row is never planned (counted in `not_reviewable`). The backfill plans the
    backfill's rows only, a `repair` the audit's wrong values only (see the module's doc).
    """
    audit = table["audit"].to_list() if "audit" in table.columns else [None] * table.height
    current = (
        table["current_artwork_url"].to_list()
        if "current_artwork_url" in table.columns
        else [None] * table.height
    )
    keep = [(a == "wrong") if repair else (a is None) for a in audit]
    table = table.filter(pl.Series(keep, dtype=pl.Boolean))
    current = [c for c, k in zip(current, keep, strict=True) if k]
    accepted = set(decisions.accepted) if decisions is not None else set()
    rejected = set(decisions.rejected) if decisions is not None else set()
    rows: list[PlanRow] = []
    counts = {"high": 0, "accepted": 0, "rejected": 0, "invalid": 0, "not_reviewable": 0}
    reasons: dict[str, int] = {}
    columns = [
        "library_id",
        "artist_name",
        "album_title",
        "band",
        "artwork_url",
        "matched_release_id",
        "reasons",
    ]
    verdicts = (
        table["verdict_id"].to_list() if "verdict_id" in table.columns else [None] * table.height
    )
    cleared = left_wrong = 0
    for (library_id, artist, title, band, url, release_id, verdict_reasons), verdict, now in zip(
        table.select(columns).iter_rows(), verdicts, current, strict=True
    ):
        library_id = int(library_id)
        if repair and not url:  # a wrong value without a safe replacement
            if clear_wrong and library_id not in rejected:
                cleared += 1
                rows.append(
                    PlanRow(library_id, "", str(artist), str(title), "wrong", "cleared",
                            None if verdict is None else str(verdict), str(now), clear=True)
                )  # fmt: skip
            else:
                left_wrong += 1
            continue
        if library_id in rejected:
            if band == HIGH:
                counts["rejected"] += 1
            continue
        if band == HIGH:
            source = "high"
        elif library_id not in accepted:
            continue
        elif band == REVIEW:
            source = "accepted"
        else:
            counts["not_reviewable"] += 1  # reject, no_match, pending: never written
            continue
        problems = cover_problems(url, release_id, verdict_reasons)
        if repair and url == now:
            problems = ["replacement_is_the_value"]  # never "repairs" a value into itself
        if problems:
            counts["invalid"] += 1
            for code in problems:
                reasons[code] = reasons.get(code, 0) + 1
            continue
        counts[source] += 1
        rows.append(
            PlanRow(
                library_id,
                str(url),
                str(artist),
                str(title),
                str(band),
                source,
                None if verdict is None else str(verdict),
                str(now) if repair else None,
            )
        )
    rows.sort(key=lambda r: r.library_id)
    return Plan(
        tuple(rows),
        counts["high"],
        counts["accepted"],
        counts["rejected"],
        counts["invalid"],
        reasons,
        counts["not_reviewable"],
        repair,
        cleared,
        left_wrong,
    )


# -- row state ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowState:
    """A library row as Postgres holds it now."""

    artwork_url: str | None
    artist_name: str | None
    album_title: str
    discogs_unavailable: bool


def classify(row: PlanRow, state: RowState | None) -> str:
    """What the guarded UPDATE does with `row` given its current state: apply, raced or stale.

    A repair (`row.previous`) is `raced` when the row no longer holds the value audited
    (someone changed it since: their value stays, counted as `kept_changed`)."""
    if (
        state is None
        or state.artist_name != row.artist_name
        or state.album_title != row.album_title
        or state.discogs_unavailable
    ):
        return "stale"
    if row.previous is not None:
        return "apply" if state.artwork_url == row.previous else "raced"
    if state.artwork_url is not None:
        return "raced"
    return "apply"


__all__ = ["HIGH", "REVIEW", "Plan", "PlanRow", "RowState", "classify", "plan_apply"]
