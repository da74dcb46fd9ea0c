"""A reviewer's decisions (accept / reject per library row), read back and checked.

The file is an export of `artwork-backfill report` (`--export x.csv|x.parquet`, or the review
page's download) with the `decision` column filled in. It is checked against the *current*
match table, so a decision only ever applies to the verdict the reviewer saw:

* the columns `library_id`, `decision`, `verdict_id` and `artwork_url` must be there;
* every `library_id` must be an integer; a decided one must be a row of the current table;
* a decision is `accept`, `reject` or empty (case and surrounding spaces do not matter);
* one library id may appear twice only with the same decision;
* a decided row's `verdict_id` and `artwork_url` must equal the current table's (otherwise
  the cache was re-scored or re-resolved since the export, and the reviewer must re-export);
* `accept` is for `review` rows only: reviewers decide `review` rows. A `reject`, `no_match`
  or `pending` row is never written, so accepting one is refused. Accepting a `high` row is
  harmless and allowed (it is written anyway); rejecting a `high` row holds it back;
* an accepted row must have a cover that may be written (see `judge.urls.validate_artwork_url`).

A CSV export writes a `'` before a cell a spreadsheet would run as a formula (see
`report.neutralise_formula`); that quote is taken off again here, so a file the export or the
review page wrote reads back as it was meant.

Rows without a decision are only checked for a well-formed id: a file exported from an older
snapshot keeps the decisions that still hold. Every problem is reported as one line naming
the file and the line (CSV, counting the header as line 1) or the row (Parquet).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from artwork_backfill.errors import UserError, first_line
from artwork_backfill.judge.score import Band
from artwork_backfill.judge.urls import cover_problems
from artwork_backfill.review.report import (
    DECISION_VALUES,
    FORMULA_GUARD,
    FORMULA_TRIGGERS,
    NOT_REVIEWABLE,
)

REQUIRED_COLUMNS: tuple[str, ...] = ("library_id", "decision", "verdict_id", "artwork_url")
# Bands a reviewer may accept: `review` is what reviewers decide; `high` is written anyway, so
# accepting it changes nothing. Every other band is never written (`report.NOT_REVIEWABLE`).
ACCEPTABLE_BANDS: frozenset[str] = frozenset({str(Band.REVIEW), str(Band.HIGH)})
_SHOWN = 5  # problems named in one message
_SHOWN_CHARS = 60  # of one cell named in a message
_MAX_ID_DIGITS = 19  # a library id has at most this many digits (64 bits)


class DecisionsError(UserError):
    """A decisions file that cannot be used as it is."""


@dataclass(frozen=True)
class Decisions:
    """What a reviewer decided, by library id (`library.id`)."""

    path: Path
    accepted: set[int]
    rejected: set[int]
    rows: int  # data rows in the file
    undecided: int  # rows in the file without a decision
    unknown_undecided: int  # rows without a decision whose id is no longer in the table
    accepted_by_band: dict[str, int] = field(default_factory=dict)
    rejected_by_band: dict[str, int] = field(default_factory=dict)
    table_rows: int = 0  # rows in the current match table

    @property
    def unchanged(self) -> int:
        """Rows of the current table that no decision touches."""
        return self.table_rows - len(self.accepted) - len(self.rejected)

    def decision(self, library_id: int) -> str | None:
        if library_id in self.accepted:
            return "accept"
        if library_id in self.rejected:
            return "reject"
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "rows": self.rows,
            "accepted": len(self.accepted),
            "rejected": len(self.rejected),
            "unchanged": self.unchanged,
            "undecided_in_file": self.undecided,
            "unknown_undecided": self.unknown_undecided,
            "accepted_by_band": self.accepted_by_band,
            "rejected_by_band": self.rejected_by_band,
        }


@dataclass(frozen=True, slots=True)
class _Entry:
    where: str  # "line 7" or "row 6"
    library_id: str
    decision: str
    verdict_id: str
    artwork_url: str


def read_decisions(path: Path, table: pl.DataFrame) -> Decisions:
    """Read and check a decisions file (.csv or .parquet) against the current match table."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise DecisionsError(f"{path}: a decisions file name must end in .csv or .parquet")
    if not path.is_file():
        raise DecisionsError(f"{path}: no such decisions file")
    entries = list(_read_csv(path) if suffix == ".csv" else _read_parquet(path))
    return _check(path, entries, table)


# -- reading --------------------------------------------------------------------------------


def _header(path: Path, names: list[str]) -> dict[str, str]:
    """Map each required column to the file's spelling of it (trimmed, case-insensitive)."""
    found = {name.strip().lower(): name for name in names}
    missing = [c for c in REQUIRED_COLUMNS if c not in found]
    if missing:
        raise DecisionsError(
            f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(a decisions file is an `artwork-backfill report --export` file with the decision "
            f"column filled in; it needs {', '.join(REQUIRED_COLUMNS)})"
        )
    return {c: found[c] for c in REQUIRED_COLUMNS}


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _cell(text: str) -> str:
    """A CSV cell as it was before the export neutralised it against formulas (`'=x` -> `=x`)."""
    if text.startswith(FORMULA_GUARD) and text[1:].startswith(FORMULA_TRIGGERS):
        return text[1:]
    return text


def _read_csv(path: Path) -> Iterator[_Entry]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            try:
                names = next(reader)
            except StopIteration:
                raise DecisionsError(f"{path}: the file is empty (no header line)") from None
            columns = _header(path, names)
            index = {c: names.index(columns[c]) for c in REQUIRED_COLUMNS}
            width = len(names)
            line = reader.line_num
            for cells in reader:
                start, line = line + 1, reader.line_num
                if not any(cell.strip() for cell in cells):
                    continue  # a blank line, as spreadsheets leave at the end
                if len(cells) > width:
                    raise DecisionsError(
                        f"{path} line {start}: {len(cells)} fields, but the header has {width} "
                        "(an unquoted comma?)"
                    )
                cells = cells + [""] * (width - len(cells))
                yield _Entry(
                    where=f"line {start}",
                    library_id=_cell(cells[index["library_id"]].strip()),
                    decision=_cell(cells[index["decision"]]),
                    verdict_id=_cell(cells[index["verdict_id"]].strip()),
                    artwork_url=_cell(cells[index["artwork_url"]].strip()),
                )
    except UnicodeDecodeError as exc:
        raise DecisionsError(
            f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV"
        ) from None
    except csv.Error as exc:
        raise DecisionsError(f"{path}: not a readable CSV file: {exc}") from None
    except OSError as exc:
        raise DecisionsError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_parquet(path: Path) -> Iterator[_Entry]:
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # polars raises several kinds for a file that is not Parquet
        first = first_line(exc)
        raise DecisionsError(f"{path}: not a readable Parquet file: {first}") from None
    columns = _header(path, frame.columns)
    values = {c: frame[columns[c]].to_list() for c in REQUIRED_COLUMNS}
    for i in range(frame.height):
        yield _Entry(
            where=f"row {i + 1}",
            library_id=_text(values["library_id"][i]),
            decision=_text(values["decision"][i]),
            verdict_id=_text(values["verdict_id"][i]),
            artwork_url=_text(values["artwork_url"][i]),
        )


# -- checking -------------------------------------------------------------------------------


def _fail(path: Path, problem: str, items: list[str], advice: str = "") -> None:
    if not items:
        return
    shown = "; ".join(items[:_SHOWN])
    more = f"; and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    count = f"{len(items)} rows: " if len(items) > 1 else ""
    raise DecisionsError(f"{path}: {problem}: {count}{shown}{more}{advice}")


def _check(path: Path, entries: list[_Entry], table: pl.DataFrame) -> Decisions:
    bad_ids = [f"{e.where}: {_shown(e.library_id)}" for e in entries if not _is_int(e.library_id)]
    _fail(path, f"library_id is not a whole number of at most {_MAX_ID_DIGITS} digits", bad_ids)

    bad_values = [
        f"{e.where}: {_shown(e.decision)}"
        for e in entries
        if e.decision.strip().lower() not in ("", *DECISION_VALUES)
    ]
    _fail(path, "decision must be accept, reject or empty", bad_values)

    current = {
        row[0]: row[1:]
        for row in table.select(
            "library_id", "verdict_id", "artwork_url", "band", "matched_release_id", "reasons"
        ).iter_rows()
    }
    decided: dict[int, tuple[str, _Entry]] = {}
    conflicts: list[str] = []
    unknown: list[str] = []
    unknown_undecided = 0
    undecided = 0
    for e in entries:
        library_id = int(e.library_id)
        decision = e.decision.strip().lower()
        if not decision:
            undecided += 1
            if library_id not in current:
                unknown_undecided += 1
            continue
        if library_id not in current:
            unknown.append(f"{e.where}: library_id {library_id}")
            continue
        seen = decided.get(library_id)
        if seen is None:
            decided[library_id] = (decision, e)
        elif seen[0] != decision:
            conflicts.append(
                f"library_id {library_id} is {seen[0]} on {seen[1].where} and {decision} on {e.where}"
            )
    _fail(
        path,
        "decisions for rows that are not in the current match table",
        unknown,
        " (the candidate snapshot changed since the export: re-export with `artwork-backfill report "
        "--export` or `--html` and review again)",
    )
    _fail(path, "one library_id with conflicting decisions", conflicts)

    changed: list[str] = []
    for library_id, (_decision, e) in decided.items():
        verdict_id, artwork_url = current[library_id][0], current[library_id][1] or ""
        what = []
        if e.verdict_id != verdict_id:
            what.append("verdict_id")
        if e.artwork_url != artwork_url:
            what.append("artwork_url")
        if what:
            changed.append(f"{e.where} (library_id {library_id}: {' and '.join(what)} differ)")
    _fail(
        path,
        "the verdict changed since the export",
        changed,
        ". The cache was re-scored or re-resolved after this file was exported: re-export with "
        "`artwork-backfill report --export` or `--html` and review those rows again",
    )

    not_review: list[str] = []
    for library_id, (decision, e) in decided.items():
        band = str(current[library_id][2])
        if decision == "accept" and band not in ACCEPTABLE_BANDS:
            why = NOT_REVIEWABLE.get(band, "it is never written")
            not_review.append(
                f"{e.where}: library_id {library_id} (verdict_id {e.verdict_id}) is `{band}`, {why}"
            )
    _fail(
        path,
        "accept on rows that are not `review` (reviewers decide `review` rows only)",
        not_review,
        "; reject them or leave them empty",
    )

    unwritable: list[str] = []
    for library_id, (decision, e) in decided.items():
        if decision != "accept":
            continue
        _verdict, url, band, release_id, reasons = current[library_id]
        problems = cover_problems(url, release_id, reasons)
        if problems:
            unwritable.append(f"{e.where} (library_id {library_id}, {band}: {', '.join(problems)})")
    _fail(
        path,
        "accepted rows whose cover cannot be written",
        unwritable,
        "; reject them or leave them empty",
    )

    accepted = {i for i, (d, _e) in decided.items() if d == "accept"}
    rejected = {i for i, (d, _e) in decided.items() if d == "reject"}
    return Decisions(
        path=path,
        accepted=accepted,
        rejected=rejected,
        rows=len(entries),
        undecided=undecided,
        unknown_undecided=unknown_undecided,
        accepted_by_band=dict(Counter(str(current[i][2]) for i in accepted)),
        rejected_by_band=dict(Counter(str(current[i][2]) for i in rejected)),
        table_rows=len(current),
    )


def _is_int(text: str) -> bool:
    """A whole number a library id can be: ASCII digits (a sign allowed), at most
    `_MAX_ID_DIGITS` of them (`int()` refuses over 4,300 digits; no id is near 19)."""
    digits = text[1:] if text[:1] in "+-" else text
    return digits.isdigit() and digits.isascii() and len(digits) <= _MAX_ID_DIGITS


def _shown(value: str) -> str:
    """A cell as a message names it: its repr, cut short when long (one readable line)."""
    text = repr(value)
    if len(text) <= _SHOWN_CHARS:
        return text
    return f"{text[:_SHOWN_CHARS]}... ({len(value)} characters)"
