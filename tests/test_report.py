"""Report: statistics over a real cache, the export, the page's static HTML, the CLI command."""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import polars as pl
import pytest

from artwork_backfill.cache.store import Cache
from artwork_backfill.cli.app import run
from artwork_backfill.cli.options import stdout
from artwork_backfill.errors import UserError
from artwork_backfill.judge.reasons import REASONS
from artwork_backfill.judge.thresholds import Thresholds
from artwork_backfill.review.report import (
    BANDS,
    EXPORT_COLUMNS,
    ReportStats,
    build_report,
    compute_stats,
    csv_cells,
    csv_text,
    export_matches,
    render_html,
    storage_key,
)
from tests._report_cache import XSS_ALBUM, XSS_ARTIST, build_cache

Report = tuple[pl.DataFrame, ReportStats]


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return build_cache(tmp_path / "cache.duckdb")


@pytest.fixture
def report(cache_path: Path) -> Report:
    with Cache(cache_path, read_only=True) as cache:
        return build_report(cache, sample=2)


# -- statistics -----------------------------------------------------------------------------


def test_bands_in_rows_and_keys(report: Report) -> None:
    table, stats = report
    data = stats.to_json()
    assert data["candidates"] == 18 and data["keys"] == 17
    # rows: the Stereolab CD and LP share one key and are both high
    assert data["bands"] == {"high": 3, "review": 5, "reject": 3, "no_match": 2, "pending": 5}
    assert data["bands_keys"] == {"high": 2, "review": 5, "reject": 3, "no_match": 2, "pending": 5}
    assert list(data["bands"]) == list(BANDS)
    assert sum(data["bands"].values()) == table.height
    assert sum(data["bands_keys"].values()) == data["keys"]
    assert data["with_artwork_rows"] == 11


def test_pending_counts_name_their_answer_reasons(report: Report) -> None:
    _table, stats = report
    pending = stats.to_json()["pending"]
    assert pending == {
        "rows": 5,
        "keys": 5,
        "transient_keys": 2,
        "error_keys": 1,
        "not_asked_keys": 2,
        "reasons": {
            "not_asked": 2,
            "pending_error:http_400": 1,
            "pending_transient:degraded_deadline_exceeded": 1,
            "pending_transient:timeout_flag": 1,
        },
    }


def test_reasons_search_types_and_histogram(report: Report) -> None:
    _table, stats = report
    data = stats.to_json()
    assert data["reasons"]["rowless"] == 5
    assert data["reasons"]["album_mismatch"] == 3
    assert data["reasons"]["pending_transient"] == 2  # counted by code, detail dropped
    assert data["reasons"]["sibling_row"] == 1 and data["reasons_keys"]["sibling_row"] == 1
    assert all(code in REASONS for code in data["reasons"])
    assert data["search_types"] == {"alternative": 7, "-": 5, "direct": 4, "fallback": 1}
    assert data["search_types_rows"]["direct"] == 5
    bins = data["histogram"]
    assert len(bins) == 10 and bins[0]["low"] == 0 and bins[-1]["high"] == 100
    assert sum(b["rows"] for b in bins) == 3 + 5 + 3  # high, review and reject rows
    assert bins[-1]["bands"] == {"high": 3, "review": 5, "reject": 0}  # 100 lands in the last bin
    assert data["cache"]["answers"] == 16
    assert data["thresholds"]["high_album"] == 90.0


def test_samples_per_band_are_bounded_and_stable(report: Report, cache_path: Path) -> None:
    table, stats = report
    assert {band: len(rows) for band, rows in stats.samples.items()} == {
        "high": 2,
        "review": 2,
        "reject": 2,
        "no_match": 2,
        "pending": 2,
    }
    for band, rows in stats.samples.items():
        assert all(r.band == band for r in rows)
    reject = stats.to_json()["samples"]["reject"][0]
    assert set(reject) >= {
        "artist_name",
        "album_title",
        "matched_artist",
        "matched_album",
        "reasons",
    }
    again = compute_stats(table, sample=2)
    assert again.samples == stats.samples
    assert all(not rows for rows in compute_stats(table, sample=0).samples.values())


def test_compute_stats_on_an_empty_table(report: Report) -> None:
    table, _stats = report
    stats = compute_stats(table.clear())
    assert stats.candidates == 0 and stats.keys == 0
    assert stats.bands == dict.fromkeys(BANDS, 0)
    assert render_html(table.clear(), stats)  # an empty page still renders


# -- export ---------------------------------------------------------------------------------


def test_export_csv_layout_and_round_trip(report: Report, tmp_path: Path) -> None:
    table, _stats = report
    path = tmp_path / "out" / "matches.csv"
    assert export_matches(table, path) == 18
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    required = {
        "library_id",
        "legacy_release_id",
        "artist_name",
        "album_title",
        "band",
        "score",
        "reasons",
        "artwork_url",
        "matched_artist",
        "matched_album",
        "search_type",
        "decision",
        "verdict_id",
    }
    assert required <= set(EXPORT_COLUMNS)
    assert len(rows) == 18 and all(r["decision"] == "" for r in rows)
    by_id = {int(r["library_id"]): r for r in rows}
    assert by_id[12]["artist_name"] == XSS_ARTIST and by_id[12]["album_title"] == XSS_ALBUM
    assert by_id[1]["band"] == "high" and by_id[1]["score"] == "100.00"
    assert by_id[1]["artwork_url"].startswith("https://i.discogs.com/")
    assert by_id[13]["artwork_url"] == "" and by_id[13]["band"] == "pending"
    current = dict(zip(table["library_id"].to_list(), table["verdict_id"].to_list(), strict=True))
    assert all(by_id[i]["verdict_id"] == v for i, v in current.items())
    # the page's download is built from the very same cells
    assert path.read_text(encoding="utf-8") == csv_text(csv_cells(table))


def test_export_parquet_keeps_types(report: Report, tmp_path: Path) -> None:
    table, _stats = report
    path = tmp_path / "matches.parquet"
    export_matches(table, path)
    frame = pl.read_parquet(path)
    assert tuple(frame.columns) == EXPORT_COLUMNS
    assert frame.schema["library_id"] == pl.Int64 and frame.schema["score"] == pl.Float64
    assert frame["decision"].to_list() == [""] * 18
    assert frame.filter(pl.col("library_id") == 12)["album_title"].item() == XSS_ALBUM


@pytest.mark.parametrize("name", ["matches.json", "matches", "matches.xlsx"])
def test_export_refuses_other_formats(report: Report, tmp_path: Path, name: str) -> None:
    table, _stats = report
    with pytest.raises(UserError, match=r"\.csv or \.parquet"):
        export_matches(table, tmp_path / name)


# -- the page (static checks; tests/test_html_browser.py drives it in Chromium) --------------


def test_page_is_self_contained_and_escapes_values(report: Report) -> None:
    table, stats = report
    page = render_html(table, stats)
    assert page.count("<script") == 2  # the JSON data and the one inline script
    # nothing is fetched but the covers themselves
    assert not re.search(r"<(link|iframe|object|embed)\b", page)
    assert not re.search(r"""\s(src|href)=["']?https?:""", page)
    assert "@import" not in page and "url(" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in html.unescape(page)
    # the hostile title never appears as markup: inside the data, < > & are JSON escapes
    assert "</script><img" not in page and "<b>Band</b>" not in page
    assert "onerror=" not in page.split('id="review-data">', 1)[0]
    data = json.loads(page.split('id="review-data">', 1)[1].split("</script>", 1)[0])
    assert data["columns"] == list(EXPORT_COLUMNS)
    row = next(r for r in data["rows"] if r[0] == "12")
    assert XSS_ARTIST in row and XSS_ALBUM in row
    assert data["defaultBand"] == "review"
    assert data["storageKey"] == storage_key(stats.cache)
    assert data["reasons"]["rowless"] == REASONS["rowless"]


def test_page_knows_why_only_review_rows_can_be_accepted(report: Report) -> None:
    """The page is told why each band but `review` cannot be accepted (decisions.py says the
    same for a decisions file); the bulk accept says it touches review rows only."""
    from artwork_backfill.review.report import NOT_REVIEWABLE

    table, stats = report
    page = render_html(table, stats)
    data = json.loads(page.split('id="review-data">', 1)[1].split("</script>", 1)[0])
    assert data["notReviewable"] == NOT_REVIEWABLE
    assert set(NOT_REVIEWABLE) == set(BANDS) - {"review"}
    assert NOT_REVIEWABLE["reject"] == "a rejected cover is never written"
    assert 'id="notice" role="alert"' in page
    assert 'title="accept every undecided review row shown on this page' in page


def test_page_placeholders_are_not_expanded_inside_values(report: Report) -> None:
    table, stats = report
    sneaky = table.with_columns(pl.lit("@SCRIPT@ @DATA@").alias("album_title"))
    page = render_html(sneaky, stats)
    assert page.count("@SCRIPT@ @DATA@") == sneaky.height
    assert page.count("<script") == 2


def test_storage_key_differs_per_cache() -> None:
    assert storage_key({"path": "/a.duckdb", "source": "x"}) != storage_key(
        {"path": "/b.duckdb", "source": "x"}
    )


# -- the command ----------------------------------------------------------------------------


def test_report_json(cache_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--cache", str(cache_path), "report", "--json", "--sample", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"candidates", "keys", "bands", "bands_keys", "histogram", "reasons", "pending"} <= set(
        data
    )
    assert data["candidates"] == 18 and data["keys"] == 17
    assert data["bands"]["review"] == 5
    assert all(len(rows) <= 1 for rows in data["samples"].values())
    assert data["files"] == {}


def test_report_text(
    cache_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stdout, "width", 250)  # no wrapping inside the table cells
    assert run(["--cache", str(cache_path), "report", "--sample", "50"]) == 0
    out = capsys.readouterr().out
    for text in (
        "18 candidate rows, 17 keys",
        "score histogram",
        "█",
        "rowless",
        REASONS["rowless"],
        "search_type",
        "pending: 5 keys",
        "pending_transient:timeout_flag",
        "Emperor Tomato Ketchup",
        "Tzenni",
        XSS_ARTIST,
        "Seatrain [1970 debut]",
    ):
        assert text in out, text


def test_report_writes_export_and_page(
    cache_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_path, html_path, pq_path = (
        tmp_path / "m.csv",
        tmp_path / "review.html",
        tmp_path / "m.parquet",
    )
    assert (
        run(
            [
                "--cache",
                str(cache_path),
                "report",
                "--json",
                "--export",
                str(csv_path),
                "--html",
                str(html_path),
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["files"] == {"export": str(csv_path), "html": str(html_path)}
    assert csv_path.read_text().startswith("library_id,decision,band,")
    assert html_path.read_text().startswith("<!doctype html>")
    assert run(["--cache", str(cache_path), "report", "--export", str(pq_path)]) == 0
    assert f"to {pq_path}" in capsys.readouterr().out
    assert pl.read_parquet(pq_path).height == 18


def test_report_threshold_override(cache_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "--cache",
        str(cache_path),
        "report",
        "--json",
        "--threshold",
        "high_album=95",
        "--threshold",
        " min_lml_confidence = 0.5 ",
    ]
    assert run(args) == 0
    assert json.loads(capsys.readouterr().out)["thresholds"] == {
        **Thresholds().as_dict(),
        "high_album": 95.0,
        "min_lml_confidence": 0.5,
    }


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("high_album", "expected name=value"),
        ("=3", "expected name=value"),
        ("high_album=lots", "must be a number"),
        ("high_album=250", "between 0 and 100"),
        ("no_such_knob=1", "unknown threshold"),
        ("review_album=95", "must not exceed high_album"),
    ],
)
def test_report_bad_threshold_is_one_line(
    cache_path: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    assert run(["--cache", str(cache_path), "report", "--threshold", value]) == 1
    assert message in _one_line_error(capsys)


def test_report_missing_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.duckdb"
    assert run(["--cache", str(missing), "report"]) == 1
    line = _one_line_error(capsys)
    assert str(missing) in line and "does not exist" in line
    assert not missing.exists()  # read-only: never creates a cache


def test_report_bad_export_name(
    cache_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--cache", str(cache_path), "report", "--export", str(tmp_path / "m.txt")]) == 1
    assert ".csv or .parquet" in _one_line_error(capsys)
    assert run(["--cache", str(cache_path), "report", "--html", str(tmp_path / "m.txt")]) == 1
    assert ".html" in _one_line_error(capsys)


def test_report_not_a_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_text("this is not a database")
    assert run(["--cache", str(bogus), "report"]) == 1
    _one_line_error(capsys)


def test_export_quotes_like_the_page(report: Report, tmp_path: Path) -> None:
    """The export quotes column-wise in polars; the page quotes cell by cell: same text."""
    table, _stats = report
    tricky = table.with_columns(
        pl.Series(
            "album_title",
            ['a "b", c', "line\nbreak", "cr\rhere", "", "plain"] * 3 + ["x", "y", "z"],
        )
    )
    path = tmp_path / "tricky.csv"
    export_matches(tricky, path)
    assert path.read_bytes().decode("utf-8") == csv_text(csv_cells(tricky))
    with path.open(encoding="utf-8", newline="") as handle:
        titles = [row["album_title"] for row in csv.DictReader(handle)]
    assert titles == tricky["album_title"].to_list()


@pytest.mark.parametrize(
    "cell", ['=HYPERLINK("http://x","y")', "@SUM(1)", "+1+1", "-2+3", "\tTab", "\rCR", "=1,2"]
)
def test_export_neutralises_spreadsheet_formulas(report: Report, tmp_path: Path, cell: str) -> None:
    """CSV injection (CWE-1236): a cell a spreadsheet would run is written after a `'`, by
    the polars writer and the reference alike; other cells are left as they are."""
    table, _stats = report
    tricky = table.with_columns(pl.lit(cell).alias("artist_name"))
    path = tmp_path / "formulas.csv"
    export_matches(tricky, path)
    assert path.read_bytes().decode("utf-8") == csv_text(csv_cells(tricky))
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["artist_name"] for r in rows} == {"'" + cell}
    assert {r["album_title"] for r in rows} == set(table["album_title"].to_list())
    from artwork_backfill.review.report import csv_field

    assert csv_field("plain=1") == "plain=1" and csv_field("'=x") == "'=x"
    assert csv_field("=a,b") == '"\'=a,b"'


def test_blocked_rows_name_the_url_rules(report: Report) -> None:
    from artwork_backfill.judge.urls import cover_problems
    from artwork_backfill.review.report import blocked_rows

    table, _stats = report
    assert blocked_rows(table) == {}  # every cover in the scenario cache is a valid Discogs URL
    assert cover_problems(None, None, "") == ["no_artwork_url"]
    assert cover_problems("http://i.discogs.com/x.jpeg", 5, "") == ["url_not_https"]
    assert cover_problems("https://i.discogs.com/x.jpeg", 5, "artist_photo;rowless") == [
        "artist_photo"
    ]
    long_url = "https://i.discogs.com/" + "a" * 600
    assert "url_too_long" in cover_problems(long_url, 5, "")


def test_the_polars_csv_writer_quotes_exactly_as_the_reference() -> None:
    """The export is written by polars; `csv_text` (and the page's JS) is the reference. Seeded
    random cells full of what needs quoting: commas, quotes, lone CR, LF, empty cells."""
    import random

    from artwork_backfill.review.report import _csv_text_of

    rng = random.Random(20261201)
    alphabet = ["a", "Z", ",", '"', "\r", "\n", " ", "=", "é", ";", "\t", "''"]
    rows = [
        ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in EXPORT_COLUMNS]
        for _ in range(2_000)
    ]
    cells = pl.DataFrame(
        {c: [row[i] for row in rows] for i, c in enumerate(EXPORT_COLUMNS)},
        schema={c: pl.String for c in EXPORT_COLUMNS},
    )
    assert _csv_text_of(cells) == csv_text(rows)
