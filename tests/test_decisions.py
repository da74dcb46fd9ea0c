"""Decisions: a filled-in export read back, and every way it can be refused."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from artwork_backfill.cache.store import Cache
from artwork_backfill.cli.app import run
from artwork_backfill.errors import UserError
from artwork_backfill.judge.reasons import REASONS
from artwork_backfill.model import Answer, Classification
from artwork_backfill.review.decisions import DecisionsError, read_decisions
from artwork_backfill.review.report import EXPORT_COLUMNS, export_matches
from tests._report_cache import _rowless, build_cache, key_of


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return build_cache(tmp_path / "cache.duckdb")


def current_table(cache_path: Path) -> pl.DataFrame:
    from artwork_backfill.review.report import build_report

    with Cache(cache_path, read_only=True) as cache:
        return build_report(cache, sample=0)[0]


@pytest.fixture
def table(cache_path: Path) -> pl.DataFrame:
    return current_table(cache_path)


def exported(table: pl.DataFrame, path: Path) -> list[dict[str, str]]:
    export_matches(table, path)
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_rows(
    path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = EXPORT_COLUMNS
) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def decide(rows: list[dict[str, str]], **by_id: str) -> list[dict[str, str]]:
    """Set decisions by library id: decide(rows, r1="accept", r4="reject")."""
    wanted = {int(k[1:]): v for k, v in by_id.items()}
    return [{**r, "decision": wanted.get(int(r["library_id"]), r["decision"])} for r in rows]


def line_of(rows: list[dict[str, str]], library_id: int) -> int:
    """The CSV line of a library id in a file written by write_rows (header is line 1)."""
    return next(i for i, r in enumerate(rows) if int(r["library_id"]) == library_id) + 2


# -- what a valid file gives ----------------------------------------------------------------


def test_accept_and_reject_from_csv(table: pl.DataFrame, tmp_path: Path) -> None:
    rows = decide(
        exported(table, tmp_path / "x.csv"), r1="accept", r9=" Accept ", r4="REJECT", r3="reject"
    )
    result = read_decisions(write_rows(tmp_path / "d.csv", rows), table)
    assert result.accepted == {1, 9}
    assert result.rejected == {3, 4}
    assert result.rows == 18 and result.undecided == 14
    assert result.unchanged == 18 - 4
    assert result.accepted_by_band == {"high": 1, "review": 1}
    assert result.rejected_by_band == {"reject": 1, "no_match": 1}
    assert (
        result.decision(9) == "accept"
        and result.decision(3) == "reject"
        and result.decision(2) is None
    )
    assert result.to_json()["accepted"] == 2


def test_cells_the_export_guarded_against_formulas_read_back_as_they_were(
    table: pl.DataFrame, tmp_path: Path
) -> None:
    """The export writes `'` before a formula-like cell (CWE-1236); reading takes it off."""
    rows = decide(exported(table, tmp_path / "x.csv"), r9="accept", r4="reject")
    guarded = [
        {**r, "library_id": "'+" + r["library_id"], "decision": "'" + r["decision"]}
        if r["decision"]
        else r
        for r in rows
    ]  # a `'` before a cell that needs none stays: "'accept" is no decision
    with pytest.raises(DecisionsError, match="decision must be accept, reject or empty"):
        read_decisions(write_rows(tmp_path / "d.csv", guarded), table)
    guarded = [{**r, "library_id": "'+" + r["library_id"]} for r in rows]
    result = read_decisions(write_rows(tmp_path / "e.csv", guarded), table)
    assert (result.accepted, result.rejected) == ({9}, {4})


def test_accept_and_reject_from_parquet(table: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    export_matches(table, path)
    frame = pl.read_parquet(path).with_columns(
        pl.when(pl.col("library_id") == 14)
        .then(pl.lit("accept"))
        .when(pl.col("library_id") == 5)
        .then(pl.lit("reject"))
        .when(pl.col("library_id") == 6)
        .then(None)  # a null is no decision
        .otherwise(pl.col("decision"))
        .alias("decision")
    )
    frame.write_parquet(path)
    result = read_decisions(path, table)
    assert result.accepted == {14} and result.rejected == {5}


def test_a_minimal_file_with_only_the_needed_columns(table: pl.DataFrame, tmp_path: Path) -> None:
    rows = decide(exported(table, tmp_path / "x.csv"), r15="accept")
    columns = ("verdict_id", "Decision ", "LIBRARY_ID", "artwork_url")  # any order, case, spaces
    renamed = [
        {
            "verdict_id": r["verdict_id"],
            "Decision ": r["decision"],
            "LIBRARY_ID": r["library_id"],
            "artwork_url": r["artwork_url"],
        }
        for r in rows
    ]
    assert read_decisions(write_rows(tmp_path / "d.csv", renamed, columns), table).accepted == {15}


def test_spreadsheet_habits_are_tolerated(table: pl.DataFrame, tmp_path: Path) -> None:
    """A byte-order mark, CRLF line ends and blank lines at the end (Excel, LibreOffice)."""
    rows = decide(exported(table, tmp_path / "x.csv"), r16="accept", r1="reject")
    path = tmp_path / "d.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(EXPORT_COLUMNS), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        handle.write(",,,\r\n\r\n")
    result = read_decisions(path, table)
    assert result.accepted == {16} and result.rejected == {1}


def test_duplicates_with_the_same_decision_are_fine(table: pl.DataFrame, tmp_path: Path) -> None:
    rows = decide(exported(table, tmp_path / "x.csv"), r9="accept")
    nine = next(r for r in rows if r["library_id"] == "9")
    rows += [nine, {**nine, "decision": ""}]
    assert read_decisions(write_rows(tmp_path / "d.csv", rows), table).accepted == {9}


def test_undecided_rows_may_be_stale(table: pl.DataFrame, tmp_path: Path) -> None:
    """Rows without a decision are not held against the file: only their id must be a number."""
    rows = decide(exported(table, tmp_path / "x.csv"), r1="accept")
    rows.append({**rows[0], "library_id": "99999", "decision": ""})
    rows = [{**r, "verdict_id": "0000"} if r["library_id"] == "2" else r for r in rows]
    result = read_decisions(write_rows(tmp_path / "d.csv", rows), table)
    assert result.accepted == {1} and result.unknown_undecided == 1


# -- refusals -------------------------------------------------------------------------------


def refused(path: Path, table: pl.DataFrame) -> str:
    with pytest.raises(DecisionsError) as info:
        read_decisions(path, table)
    message = str(info.value)
    assert isinstance(info.value, UserError)
    assert "\n" not in message
    assert str(path) in message
    return message


@pytest.mark.parametrize("missing", ["library_id", "decision", "verdict_id", "artwork_url"])
def test_missing_column(table: pl.DataFrame, tmp_path: Path, missing: str) -> None:
    rows = exported(table, tmp_path / "x.csv")
    columns = tuple(c for c in EXPORT_COLUMNS if c != missing)
    message = refused(write_rows(tmp_path / "d.csv", rows, columns), table)
    assert f"missing column {missing}" in message


def test_missing_columns_in_parquet(table: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pl.DataFrame({"library_id": [1], "decision": ["accept"]}).write_parquet(path)
    assert "missing columns verdict_id, artwork_url" in refused(path, table)


def test_unknown_library_id(table: pl.DataFrame, tmp_path: Path) -> None:
    rows = decide(exported(table, tmp_path / "x.csv"), r1="accept")
    rows.append({**rows[0], "library_id": "424242", "decision": "reject"})
    message = refused(write_rows(tmp_path / "d.csv", rows), table)
    assert "not in the current match table" in message
    assert f"line {len(rows) + 1}: library_id 424242" in message
    assert "re-export" in message


def test_library_id_not_a_number(table: pl.DataFrame, tmp_path: Path) -> None:
    rows = exported(table, tmp_path / "x.csv")
    rows[3] = {**rows[3], "library_id": "12a"}
    assert "line 5: '12a'" in refused(write_rows(tmp_path / "d.csv", rows), table)


def test_a_huge_library_id_or_decision_is_named_short(table: pl.DataFrame, tmp_path: Path) -> None:
    """A 5,001-digit id (int() refuses it past 4,300 digits) and a 10,000-character decision
    are refused in one short line, never a crash."""
    rows = exported(table, tmp_path / "x.csv")
    rows[3] = {**rows[3], "library_id": "9" * 5001}
    message = refused(write_rows(tmp_path / "d.csv", rows), table)
    assert "library_id is not a whole number of at most 19 digits" in message
    assert "(5001 characters)" in message and len(message) < 400
    rows = decide(exported(table, tmp_path / "x.csv"), r5="accept" * 1700)
    message = refused(write_rows(tmp_path / "e.csv", rows), table)
    assert "(10200 characters)" in message and len(message) < 400
    assert read_decisions(
        write_rows(tmp_path / "f.csv", decide(exported(table, tmp_path / "x.csv"), r4="reject")),
        table,
    ).rejected == {4}


@pytest.mark.parametrize("value", ["maybe", "yes", "accepted", "x"])
def test_bad_decision_value(table: pl.DataFrame, tmp_path: Path, value: str) -> None:
    rows = exported(table, tmp_path / "x.csv")
    rows = decide(rows, r5=value)
    message = refused(write_rows(tmp_path / "d.csv", rows), table)
    assert "decision must be accept, reject or empty" in message
    assert f"line {line_of(rows, 5)}: {value!r}" in message


def test_bad_decisions_are_counted_and_listed(table: pl.DataFrame, tmp_path: Path) -> None:
    rows = [{**r, "decision": "?"} for r in exported(table, tmp_path / "x.csv")]
    message = refused(write_rows(tmp_path / "d.csv", rows), table)
    assert "18 rows: line 2: '?'" in message and "and 13 more" in message


def test_conflicting_duplicates(table: pl.DataFrame, tmp_path: Path) -> None:
    rows = decide(exported(table, tmp_path / "x.csv"), r9="accept")
    nine = next(r for r in rows if r["library_id"] == "9")
    rows.append({**nine, "decision": "reject"})
    message = refused(write_rows(tmp_path / "d.csv", rows), table)
    assert "conflicting decisions" in message
    assert (
        f"library_id 9 is accept on line {line_of(rows, 9)} and reject on line {len(rows) + 1}"
        in message
    )


def test_a_changed_verdict_must_be_reviewed_again(cache_path: Path, tmp_path: Path) -> None:
    """The cache gets a new answer after the export: the decision was about another cover."""
    before = current_table(cache_path)
    rows = decide(exported(before, tmp_path / "x.csv"), r9="accept", r14="reject", r1="accept")
    path = write_rows(tmp_path / "d.csv", rows)
    assert read_decisions(path, before).accepted == {1, 9}

    with Cache(cache_path) as cache:
        run_id = cache.start_run("resolve", {})
        now = time.time()
        for lib, release in ((9, 7770009), (14, 7770014)):
            row_body = _rowless(
                *{9: ("Anadol & Marie Klock", "Manivelles"), 14: ("Broadcast", "Tender Buttons")}[
                    lib
                ],
                release,
            )
            cache.append_answers(
                run_id,
                [
                    Answer(
                        key_of(lib),
                        "single",
                        200,
                        Classification.MATCH,
                        "results",
                        row_body,
                        1,
                        10.0,
                        now,
                        now,
                    )
                ],
            )
    after = current_table(cache_path)
    message = refused(path, after)
    assert "the verdict changed since the export: 2 rows" in message
    assert f"line {line_of(rows, 9)} (library_id 9: verdict_id and artwork_url differ)" in message
    assert f"line {line_of(rows, 14)} (library_id 14" in message
    assert "re-export" in message and "review those rows again" in message


def test_an_edited_artwork_url_is_a_changed_verdict(table: pl.DataFrame, tmp_path: Path) -> None:
    rows = decide(exported(table, tmp_path / "x.csv"), r1="accept")
    rows = [
        {**r, "artwork_url": r["artwork_url"] + "?x"} if r["library_id"] == "1" else r for r in rows
    ]
    assert "(library_id 1: artwork_url differ)" in refused(
        write_rows(tmp_path / "d.csv", rows), table
    )


def band_of(table: pl.DataFrame, library_id: int) -> str:
    return str(table.filter(pl.col("library_id") == library_id)["band"].item())


def verdict_of(table: pl.DataFrame, library_id: int) -> str:
    return str(table.filter(pl.col("library_id") == library_id)["verdict_id"].item())


NOT_REVIEW = "accept on rows that are not `review` (reviewers decide `review` rows only)"


@pytest.mark.parametrize(
    ("library_id", "band", "why"),
    [
        (4, "reject", "a rejected cover is never written"),
        (11, "reject", "a rejected cover is never written"),
        (3, "no_match", "LML found no cover for it, so nothing is written"),
        (6, "no_match", "LML found no cover for it, so nothing is written"),
        (7, "pending", "LML has not answered for it yet, so nothing is written"),
        (13, "pending", "LML has not answered for it yet, so nothing is written"),
    ],
)
def test_accept_is_for_review_rows_only(
    table: pl.DataFrame, tmp_path: Path, library_id: int, band: str, why: str
) -> None:
    """A reject, no_match or pending row is never written: accepting one refuses the file."""
    assert band_of(table, library_id) == band
    rows = decide(exported(table, tmp_path / "x.csv"), **{f"r{library_id}": "accept"})
    path = write_rows(tmp_path / "d.csv", rows)
    assert refused(path, table) == (
        f"{path}: {NOT_REVIEW}: line {line_of(rows, library_id)}: library_id {library_id} "
        f"(verdict_id {verdict_of(table, library_id)}) is `{band}`, {why}; "
        "reject them or leave them empty"
    )


def test_every_accepted_row_that_is_not_review_is_named(
    table: pl.DataFrame, tmp_path: Path
) -> None:
    rows = decide(
        exported(table, tmp_path / "x.csv"),
        r1="accept",  # high: harmless
        r9="accept",  # review: what reviewers decide
        r4="accept",
        r5="accept",
        r3="accept",
        r7="reject",  # a reject is always fine
    )
    message = refused(write_rows(tmp_path / "d.csv", rows), table)
    assert f"{NOT_REVIEW}: 3 rows: " in message
    for library_id in (4, 5, 3):
        assert f"line {line_of(rows, library_id)}: library_id {library_id} (verdict_id" in message
    assert "library_id 1 " not in message and "library_id 9 " not in message
    assert "library_id 7 " not in message


def test_rows_that_are_not_review_may_be_rejected(table: pl.DataFrame, tmp_path: Path) -> None:
    rows = decide(exported(table, tmp_path / "x.csv"), r4="reject", r3="reject", r7="reject")
    result = read_decisions(write_rows(tmp_path / "d.csv", rows), table)
    assert result.rejected == {3, 4, 7} and result.accepted == set()
    assert result.rejected_by_band == {"reject": 1, "no_match": 1, "pending": 1}


def test_high_rows_need_no_accept_and_a_reject_holds_one_back(
    table: pl.DataFrame, tmp_path: Path
) -> None:
    """Accepting a high row is allowed and changes nothing; rejecting one keeps it unwritten."""
    from artwork_backfill.apply.plan import plan_apply

    assert [band_of(table, i) for i in (1, 2, 10, 9)] == ["high", "high", "high", "review"]
    rows = decide(exported(table, tmp_path / "x.csv"), r1="accept", r2="reject", r9="accept")
    result = read_decisions(write_rows(tmp_path / "d.csv", rows), table)
    assert result.accepted == {1, 9} and result.rejected == {2}
    assert result.accepted_by_band == {"high": 1, "review": 1}
    plan = plan_apply(table, result)
    assert {r.library_id: r.source for r in plan.rows} == {1: "high", 9: "accepted", 10: "high"}
    assert (plan.high, plan.accepted, plan.rejected, plan.not_reviewable) == (2, 1, 1, 0)
    without = read_decisions(
        write_rows(tmp_path / "e.csv", decide(rows, r1="")), table
    )  # the same plan without the accept on the high row
    assert plan_apply(table, without).rows == plan.rows


def test_accepting_a_cover_that_fails_the_url_rules(cache_path: Path, tmp_path: Path) -> None:
    """A reviewer may overrule the scorer's judgement of titles, never the URL rules."""
    with Cache(cache_path) as cache:
        run_id = cache.start_run("resolve", {})
        body = _rowless("Pram", "Museum of Imaginary Animals", 5551515)
        body["results"][0]["artwork"]["artwork_url"] = "http://img.example.com/cover.jpg"
        now = time.time()
        cache.append_answers(
            run_id,
            [
                Answer(
                    key_of(15),
                    "single",
                    200,
                    Classification.MATCH,
                    "results",
                    body,
                    1,
                    10.0,
                    now,
                    now,
                )
            ],
        )
    table = current_table(cache_path)
    assert band_of(table, 15) == "reject"
    rows = decide(exported(table, tmp_path / "x.csv"), r15="accept")
    message = refused(write_rows(tmp_path / "d.csv", rows), table)
    assert f"{NOT_REVIEW}: line {line_of(rows, 15)}: library_id 15 " in message
    assert "is `reject`, a rejected cover is never written" in message

    # Were such a cover ever scored `review`, the URL rules would still refuse it.
    as_review = table.with_columns(
        pl.when(pl.col("library_id") == 15)
        .then(pl.lit("review"))
        .otherwise(pl.col("band"))
        .alias("band")
    )
    message = refused(write_rows(tmp_path / "d.csv", rows), as_review)
    assert "accepted rows whose cover cannot be written" in message
    assert f"line {line_of(rows, 15)} (library_id 15, review: " in message
    assert "url_not_https" in message and "url_host" in message
    assert "url_not_https" in REASONS


def test_accepting_a_review_row_without_a_cover(table: pl.DataFrame, tmp_path: Path) -> None:
    """The scorer never gives a review row without a cover; the check still stands behind it."""
    coverless = table.with_columns(
        pl.when(pl.col("library_id") == 9)
        .then(None)
        .otherwise(pl.col("artwork_url"))
        .alias("artwork_url")
    )
    assert band_of(coverless, 9) == "review"
    rows = decide(exported(coverless, tmp_path / "x.csv"), r9="accept")
    message = refused(write_rows(tmp_path / "d.csv", rows), coverless)
    assert message.endswith(
        f"accepted rows whose cover cannot be written: line {line_of(rows, 9)} "
        "(library_id 9, review: no_artwork_url); reject them or leave them empty"
    )


def test_line_numbers_count_physical_lines(table: pl.DataFrame, tmp_path: Path) -> None:
    """A quoted title with a line break spans two lines; later line numbers still match an editor's."""
    path = tmp_path / "d.csv"
    path.write_text(
        "library_id,decision,verdict_id,artwork_url,album_title\n"
        '1,,x,,"Two\nLines"\n'
        "2,perhaps,x,,plain\n",
        encoding="utf-8",
    )
    assert "line 4: 'perhaps'" in refused(path, table)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("d.txt", b"library_id\n", ".csv or .parquet"),
        ("d.csv", b"", "empty"),
        ("d.csv", b"library_id,decision,verdict_id,artwork_url\n1,accept,\xff\xfe,\n", "not UTF-8"),
        ("d.parquet", b"not parquet at all", "not a readable Parquet file"),
        (
            "d.csv",
            b"library_id,decision,verdict_id,artwork_url\n1,,x,y,extra,more\n",
            "line 2: 6 fields",
        ),
    ],
)
def test_unreadable_files(
    table: pl.DataFrame, tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert expected in refused(path, table)


def test_missing_file(table: pl.DataFrame, tmp_path: Path) -> None:
    assert "no such decisions file" in refused(tmp_path / "gone.csv", table)


# -- through the command --------------------------------------------------------------------


def test_report_checks_decisions(
    cache_path: Path, table: pl.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = decide(exported(table, tmp_path / "x.csv"), r1="accept", r9="accept", r4="reject")
    path = write_rows(tmp_path / "d.csv", rows)
    assert (
        run(["--cache", str(cache_path), "report", "--sample", "0", "--decisions", str(path)]) == 0
    )
    out = capsys.readouterr().out
    assert "accepted:  2 (high 1, review 1)" in out
    assert "rejected:  1 (reject 1)" in out
    assert "unchanged: 15 (no decision)" in out

    assert run(["--cache", str(cache_path), "report", "--json", "--decisions", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)["decisions"]
    assert (data["accepted"], data["rejected"], data["unchanged"]) == (2, 1, 15)


def test_report_refuses_bad_decisions_in_one_line(
    cache_path: Path, table: pl.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = decide(exported(table, tmp_path / "x.csv"), r1="nope")
    path = write_rows(tmp_path / "d.csv", rows)
    assert run(["--cache", str(cache_path), "report", "--decisions", str(path)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    errors = [line for line in captured.err.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"error: {path}: decision must be")


def test_report_refuses_accepting_a_reject_row(
    cache_path: Path, table: pl.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = decide(exported(table, tmp_path / "x.csv"), r9="accept", r4="accept")
    path = write_rows(tmp_path / "d.csv", rows)
    for extra in ([], ["--json"]):
        assert run(["--cache", str(cache_path), "report", *extra, "--decisions", str(path)]) == 1
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err + captured.out
        assert captured.out == ""  # no report, no JSON: the file is refused before either
        errors = [line for line in captured.err.splitlines() if line.strip()]
        assert errors == [
            f"error: {path}: {NOT_REVIEW}: line {line_of(rows, 4)}: library_id 4 "
            f"(verdict_id {verdict_of(table, 4)}) is `reject`, a rejected cover is never "
            "written; reject them or leave them empty"
        ]


def test_the_installed_entry_point_refuses_accepting_a_reject_row(
    cache_path: Path, table: pl.DataFrame, tmp_path: Path
) -> None:
    """`python -m artwork_backfill`, a real process: exit 1, one line on stderr, no traceback."""
    rows = decide(exported(table, tmp_path / "x.csv"), r11="accept")
    path = write_rows(tmp_path / "d.csv", rows)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTWORK_BACKFILL_")}
    entry = [sys.executable, "-m", "artwork_backfill"]
    done = subprocess.run(
        [*entry, "--cache", str(cache_path), "report", "--decisions", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"error: {path}: {NOT_REVIEW}: line {line_of(rows, 11)}: ")
    assert errors[0].endswith(
        "is `reject`, a rejected cover is never written; reject them or leave them empty"
    )
