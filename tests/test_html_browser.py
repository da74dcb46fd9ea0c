"""The review page in a real headless Chromium, driven over the DevTools protocol.

Needs /usr/bin/chromium (Debian's `chromium` package; ARTWORK_BACKFILL_CHROMIUM names another
binary). Without it these tests FAIL, so a machine that lost its browser cannot pass quietly;
set ARTWORK_BACKFILL_NO_BROWSER=1 to skip them on purpose.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from artwork_backfill.cache import Cache
from artwork_backfill.decisions import read_decisions
from artwork_backfill.matches import MATCH_SCHEMA
from artwork_backfill.report import (
    EXPORT_COLUMNS,
    ReportStats,
    build_report,
    compute_stats,
    csv_cells,
    csv_text,
    write_html,
)
from artwork_backfill.score import REASONS
from tests._cdp import CHROMIUM, Browser, Page
from tests._report_cache import XSS_ALBUM, XSS_ARTIST, build_cache, cover_url

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

Review = tuple[pl.DataFrame, ReportStats, Path]
READY = "document.body && document.body.dataset.ready === '1'"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if os.environ.get("ARTWORK_BACKFILL_NO_BROWSER") == "1":
        pytest.skip("ARTWORK_BACKFILL_NO_BROWSER=1: the review page is not tested in a browser")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"the review-page tests need Chromium at {CHROMIUM} and it is not there: install it "
            "(apt-get install -y chromium, or run scripts/bootstrap.sh), point "
            "ARTWORK_BACKFILL_CHROMIUM at one, or set ARTWORK_BACKFILL_NO_BROWSER=1 to skip these tests",
            pytrace=False,
        )
    with Browser(timeout=30) as b:
        yield b


@pytest.fixture(scope="module")
def review(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, ReportStats, Path]:
    root = tmp_path_factory.mktemp("review")
    with Cache(build_cache(root / "cache.duckdb"), read_only=True) as cache:
        table, stats = build_report(cache, sample=0)
    page = root / "review.html"
    write_html(table, stats, page, page_size=4)  # small pages, so paging is exercised too
    return table, stats, page


def open_page(browser: Browser, path: Path) -> Page:
    page = browser.new_page()
    page.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
    )
    page.goto(path.as_uri(), ready=READY)
    return page


def shown(page: Page) -> list[dict[str, str]]:
    return page.eval(
        """Array.from(document.querySelectorAll('#rows tbody tr')).map(tr => ({
             id: tr.dataset.libraryId, band: tr.dataset.band, decision: tr.dataset.decision,
             score: tr.querySelector('td.score').textContent }))"""
    )


def ids(page: Page) -> list[int]:
    return [int(r["id"]) for r in shown(page)]


def pager(page: Page) -> str:
    return page.eval("document.getElementById('page').textContent")


def status(page: Page) -> str:
    return page.eval("document.getElementById('status').textContent")


def reload(page: Page) -> None:
    page.eval("window.__beforeReload = true")
    page.send("Page.reload", {"ignoreCache": True})
    page.wait_for(f"!window.__beforeReload && {READY}")


def page_errors(browser: Browser) -> list[dict[str, object]]:
    return [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"]


def test_filter_decide_persist_and_download(
    browser: Browser, review: Review, tmp_path: Path
) -> None:
    table, _stats, path = review
    page = open_page(browser, path)

    # The page opens on the review band.
    assert page.eval("document.getElementById('band').value") == "review"
    assert {r["band"] for r in shown(page)} == {"review"}
    assert pager(page) == "page 1 of 2 (5 rows)"

    # Filtering by band shows that band only.
    page.select("#band", "reject")
    assert {r["band"] for r in shown(page)} == {"reject"} and len(shown(page)) == 3
    page.select("#band", "")
    assert pager(page) == "page 1 of 5 (18 rows)"
    page.select("#sort", "score-desc")
    scores = [float(r["score"]) for r in shown(page)]
    assert scores == sorted(scores, reverse=True)

    # Filtering by reason.
    page.select("#reason", "rowless")
    assert pager(page) == "page 1 of 2 (5 rows)"
    page.select("#reason", "")

    # Decide with real mouse clicks, across pages.
    page.select("#band", "review")
    page.select("#sort", "id")
    assert ids(page) == [9, 12, 14, 15]
    page.click('tr[data-library-id="9"] button.accept')
    page.click('tr[data-library-id="14"] button.reject')
    assert {r["id"]: r["decision"] for r in shown(page)} == {
        "9": "accept",
        "12": "",
        "14": "reject",
        "15": "",
    }
    page.click("#next")
    assert ids(page) == [16] and pager(page) == "page 2 of 2 (5 rows)"
    page.click('tr[data-library-id="16"] button.accept')
    page.click('tr[data-library-id="16"] button.accept')  # a second click takes it back
    assert shown(page)[0]["decision"] == ""
    page.click('tr[data-library-id="16"] button.reject')
    page.select("#band", "high")
    page.click('tr[data-library-id="1"] button.accept')
    assert status(page).startswith("2 accepted, 2 rejected")

    # A row without a cover cannot be accepted.
    page.select("#band", "no_match")
    assert (
        page.eval("document.querySelector('tr[data-library-id=\"3\"] button.accept').disabled")
        is True
    )

    # Decisions survive a reload (localStorage, keyed by cache).
    reload(page)
    assert status(page).startswith("2 accepted, 2 rejected")
    page.select("#band", "")
    page.select("#decision", "accept")
    assert sorted(ids(page)) == [1, 9]
    page.select("#decision", "reject")
    assert sorted(ids(page)) == [14, 16]

    # The download is the export's CSV with the decisions filled in, and read_decisions takes it.
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.send(
        "Browser.setDownloadBehavior",
        {"behavior": "allow", "downloadPath": str(downloads), "eventsEnabled": True},
    )
    page.click("#download")
    target = downloads / "decisions.csv"
    deadline = time.monotonic() + 20
    while not target.exists() or any(downloads.glob("*.crdownload")):
        assert time.monotonic() < deadline, (
            f"no download in {downloads}: {list(downloads.iterdir())}"
        )
        time.sleep(0.05)
    text = target.read_text(encoding="utf-8")
    assert text == page.eval("window.artworkBackfillLastCsv")
    wanted = {"1": "accept", "9": "accept", "14": "reject", "16": "reject"}
    expected_rows = [
        [
            wanted.get(row[0], "") if name == "decision" else cell
            for name, cell in zip(EXPORT_COLUMNS, row, strict=True)
        ]
        for row in csv_cells(table)
    ]
    assert text == csv_text(expected_rows)
    decisions = read_decisions(target, table)
    assert decisions.accepted == {1, 9}
    assert decisions.rejected == {14, 16}
    assert decisions.rows == table.height
    assert page_errors(browser) == []


def test_values_stay_text(browser: Browser, review: Review) -> None:
    _table, _stats, path = review
    page = open_page(browser, path)
    page.select("#band", "")
    page.select("#sort", "id")
    for _ in range(2):
        page.click("#next")
    assert 12 in ids(page)
    cell = page.eval(
        """(() => { const tr = document.querySelector('tr[data-library-id="12"]');
             return { shelf: Array.from(tr.querySelectorAll('td.shelf div')).map(d => d.textContent),
                      matched: Array.from(tr.querySelectorAll('td.matched div')).map(d => d.textContent),
                      tags: Array.from(tr.querySelectorAll('td.shelf *, td.matched *')).map(e => e.tagName) }; })()"""
    )
    assert cell["shelf"][:2] == [XSS_ARTIST, XSS_ALBUM]
    assert cell["matched"][:2] == [XSS_ARTIST, XSS_ALBUM]
    assert set(cell["tags"]) == {"DIV"}  # nothing in the titles became an element
    assert page.eval("typeof window.__pwned") == "undefined"
    assert (
        page.eval("document.querySelectorAll('#rows img[src=\"x\"], #rows b, #rows script').length")
        == 0
    )
    # every reason chip explains itself on hover
    chips = page.eval(
        "Array.from(document.querySelectorAll('#rows .reason')).map(c => [c.textContent, c.title])"
    )
    assert chips and all(title == REASONS[text.split(":")[0]] for text, title in chips)
    # covers are lazy images of the artwork URL, nothing else is loaded
    images = page.eval(
        "Array.from(document.querySelectorAll('#rows img')).map(i => [i.loading, i.getAttribute('src')])"
    )
    assert images and all(
        lazy == "lazy" and src.startswith("https://i.discogs.com/") for lazy, src in images
    )
    assert page_errors(browser) == []


def synthetic_table(n: int) -> pl.DataFrame:
    """A match table of `n` rows in every band, without scoring (for size only)."""
    bands = ["review", "high", "reject", "no_match", "pending"]
    rows: dict[str, list[object]] = {name: [] for name in MATCH_SCHEMA}
    for i in range(n):
        band = bands[i % 5]
        has_cover = band in ("high", "review", "reject")
        values = {
            "library_id": i + 1,
            "legacy_release_id": 100000 + i,
            "artist_name": f'Artist {i % 997} & "Friends"',
            "album_title": f"Album <{i}>, Vol. {i % 7}",
            "format_name": "cd",
            "key_id": f"k{i}",
            "band": band,
            "score": float(i % 101) if has_cover else 0.0,
            "reasons": "rowless;search_type_alternative" if band == "review" else "",
            "artwork_url": cover_url(5000000 + i) if has_cover else None,
            "matched_artist": f"Artist {i % 997}" if has_cover else None,
            "matched_album": f"Album {i}" if has_cover else None,
            "matched_release_id": 5000000 + i if has_cover else None,
            "matched_library_item_id": 0 if has_cover else None,
            "search_type": "alternative" if has_cover else None,
            "classification": "match",
            "answer_reason": "results",
            "endpoint": "single",
            "response_id": i + 1,
            "verdict_id": f"{i:016x}",
        }
        for name, value in values.items():
            rows[name].append(value)
    return pl.DataFrame(rows, schema=MATCH_SCHEMA)


def test_twenty_thousand_rows_stay_usable(browser: Browser, tmp_path: Path) -> None:
    table = synthetic_table(20_000)
    path = tmp_path / "big.html"
    write_html(
        table,
        compute_stats(table, sample=0, cache_info={"path": str(tmp_path / "big.duckdb")}),
        path,
    )
    page = browser.new_page()
    started = time.monotonic()
    page.goto(path.as_uri(), ready=READY)
    load = time.monotonic() - started
    assert pager(page) == "page 1 of 80 (4000 rows)"  # review band, 50 a page
    assert len(shown(page)) == 50  # only one page is in the DOM
    timings = {}
    for band in ("", "high", "reject", "review"):
        started = time.monotonic()
        page.select("#band", band)
        timings[band or "all"] = time.monotonic() - started
    started = time.monotonic()
    page.eval(
        "document.getElementById('search').value = 'artist 996'; "
        "document.getElementById('search').dispatchEvent(new Event('input'))"
    )
    page.wait_for("document.getElementById('page').textContent.includes('(4 rows)')")
    timings["search"] = time.monotonic() - started
    csv_started = time.monotonic()
    size = page.eval("window.artworkBackfillReview.csv().length")
    timings["csv"] = time.monotonic() - csv_started
    print(
        json.dumps(
            {
                "load_s": round(load, 2),
                **{k: round(v, 3) for k, v in timings.items()},
                "page_mb": round(path.stat().st_size / 1e6, 1),
            }
        )
    )
    assert size == len(csv_text(csv_cells(table)))
    assert load < 15, load
    assert max(timings.values()) < 3, timings


def test_a_cover_that_breaks_the_url_rules_cannot_be_accepted(
    browser: Browser, review: Review, tmp_path: Path
) -> None:
    table, stats, _path = review
    http = table.with_columns(
        pl.when(pl.col("library_id") == 4)
        .then(pl.col("artwork_url").str.replace("https://", "http://"))
        .otherwise(pl.col("artwork_url"))
        .alias("artwork_url")
    )
    path = tmp_path / "http.html"
    write_html(http, stats, path)
    page = open_page(browser, path)
    page.select("#band", "reject")
    buttons = page.eval(
        """Array.from(document.querySelectorAll('#rows tbody tr')).map(tr => [tr.dataset.libraryId,
             tr.querySelector('button.accept').disabled, tr.querySelector('button.accept').title])"""
    )
    by_id = {int(i): (disabled, title) for i, disabled, title in buttons}
    assert by_id[4][0] is True and "url_not_https" in by_id[4][1]
    assert by_id[5] == (False, "")  # a refused title can still be overruled by a person
    page.click('tr[data-library-id="4"] button.accept')
    assert page.eval("document.querySelector('tr[data-library-id=\"4\"]').dataset.decision") == ""
