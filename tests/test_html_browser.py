"""The review page in a real headless Chromium, driven with Selenium (WebDriver).

Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian's `chromium` and `chromium-driver`
packages, which Debian keeps at one version; ARTWORK_BACKFILL_CHROMIUM and
ARTWORK_BACKFILL_CHROMEDRIVER name others). Without them these tests FAIL, so a machine that
lost its browser cannot pass quietly; set ARTWORK_BACKFILL_NO_BROWSER=1 to skip them on purpose.

Nothing here sleeps: every wait is one of the driver's explicit waits on a condition, bounded
by `WAIT`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from artwork_backfill.cache.store import Cache
from artwork_backfill.judge.reasons import REASONS
from artwork_backfill.review.decisions import read_decisions
from artwork_backfill.review.matches import MATCH_SCHEMA
from artwork_backfill.review.report import (
    EXPORT_COLUMNS,
    ReportStats,
    build_report,
    compute_stats,
    csv_cells,
    csv_text,
    write_html,
)
from tests._report_cache import XSS_ALBUM, XSS_ARTIST, build_cache, cover_url

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

CHROMIUM = os.environ.get("ARTWORK_BACKFILL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ARTWORK_BACKFILL_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT = 30.0  # seconds: the bound on every wait for the browser (a loaded machine is slow)

Review = tuple[pl.DataFrame, ReportStats, Path]
READY = "document.body && document.body.dataset.ready === '1'"


class Browser:
    """One headless Chromium under chromedriver, the directory it downloads into, and the
    uncaught JavaScript errors of every page it showed."""

    def __init__(self, downloads: Path) -> None:
        self.downloads = downloads
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--mute-audio",
            # Cover images point at Discogs: the tests never reach the internet.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--window-size=1280,900",
        ):
            options.add_argument(arg)
        options.add_experimental_option(
            "prefs",
            {"download.default_directory": str(downloads), "download.prompt_for_download": False},
        )
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # The driver named outright: Selenium Manager never looks for (or downloads) one.
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        self.driver.set_script_timeout(WAIT)
        self.driver.set_page_load_timeout(WAIT)
        self._errors: list[dict[str, Any]] = []

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Uncaught exceptions in the pages so far (the browser log's `javascript` entries)."""
        self._errors += [e for e in self.driver.get_log("browser") if e["source"] == "javascript"]
        return self._errors

    def close(self) -> None:
        self.driver.quit()


class Page:
    """The page the browser shows, with what the tests do to it."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.driver = browser.driver

    def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        return self.driver.execute_script(f"return ({expression});")

    def wait_for(self, expression: str, *, timeout: float = WAIT) -> Any:
        """Wait (bounded) until a JavaScript expression is truthy in the page; its value."""
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(
                lambda _driver: self.eval(expression)
            )
        except TimeoutException:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {expression}") from None

    def goto(self, url: str) -> None:
        self.driver.get(url)
        self.wait_for(READY)

    def element(self, selector: str) -> Any:
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def click(self, selector: str) -> None:
        """A real mouse click at the centre of the element (scrolled to the middle of the
        window, clear of the sticky controls); a disabled button takes it and does nothing."""
        element = self.element(selector)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def select(self, selector: str, value: str) -> None:
        """Choose an option the way a user does: a click on it (the page sees `change`)."""
        Select(self.element(selector)).select_by_value(value)
        assert self.element(selector).get_attribute("value") == value

    def press_enter(self) -> None:
        """The Enter key (down and up), on whatever has the focus."""
        ActionChains(self.driver).send_keys(Keys.ENTER).perform()

    def reload(self) -> None:
        self.eval("window.__beforeReload = true")
        self.driver.refresh()
        self.wait_for(f"!window.__beforeReload && {READY}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if os.environ.get("ARTWORK_BACKFILL_NO_BROWSER") == "1":
        pytest.skip("ARTWORK_BACKFILL_NO_BROWSER=1: the review page is not tested in a browser")
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            f"the review-page tests need Chromium at {CHROMIUM} and its driver at {CHROMEDRIVER}, "
            f"and {' and '.join(missing)} is not there: install them (apt-get install -y chromium "
            "chromium-driver, or run WANT_BROWSER=1 scripts/bootstrap.sh), point "
            "ARTWORK_BACKFILL_CHROMIUM / ARTWORK_BACKFILL_CHROMEDRIVER at others, or set "
            "ARTWORK_BACKFILL_NO_BROWSER=1 to skip these tests",
            pytrace=False,
        )
    b = Browser(tmp_path_factory.mktemp("browser-downloads"))
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def review(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, ReportStats, Path]:
    root = tmp_path_factory.mktemp("review")
    with Cache(build_cache(root / "cache.duckdb"), read_only=True) as cache:
        table, stats = build_report(cache, sample=0)
    page = root / "review.html"
    write_html(table, stats, page, page_size=4)  # small pages, so paging is exercised too
    return table, stats, page


def open_page(browser: Browser, path: Path) -> Page:
    page = Page(browser)
    page.goto(path.as_uri())
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
    page.reload()


def page_errors(browser: Browser) -> list[dict[str, Any]]:
    return browser.errors


def notice(page: Page) -> str:
    return page.eval("document.getElementById('notice').textContent")


def decision_of(page: Page, library_id: int) -> str:
    """The decision the page holds for a row (shown or not)."""
    return page.eval(f"window.artworkBackfillReview.decision({library_id})")


def accept_button(page: Page, library_id: int) -> tuple[bool, str]:
    """(disabled, title) of a shown row's accept button."""
    disabled, title = page.eval(
        f"""(() => {{ const b = document.querySelector('tr[data-library-id="{library_id}"] button.accept');
             return [b.disabled, b.title]; }})()"""
    )
    return disabled, title


REJECT_REFUSAL = (
    "library {} is reject: reviewers decide review rows only; a rejected cover is never written"
)
HIGH_REFUSAL = (
    "library {} is high: reviewers decide review rows only; it is written without a decision "
    "(reject it to hold it back)"
)
NO_MATCH_REFUSAL = (
    "library {} is no_match: reviewers decide review rows only; LML found no cover for it, "
    "so nothing is written"
)
PENDING_REFUSAL = (
    "library {} is pending: reviewers decide review rows only; LML has not answered for it yet, "
    "so nothing is written"
)


def download(browser: Browser, page: Page, downloads: Path) -> tuple[Path, str]:
    """Click the page's download button; the saved file (moved to `downloads`) and its text
    (equal to the page's CSV)."""
    downloads.mkdir()
    for old in browser.downloads.iterdir():  # a second decisions.csv would be "decisions (1).csv"
        old.unlink()
    page.click("#download")
    saved = browser.downloads / "decisions.csv"
    try:
        WebDriverWait(browser.driver, WAIT, poll_frequency=0.05).until(
            lambda _driver: saved.exists() and not any(browser.downloads.glob("*.crdownload"))
        )
    except TimeoutException:
        raise AssertionError(
            f"no download in {browser.downloads} within {WAIT:g}s: "
            f"{list(browser.downloads.iterdir())}"
        ) from None
    target = Path(shutil.move(saved, downloads / "decisions.csv"))
    text = target.read_text(encoding="utf-8")
    assert text == page.eval("window.artworkBackfillLastCsv")
    return target, text


def expected_csv(table: pl.DataFrame, wanted: dict[str, str]) -> str:
    """The export's CSV with these decisions (by library id) filled in."""
    return csv_text(
        [
            [
                wanted.get(row[0], "") if name == "decision" else cell
                for name, cell in zip(EXPORT_COLUMNS, row, strict=True)
            ]
            for row in csv_cells(table)
        ]
    )


def csv_decisions(text: str) -> dict[int, str]:
    """library id -> decision of every decided row in a CSV the page made."""
    rows = csv.DictReader(io.StringIO(text))
    return {int(r["library_id"]): r["decision"] for r in rows if r["decision"]}


def own_page(review: Review, tmp_path: Path, page_size: int = 50) -> Path:
    """The review page for another cache path: its own saved decisions, all rows on one page."""
    table, stats, _path = review
    path = tmp_path / "own.html"
    write_html(
        table,
        dataclasses.replace(stats, cache={**stats.cache, "path": str(tmp_path / "own.duckdb")}),
        path,
        page_size=page_size,
    )
    return path


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
    page.click("#prev")
    page.click('tr[data-library-id="15"] button.accept')
    # A high row is written without a decision: it cannot be accepted, only held back.
    page.select("#band", "high")
    assert accept_button(page, 1) == (True, HIGH_REFUSAL.format(1))
    page.click('tr[data-library-id="1"] button.accept')
    assert decision_of(page, 1) == ""
    page.click('tr[data-library-id="1"] button.reject')
    assert status(page).startswith("2 accepted, 3 rejected")

    # A row without a cover cannot be accepted.
    page.select("#band", "no_match")
    assert (
        page.eval("document.querySelector('tr[data-library-id=\"3\"] button.accept').disabled")
        is True
    )

    # Decisions survive a reload (localStorage, keyed by cache).
    reload(page)
    assert status(page) == "2 accepted, 3 rejected"
    page.select("#band", "")
    page.select("#decision", "accept")
    assert sorted(ids(page)) == [9, 15]
    page.select("#decision", "reject")
    assert sorted(ids(page)) == [1, 14, 16]

    # The download is the export's CSV with the decisions filled in, and read_decisions takes it.
    target, text = download(browser, page, tmp_path / "downloads")
    wanted = {"9": "accept", "15": "accept", "1": "reject", "14": "reject", "16": "reject"}
    assert text == expected_csv(table, wanted)
    decisions = read_decisions(target, table)
    assert decisions.accepted == {9, 15}
    assert decisions.rejected == {1, 14, 16}
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
            "current_artwork_url": None,
            "audit": None,
            "audit_reasons": None,
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
    page = Page(browser)
    started = time.monotonic()
    page.goto(path.as_uri())
    load = time.monotonic() - started
    assert pager(page) == "page 1 of 80 (4000 rows)"  # review band, 50 a page
    assert len(shown(page)) == 50  # only one page is in the DOM
    timings = {}
    for band in ("", "high", "reject", "review"):
        started = time.monotonic()
        page.select("#band", band)
        timings[band or "all"] = time.monotonic() - started
    started = time.monotonic()
    page.element("#search").send_keys("artist 996")  # typed: an `input` event a key
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
    # The figures are printed for a person, never asserted: speed is for bench/report_speed.py,
    # and a loaded 2-core machine must not fail the suite. Each step above waits for its result.
    assert size == len(csv_text(csv_cells(table)))


def test_a_cover_that_breaks_the_url_rules_cannot_be_accepted(
    browser: Browser, review: Review, tmp_path: Path
) -> None:
    table, stats, _path = review
    # 4 is a reject row, 9 a review row: both get a cover that breaks the URL rules
    http = table.with_columns(
        pl.when(pl.col("library_id").is_in([4, 9]))
        .then(pl.col("artwork_url").str.replace("https://", "http://"))
        .otherwise(pl.col("artwork_url"))
        .alias("artwork_url")
    )
    path = tmp_path / "http.html"
    # its own cache path, so no decision saved by another test's page is loaded
    write_html(
        http, dataclasses.replace(stats, cache={"path": str(tmp_path / "http.duckdb")}), path
    )
    page = open_page(browser, path)
    page.select("#band", "reject")
    buttons = page.eval(
        """Array.from(document.querySelectorAll('#rows tbody tr')).map(tr => [tr.dataset.libraryId,
             tr.querySelector('button.accept').disabled, tr.querySelector('button.accept').title])"""
    )
    by_id = {int(i): (disabled, title) for i, disabled, title in buttons}
    assert by_id[4][0] is True and by_id[4][1].startswith(REJECT_REFUSAL.format(4) + " (and ")
    assert "url_not_https" in by_id[4][1]
    # a reject row is never written, whatever a person thinks of its titles
    assert by_id[5] == (True, REJECT_REFUSAL.format(5))
    page.click('tr[data-library-id="4"] button.accept')
    assert decision_of(page, 4) == ""
    page.select("#band", "review")
    disabled, title = accept_button(page, 9)
    assert disabled is True and title.startswith("library 9: this cover cannot be written: ")
    assert "url_not_https" in title
    assert accept_button(page, 12) == (False, "")
    page.click('tr[data-library-id="9"] button.accept')
    assert decision_of(page, 9) == ""
    assert page.eval("window.artworkBackfillReview.decide(9, 'accept')") is False
    assert notice(page).startswith("not accepted: library 9: this cover cannot be written: ")
    assert decision_of(page, 9) == ""


def test_only_review_rows_can_be_accepted(browser: Browser, review: Review, tmp_path: Path) -> None:
    table, _stats, _path = review
    page = open_page(browser, own_page(review, tmp_path))
    page.select("#band", "")
    page.select("#sort", "id")
    bands = {int(r["id"]): r["band"] for r in shown(page)}
    assert len(bands) == table.height  # every row on one page
    refusals = {
        "high": HIGH_REFUSAL,
        "reject": REJECT_REFUSAL,
        "no_match": NO_MATCH_REFUSAL,
        "pending": PENDING_REFUSAL,
    }
    for library_id, band in bands.items():
        expected = (False, "") if band == "review" else (True, refusals[band].format(library_id))
        assert accept_button(page, library_id) == expected, library_id
    assert page.eval(
        "Array.from(document.querySelectorAll('#rows button.reject')).every(b => !b.disabled)"
    )

    # A reject row still shows its refused cover, with its reasons, and may be rejected.
    assert bands[4] == "reject"
    cover = page.eval(
        "document.querySelector('tr[data-library-id=\"4\"] td.cover img').getAttribute('src')"
    )
    assert cover == table.filter(pl.col("library_id") == 4)["artwork_url"].item()
    chips = page.eval(
        "Array.from(document.querySelectorAll('tr[data-library-id=\"4\"] .reason')).map(c => c.textContent)"
    )
    assert "album_mismatch" in chips
    page.click('tr[data-library-id="4"] button.accept')  # disabled: a real click does nothing
    assert decision_of(page, 4) == "" and status(page) == "0 accepted, 0 rejected"
    page.click('tr[data-library-id="4"] button.reject')
    assert decision_of(page, 4) == "reject"
    page.click('tr[data-library-id="4"] button.reject')  # and taken back
    assert decision_of(page, 4) == ""

    # A button someone re-enabled (devtools, a stale page) is still refused, with a message.
    page.eval("document.querySelector('tr[data-library-id=\"5\"] button.accept').disabled = false")
    page.click('tr[data-library-id="5"] button.accept')
    assert decision_of(page, 5) == ""
    assert notice(page) == "not accepted: " + REJECT_REFUSAL.format(5)
    assert page.eval("document.getElementById('notice').getAttribute('role')") == "alert"

    # The keyboard: Enter on a (re-enabled, focused) accept button of a no_match row.
    page.eval(
        "(() => { const b = document.querySelector('tr[data-library-id=\"3\"] button.accept');"
        " b.disabled = false; b.focus(); })()"
    )
    assert page.eval("document.activeElement.closest('tr').dataset.libraryId") == "3"
    page.press_enter()
    assert decision_of(page, 3) == ""
    assert notice(page) == "not accepted: " + NO_MATCH_REFUSAL.format(3)
    # ...while Enter on a review row's accept button does accept it (the key path works)
    page.eval("document.querySelector('tr[data-library-id=\"12\"] button.accept').focus()")
    page.press_enter()
    assert decision_of(page, 12) == "accept" and notice(page) == ""

    # The console API goes through the same check.
    api = "window.artworkBackfillReview.decide"
    assert page.eval(f"{api}(7, 'accept')") is False
    assert notice(page) == "not accepted: " + PENDING_REFUSAL.format(7)
    assert page.eval(f"{api}(1, 'accept')") is False
    assert notice(page) == "not accepted: " + HIGH_REFUSAL.format(1)
    assert page.eval(f"{api}(1, 'reject')") is True and decision_of(page, 1) == "reject"
    assert page.eval(f"{api}(9, 'accept')") is True and decision_of(page, 9) == "accept"
    assert notice(page) == ""
    assert page.eval("window.artworkBackfillReview.decisions") is None  # no raw map to edit
    assert {int(r["id"]): r["decision"] for r in shown(page) if r["decision"]} == {
        1: "reject",
        9: "accept",
        12: "accept",
    }
    assert status(page) == "2 accepted, 1 rejected"

    _target, text = download(browser, page, tmp_path / "downloads")
    assert text == expected_csv(table, {"1": "reject", "9": "accept", "12": "accept"})
    assert page_errors(browser) == []


def test_accept_page_touches_review_rows_only(
    browser: Browser, review: Review, tmp_path: Path
) -> None:
    table, _stats, _path = review
    page = open_page(browser, own_page(review, tmp_path))
    page.select("#band", "")
    bands = {int(r["id"]): r["band"] for r in shown(page)}
    review_ids = {i for i, band in bands.items() if band == "review"}
    assert review_ids == {9, 12, 14, 15, 16} and len(bands) == table.height
    page.click('tr[data-library-id="12"] button.reject')  # a decided row is left alone
    page.click("#accept-page")
    decided = {int(r["id"]): r["decision"] for r in shown(page) if r["decision"]}
    assert decided == {9: "accept", 12: "reject", 14: "accept", 15: "accept", 16: "accept"}
    assert status(page) == "4 accepted, 1 rejected"
    assert notice(page) == (
        "accept page: accepted 4 review rows; 13 undecided rows left as they were "
        "(reviewers decide review rows only, and only a cover that can be written)"
    )
    # a page of reject rows only: nothing changes
    page.select("#band", "reject")
    page.click("#accept-page")
    assert {r["decision"] for r in shown(page)} == {""}
    assert notice(page).startswith("accept page: accepted 0 review rows; 3 undecided rows left")
    assert status(page) == "4 accepted, 1 rejected"

    target, text = download(browser, page, tmp_path / "downloads")
    assert csv_decisions(text) == decided
    decisions = read_decisions(target, table)
    assert decisions.accepted == {9, 14, 15, 16} and decisions.rejected == {12}
    assert page_errors(browser) == []


def test_saved_accepts_on_rows_that_are_not_review_are_dropped(
    browser: Browser, review: Review, tmp_path: Path
) -> None:
    """Decisions saved by an older page (which let a reject row be accepted) do not come back."""
    table, _stats, _path = review
    path = own_page(review, tmp_path)
    page = open_page(browser, path)
    verdicts = {str(i): v for i, v in table.select("library_id", "verdict_id").iter_rows()}
    saved = {
        "4": ["accept", verdicts["4"]],  # reject
        "1": ["accept", verdicts["1"]],  # high
        "7": ["accept", verdicts["7"]],  # pending
        "9": ["accept", verdicts["9"]],  # review: kept
        "5": ["reject", verdicts["5"]],  # a reject is kept
    }
    key = page.eval("JSON.parse(document.getElementById('review-data').textContent).storageKey")
    page.eval(f"localStorage.setItem({json.dumps(key)}, {json.dumps(json.dumps(saved))})")
    reload(page)
    assert status(page) == (
        "1 accepted, 1 rejected · 3 saved accepts dropped (reviewers decide review rows only)"
    )
    assert csv_decisions(page.eval("window.artworkBackfillReview.csv()")) == {
        9: "accept",
        5: "reject",
    }
    # the next decision saves what the page holds: the dropped accepts are gone for good
    page.select("#band", "")
    page.click('tr[data-library-id="16"] button.accept')
    stored = json.loads(page.eval(f"localStorage.getItem({json.dumps(key)})"))
    assert {k: v[0] for k, v in stored.items()} == {"9": "accept", "5": "reject", "16": "accept"}
    assert page_errors(browser) == []


# -- the keyboard (j/k or arrows move the current row; a, r, u decide it; ? shows the keys) ----


def press(page: Page, *keys: str) -> None:
    """Real key presses (down and up), on whatever has the focus."""
    ActionChains(page.driver).send_keys(*keys).perform()


def current(page: Page) -> str:
    """The library id of the current row ("" for none)."""
    return page.eval("window.artworkBackfillReview.current()")


def highlighted(page: Page) -> list[str]:
    """The library ids of the rows drawn as current (aria-current, and a frame on their cells)."""
    return page.eval(
        """Array.from(document.querySelectorAll('#rows tbody tr')).filter(tr =>
             tr.classList.contains('current') && tr.getAttribute('aria-current') === 'true' &&
             getComputedStyle(tr.cells[1]).boxShadow !== 'none').map(tr => tr.dataset.libraryId)"""
    )


def in_view(page: Page, library_id: str) -> bool:
    """The row is wholly in the window, below the sticky controls, and nothing covers it."""
    return page.eval(
        f"""(() => {{ const tr = document.querySelector('tr[data-library-id="{library_id}"]');
             const r = tr.getBoundingClientRect();
             const top = document.getElementById('controls').getBoundingClientRect().bottom;
             const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
             return r.top >= top - 1 && r.bottom <= window.innerHeight + 1 && !!hit && tr.contains(hit);
           }})()"""
    )


def left(page: Page) -> str:
    return page.eval("document.getElementById('left').textContent")


def go_to(page: Page, library_id: int) -> None:
    """Press j until the row is the current one (a bounded number of times)."""
    for _ in range(len(shown(page)) + 1):
        if current(page) == str(library_id):
            return
        press(page, "j")
    raise AssertionError(f"j never reached library {library_id} (at {current(page)!r})")


def test_keys_move_the_current_row_and_keep_it_in_view(
    browser: Browser, review: Review, tmp_path: Path
) -> None:
    table, _stats, _path = review
    page = open_page(browser, own_page(review, tmp_path))
    page.select("#band", "")
    page.select("#sort", "id")
    order = [str(i) for i in ids(page)]
    assert len(order) == table.height == 18  # one page, taller than the window
    assert current(page) == "" and highlighted(page) == []
    page.eval("document.activeElement.blur()")  # the keys go to the page, not the last select
    press(page, "j")
    assert current(page) == order[0] and highlighted(page) == [order[0]]
    for want in order[1:]:
        press(page, "j")
        assert current(page) == want and highlighted(page) == [want]
        assert in_view(page, want), want
    assert page.eval("window.scrollY") > 0  # the last rows were below the window
    press(page, "j")  # past the last row: it stays
    assert current(page) == order[-1]
    press(page, Keys.ARROW_UP)
    assert current(page) == order[-2] and highlighted(page) == [order[-2]]
    for want in reversed(order[:-2]):
        press(page, "k")
        assert current(page) == want and in_view(page, want), want
    press(page, Keys.ARROW_DOWN)
    assert current(page) == order[1] and highlighted(page) == [order[1]]
    # a row clicked is the current row
    page.click('tr[data-library-id="9"] td.score')
    assert current(page) == "9" and highlighted(page) == ["9"]
    # moving decides nothing
    assert status(page) == "0 accepted, 0 rejected"
    assert page_errors(browser) == []


def test_keys_move_across_pages(browser: Browser, review: Review, tmp_path: Path) -> None:
    page = open_page(browser, own_page(review, tmp_path, page_size=4))
    page.select("#sort", "id")  # the review band: 9, 12, 14, 15 | 16
    page.eval("document.activeElement.blur()")
    press(page, "k")  # no current row yet: k takes the page's last
    assert current(page) == "15"
    press(page, "j")
    assert current(page) == "16" and pager(page) == "page 2 of 2 (5 rows)"
    assert highlighted(page) == ["16"] and in_view(page, "16")
    press(page, "k")
    assert current(page) == "15" and pager(page) == "page 1 of 2 (5 rows)"
    assert highlighted(page) == ["15"]
    page.click("#next")  # the current row is always one on the page shown
    assert current(page) == "" and highlighted(page) == []
    press(page, "j")
    assert current(page) == "16"
    page.select("#band", "reject")  # so are new filters
    assert current(page) == "" and highlighted(page) == []
    assert page_errors(browser) == []


def test_keys_decide_the_current_row_and_count_what_is_left(
    browser: Browser, review: Review, tmp_path: Path
) -> None:
    table, _stats, _path = review
    page = open_page(browser, own_page(review, tmp_path))
    page.select("#sort", "id")  # the review band: 9, 12, 14, 15, 16
    page.eval("document.activeElement.blur()")
    assert left(page) == "5 of 5 review rows left to decide"
    # no current row: the keys say so and decide nothing
    press(page, "a")
    assert notice(page) == "no current row: press j or \u2193 to choose one"
    assert status(page) == "0 accepted, 0 rejected" and left(page).startswith("5 of 5")

    press(page, "j", "a")
    assert decision_of(page, 9) == "accept" and notice(page) == ""
    assert {r["id"]: r["decision"] for r in shown(page)}["9"] == "accept"  # painted
    assert left(page) == "4 of 5 review rows left to decide"
    press(page, "a")  # a key sets, it does not toggle like a second click
    assert decision_of(page, 9) == "accept" and left(page).startswith("4 of 5")
    press(page, "j", "r")
    assert decision_of(page, 12) == "reject" and current(page) == "12"
    assert left(page) == "3 of 5 review rows left to decide"
    assert status(page) == "1 accepted, 1 rejected"
    press(page, "a")  # a rejected review row may be accepted instead
    assert decision_of(page, 12) == "accept" and left(page).startswith("3 of 5")
    press(page, "u")
    assert decision_of(page, 12) == "" and left(page) == "4 of 5 review rows left to decide"
    press(page, "k", "u")
    assert decision_of(page, 9) == "" and left(page) == "5 of 5 review rows left to decide"
    assert status(page) == "0 accepted, 0 rejected"
    # a decision made by a click counts too, and the key clears it
    page.click('tr[data-library-id="14"] button.reject')
    assert left(page).startswith("4 of 5") and current(page) == "14"
    press(page, "u")
    assert decision_of(page, 14) == "" and left(page).startswith("5 of 5")
    assert csv_decisions(page.eval("window.artworkBackfillReview.csv()")) == {}
    assert table.filter(pl.col("band") == "review").height == 5
    assert page_errors(browser) == []


def test_key_accept_outside_the_review_band_is_refused(
    browser: Browser, review: Review, tmp_path: Path
) -> None:
    page = open_page(browser, own_page(review, tmp_path))
    page.select("#band", "")
    page.select("#sort", "id")
    page.eval("document.activeElement.blur()")
    key = page.eval("JSON.parse(document.getElementById('review-data').textContent).storageKey")
    stored = f"localStorage.getItem({json.dumps(key)})"
    go_to(page, 4)  # a reject row
    before = page.eval(stored)
    press(page, "a")
    assert decision_of(page, 4) == ""
    assert notice(page) == "not accepted: " + REJECT_REFUSAL.format(4)  # what the button says
    assert page.eval(stored) == before and status(page) == "0 accepted, 0 rejected"
    assert left(page) == "5 of 5 review rows left to decide"
    press(page, "r")  # it may be rejected
    assert decision_of(page, 4) == "reject" and notice(page) == ""
    press(page, "a")  # and a refused accept leaves that decision as it was
    assert decision_of(page, 4) == "reject"
    assert notice(page) == "not accepted: " + REJECT_REFUSAL.format(4)
    for library_id, refusal in ((7, PENDING_REFUSAL), (3, NO_MATCH_REFUSAL)):
        page.click(f'tr[data-library-id="{library_id}"] td.score')
        press(page, "a")
        assert decision_of(page, library_id) == ""
        assert notice(page) == "not accepted: " + refusal.format(library_id)
    page.click('tr[data-library-id="1"] td.score')  # high: written anyway, held back by r
    press(page, "a")
    assert decision_of(page, 1) == "" and notice(page) == "not accepted: " + HIGH_REFUSAL.format(1)
    assert status(page) == "0 accepted, 1 rejected"
    assert csv_decisions(page.eval("window.artworkBackfillReview.csv()")) == {4: "reject"}
    assert page_errors(browser) == []


def test_keys_typed_into_the_filters_decide_nothing(
    browser: Browser, review: Review, tmp_path: Path
) -> None:
    page = open_page(browser, own_page(review, tmp_path))
    page.select("#sort", "id")  # the review band: 9, 12, 14, 15, 16
    page.eval("document.activeElement.blur()")
    go_to(page, 15)  # Pram
    press(page, "r")
    assert decision_of(page, 15) == "reject"
    # a list has the focus: u (clear) and j (move) are the list's
    page.eval("document.getElementById('sort').focus()")
    press(page, "u", "j")
    assert decision_of(page, 15) == "reject" and current(page) == "15"
    assert page.eval("document.getElementById('sort').value") == "id"
    # the search box has the focus: "pram" holds an r, an a (accept) and is only a search
    page.click("#search")
    press(page, "pram")
    assert page.eval("document.getElementById('search').value") == "pram"
    page.wait_for("document.getElementById('page').textContent === 'page 1 of 1 (1 rows)'")
    assert ids(page) == [15] and current(page) == "15"
    assert decision_of(page, 15) == "reject" and status(page) == "0 accepted, 1 rejected"
    assert left(page) == "4 of 5 review rows left to decide"
    # ? in the search box is text too
    press(page, "?")
    assert page.eval("document.getElementById('keys-help').hidden") is True
    # out of the search box, the keys work again
    page.eval("document.activeElement.blur()")
    press(page, "a")
    assert decision_of(page, 15) == "accept"
    assert page_errors(browser) == []


def test_keys_are_documented_on_the_page(browser: Browser, review: Review, tmp_path: Path) -> None:
    page = open_page(browser, own_page(review, tmp_path))
    line = page.eval("document.querySelector('.keys-line').textContent")
    assert all(k in " ".join(line.split()) for k in ("j/k", "a accept", "r reject", "u clear"))
    help_panel = page.element("#keys-help")
    assert not help_panel.is_displayed()
    page.eval("document.activeElement.blur()")
    press(page, "?")
    assert help_panel.is_displayed()
    assert page.eval("document.getElementById('keys').getAttribute('aria-expanded')") == "true"
    text = " ".join(help_panel.text.split())
    assert "j or ↓ next row" in text and "a accept the current row (review rows only" in text
    press(page, Keys.ESCAPE)
    assert not help_panel.is_displayed()
    page.click("#keys")  # and by mouse
    assert help_panel.is_displayed()
    page.click("#keys")
    assert not help_panel.is_displayed()
    assert page_errors(browser) == []


def test_key_decisions_survive_a_reload_and_are_downloaded(
    browser: Browser, review: Review, tmp_path: Path
) -> None:
    table, _stats, _path = review
    page = open_page(browser, own_page(review, tmp_path))
    page.select("#band", "high")
    page.eval("document.activeElement.blur()")
    press(page, "j", "r")  # 1: held back
    page.select("#band", "review")
    page.select("#sort", "id")  # 9, 12, 14, 15, 16
    page.eval("document.activeElement.blur()")
    # 9 accepted, 12 rejected, 15 accepted, 16 rejected and cleared (the last key before the reload)
    press(page, "j", "a", "j", "r", "j", "j", "a", "j", "r", "u")
    wanted = {9: "accept", 12: "reject", 15: "accept", 1: "reject"}
    assert status(page) == "2 accepted, 2 rejected"
    assert left(page) == "2 of 5 review rows left to decide"

    reload(page)
    assert status(page) == "2 accepted, 2 rejected"
    assert left(page) == "2 of 5 review rows left to decide"
    assert {i: decision_of(page, i) for i in (1, 9, 12, 14, 15, 16)} == {
        **wanted,
        14: "",
        16: "",
    }
    target, text = download(browser, page, tmp_path / "downloads")
    assert csv_decisions(text) == wanted
    assert text == expected_csv(table, {str(k): v for k, v in wanted.items()})
    decisions = read_decisions(target, table)
    assert decisions.accepted == {9, 15} and decisions.rejected == {1, 12}
    assert page_errors(browser) == []
