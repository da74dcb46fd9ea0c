"""The audit of covers already in the catalog, through the real CLI against a real PostgreSQL
and the LML simulator, checked against the simulator's ground truth (`artwork_kind`)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from selenium.webdriver.common.keys import Keys

from artwork_backfill.cache.store import Cache
from artwork_backfill.demo.simulator import SimulatorConfig, generate_catalog, start_simulator
from artwork_backfill.demo.simulator.catalog import FILLED_KINDS
from artwork_backfill.judge.audit import audit_row, offline_problems
from artwork_backfill.judge.score import ShelfRow
from artwork_backfill.review.matches import audit_rows
from tests import test_html_browser as html_browser
from tests.conftest import WxycDb
from tests.test_resolve import env_for, run

CATALOG = generate_catalog(1200, seed=29, filled_share=0.25)
FAST = ["--rate-per-min", "12000"]
# one headless Chromium for this file's page test (the review page tests' fixture)
browser = html_browser.browser
FILLED = {r.library_id: r for r in CATALOG.rows if r.artwork_url and not r.discogs_unavailable}


def ok(done: object) -> dict[str, object]:
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in done.stderr  # type: ignore[attr-defined]
    return json.loads(done.stdout)  # type: ignore[attr-defined]


def by_kind(table: object) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {k: Counter() for k in FILLED_KINDS}
    for r in table.iter_rows(named=True):  # type: ignore[attr-defined]
        out[FILLED[r["library_id"]].artwork_kind or "right"][r["audit"]] += 1
    return out


def test_the_catalog_has_filled_rows_of_every_kind() -> None:
    kinds = Counter(r.artwork_kind for r in FILLED.values())
    assert set(kinds) == set(FILLED_KINDS) and min(kinds.values()) >= 10, kinds


def test_audit_without_lookup_finds_every_logo_and_photo_with_no_request(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    with wxyc_db.connect() as conn:
        CATALOG.load_into_postgres(conn)
    cache = tmp_path / "c.duckdb"
    with start_simulator(CATALOG, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        out = ok(run(["audit", "--no-lookup", "--json"], env_for(wxyc_db, sim, cache)))
        assert sim.stats().total_asks == 0 and out["requests"] == 0
    assert out["rows"] == len(FILLED)
    with Cache(cache, read_only=True) as c:
        table = audit_rows(c)
    kinds = by_kind(table)
    for kind in ("logo", "photo"):
        assert kinds[kind]["wrong"] == sum(kinds[kind].values()) > 0, kinds[kind]
    # and nothing right is called wrong
    assert kinds["right"]["wrong"] == 0 and kinds["right"]["ok"] == 0  # no answer: unverified


def test_audit_then_a_second_audit_asks_nothing_new(wxyc_db: WxycDb, tmp_path: Path) -> None:
    with wxyc_db.connect() as conn:
        CATALOG.load_into_postgres(conn)
    cache = tmp_path / "c.duckdb"
    with start_simulator(CATALOG, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        env = env_for(wxyc_db, sim, cache)
        ok(run(["resolve", "--json", *FAST], env))  # the backfill's answers are reused
        sim.reset_stats()
        first = ok(run(["audit", "--json", *FAST], env))
        asked_first = sim.stats().total_asks
        sim.reset_stats()
        second = ok(run(["audit", "--json", *FAST], env))
        stats = sim.stats()
    assert first["rows"] == len(FILLED) and set(first["verdicts"]) == {"ok", "wrong", "unverified"}
    assert asked_first > 0
    # only keys still without a final answer (transient scenarios) may be asked again
    assert (
        stats.total_asks <= first["asked"] and second["verdicts"]["ok"] >= first["verdicts"]["ok"]
    )
    with Cache(cache, read_only=True) as c:
        table = audit_rows(c)
    kinds = by_kind(table)
    assert kinds["right"]["wrong"] == 0, kinds["right"]  # a right cover is never called wrong
    assert kinds["right"]["ok"] > 0.5 * sum(kinds["right"].values())
    for kind in ("logo", "photo", "unusable"):
        assert kinds[kind]["ok"] == 0 and kinds[kind]["wrong"] == sum(kinds[kind].values())
    for kind in ("other_album", "other_artist"):
        assert kinds[kind]["ok"] == 0, kinds[kind]
        assert kinds[kind]["wrong"] > 0.5 * sum(kinds[kind].values()), kinds[kind]
    # a replacement `apply --repair` writes by itself (high) is always the right cover; one
    # offered for review waits for a person
    high = table.filter((table["audit"] == "wrong") & (table["band"] == "high"))
    assert high.height > 0.5 * table.filter(table["audit"] == "wrong").height
    for r in high.iter_rows(named=True):
        assert CATALOG.is_correct_cover(r["library_id"], r["artwork_url"]), r
    assert (
        table.filter(table["audit"] != "wrong")["artwork_url"].null_count()
        == table.filter(table["audit"] != "wrong").height
    )  # only a wrong value is offered a replacement


def _row(title: str = "Emperor Tomato Ketchup") -> ShelfRow:
    return ShelfRow(1, 1001, "Stereolab", title)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        (
            "https://i.discogs.com/a/rs:fit/g:sm/q:90/h:600/w:600/czM6Ly9kaXNjb2dz/LWRhdGFiYXNlLWltYWdlcy9BLTEyMy0xLmpwZWc.jpeg",
            None,
        ),
        ("http://i.discogs.com/x.jpeg", "url_not_https"),
        ("https://example.com/x.jpeg", "url_host"),
        ("https://s.discogs.com/images/spacer.gif", "spacer_gif"),
    ],
)
def test_unusable_values_are_wrong_offline(url: str, code: str | None) -> None:
    verdict = audit_row(_row(), url, None, {})
    if code is None:  # a URL the decoder can't place is not judged from the URL alone
        assert offline_problems(url) == () or verdict.verdict == "wrong"
    else:
        assert (
            verdict.verdict == "wrong"
            and code in verdict.reasons
            and verdict.replacement_url is None
        )


def _library(db: WxycDb) -> dict[int, str | None]:
    with db.connect() as conn:
        return dict(conn.execute("SELECT id, artwork_url FROM wxyc_schema.library").fetchall())


def test_audit_report_repair_and_undo_against_the_truth(wxyc_db: WxycDb, tmp_path: Path) -> None:
    with wxyc_db.connect() as conn:
        CATALOG.load_into_postgres(conn)
    cache = tmp_path / "c.duckdb"
    with start_simulator(CATALOG, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        env = env_for(wxyc_db, sim, cache)
        audit = ok(run(["audit", "--json", *FAST], env))
    report = ok(run(["report", "--json", "--export", str(tmp_path / "m.csv")], env))
    assert report["audit"]["verdicts"] == audit["verdicts"]
    assert report["candidates"] + report["audit"]["rows"] >= len(FILLED)
    header = (tmp_path / "m.csv").read_text().splitlines()[0].split(",")
    assert header[-3:] == ["current_artwork_url", "audit", "audit_reasons"]

    before = _library(wxyc_db)
    with Cache(cache, read_only=True) as c:
        table = audit_rows(c)
    # someone changes one wrong row after the audit: the repair must leave it alone
    changed = next(
        r["library_id"]
        for r in table.iter_rows(named=True)
        if r["audit"] == "wrong" and r["band"] == "high"
    )
    with wxyc_db.connect() as conn:
        conn.execute(
            "UPDATE wxyc_schema.library SET artwork_url = %s WHERE id = %s",
            ["https://i.discogs.com/someone-else.jpeg", changed],
        )
    before[changed] = "https://i.discogs.com/someone-else.jpeg"

    dry = ok(run(["apply", "--repair", "--json"], env))
    assert dry["dry_run"] is True and dry["repair"] is True and _library(wxyc_db) == before
    done = ok(run(["apply", "--repair", "--execute", "--json"], env))
    after = _library(wxyc_db)
    assert done["repaired"] == dry["repaired"] and dry["kept_changed"] == 1  # as predicted
    assert done["kept_changed"] == 1 and after[changed] == before[changed]

    fixed: Counter[str] = Counter()
    for r in table.iter_rows(named=True):
        lid, kind = r["library_id"], FILLED[r["library_id"]].artwork_kind
        if after[lid] == before[lid]:
            continue
        # only wrong values changed, each to the right cover, never to NULL
        assert r["audit"] == "wrong" and after[lid] is not None, r
        assert CATALOG.is_correct_cover(lid, after[lid]), (kind, r)
        fixed[str(kind)] += 1
    assert done["repaired"] == sum(fixed.values()) > 0
    assert "right" not in fixed  # no ok row was touched
    assert set(fixed) <= {"logo", "photo", "other_album", "other_artist", "unusable"}
    # the backfill's rows were not touched by a repair
    assert all(after[i] == before[i] for i in before if i not in FILLED)

    again = ok(run(["apply", "--repair", "--execute", "--json"], env))
    assert again["repaired"] == 0 and again["already_applied"] == done["repaired"]

    undo = ok(run(["undo", done["run_id"], "--execute", "--json"], env))
    assert undo["reverted"] == done["repaired"] == undo["restored_previous"]
    assert _library(wxyc_db) == before  # every old value is back (and the changed row kept)


def test_clear_wrong_clears_only_wrong_values_without_a_replacement(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    with wxyc_db.connect() as conn:
        CATALOG.load_into_postgres(conn)
    cache = tmp_path / "c.duckdb"
    with start_simulator(CATALOG, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        env = env_for(wxyc_db, sim, cache)
        ok(run(["audit", "--no-lookup", "--json"], env))  # no answers: no replacement at all
    refused = run(["apply", "--clear-wrong", "--json"], env)
    assert refused.returncode == 1 and "--clear-wrong goes with --repair" in refused.stderr
    before = _library(wxyc_db)
    kept = ok(run(["apply", "--repair", "--execute", "--json"], env))
    assert kept["repaired"] == 0 and kept["left_wrong"] > 0 and _library(wxyc_db) == before
    cleared = ok(run(["apply", "--repair", "--clear-wrong", "--execute", "--json"], env))
    after = _library(wxyc_db)
    with Cache(cache, read_only=True) as c:
        table = audit_rows(c)
    wrong = {r["library_id"] for r in table.iter_rows(named=True) if r["audit"] == "wrong"}
    assert cleared["repaired"] == len(wrong) == kept["left_wrong"]
    assert {i for i in before if after[i] != before[i]} == wrong
    assert all(after[i] is None for i in wrong)
    assert all(FILLED[i].artwork_kind in ("logo", "photo", "unusable") for i in wrong)
    undo = ok(run(["undo", cleared["run_id"], "--execute", "--json"], env))
    assert undo["reverted"] == len(wrong) and _library(wxyc_db) == before


# -- the review page in a real browser: audit rows, an accepted replacement, escaping ------------

XSS_VALUE = '"><script>window.__pwned=1</script>'


def _search(page: html_browser.Page, library_id: int) -> None:
    """Show every band and type a library id into the search box (replacing what it held);
    wait until the page shows that row among rows that all match the search, on one page."""
    if page.element("#band").get_attribute("value") != "":
        page.select("#band", "")
    box = page.element("#search")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(library_id))  # typed over the selection
    page.wait_for(
        f"""(() => {{ const rows = Array.from(document.querySelectorAll('#rows tbody tr'));
             return document.getElementById('page').textContent.startsWith('page 1 of 1 (')
               && rows.some(tr => tr.dataset.libraryId === '{library_id}')
               && rows.every(tr => tr.textContent.includes('{library_id}')); }})()"""
    )


def _cover_cell(page: html_browser.Page, library_id: int) -> dict[str, object]:
    """What a shown row's cover cell holds: the replacement, then the value now."""
    return page.eval(
        f"""(() => {{ const tr = document.querySelector('#rows tbody tr[data-library-id="{library_id}"]');
             const td = tr.querySelector('td.cover'), now = td.querySelector('.now-value');
             return {{ band: tr.dataset.band, audited: tr.classList.contains('audited'),
                       first: td.firstElementChild.tagName,
                       replacement: td.firstElementChild.getAttribute('src'),
                       nowClass: now && now.className,
                       label: now && now.querySelector('.label').textContent,
                       nowImg: now && now.querySelector('img') && now.querySelector('img').getAttribute('src'),
                       nowText: now && now.querySelector('.none') && now.querySelector('.none').textContent,
                       reasons: now ? Array.from(now.querySelectorAll('.reason')).map(c => c.textContent) : [],
                       nowAfterReplacement: !!now && td.firstElementChild !== now,
                       tags: Array.from(td.querySelectorAll('*')).map(e => e.tagName) }}; }})()"""
    )


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_review_page_shows_the_audit_and_an_accepted_replacement_is_repaired(
    wxyc_db: WxycDb, browser: html_browser.Browser, tmp_path: Path
) -> None:
    with wxyc_db.connect() as conn:
        CATALOG.load_into_postgres(conn)
        # a value a page must keep as text (it is no URL at all: the audit calls it wrong)
        xss_id = min(i for i, r in FILLED.items() if r.artwork_kind == "right")
        conn.execute(
            "UPDATE wxyc_schema.library SET artwork_url = %s WHERE id = %s", [XSS_VALUE, xss_id]
        )
    cache = tmp_path / "c.duckdb"
    with start_simulator(CATALOG, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        env = env_for(wxyc_db, sim, cache)
        ok(run(["resolve", "--json", *FAST], env))
        audit = ok(run(["audit", "--json", *FAST], env))
    assert audit["replacements"]["review"] > 0, audit  # a wrong value offered for review
    html = tmp_path / "review.html"
    ok(run(["report", "--json", "--sample", "0", "--html", str(html)], env))
    with Cache(cache, read_only=True) as c:
        table = audit_rows(c)
    audited = {r["library_id"]: r for r in table.iter_rows(named=True)}
    assert (
        audited[xss_id]["audit"] == "wrong" and audited[xss_id]["current_artwork_url"] == XSS_VALUE
    )
    # the wrong value to accept a replacement for: offered in the review band, and an image now
    target = min(
        i
        for i, r in audited.items()
        if r["audit"] == "wrong"
        and r["band"] == "review"
        and r["current_artwork_url"].startswith("https://")
    )
    row = audited[target]

    page = html_browser.open_page(browser, html)
    assert page.eval("typeof window.__pwned") == "undefined"

    # the audit row: the replacement, and under it the value now with its verdict and reasons
    _search(page, target)
    cell = _cover_cell(page, target)
    assert cell["band"] == "review" and cell["audited"] is True
    assert cell["first"] == "IMG" and cell["replacement"] == row["artwork_url"]
    assert cell["nowAfterReplacement"] is True
    assert cell["nowClass"] == "now-value audit-wrong" and cell["label"] == "now (wrong)"
    assert cell["nowImg"] == row["current_artwork_url"] and cell["nowText"] is None
    assert cell["reasons"] == row["audit_reasons"].split(";") and cell["reasons"]

    # accepted with a real click; the page's download carries the accept
    page.click(f'#rows tbody tr[data-library-id="{target}"] button.accept')
    assert html_browser.decision_of(page, target) == "accept"
    decisions, text = html_browser.download(browser, page, tmp_path / "downloads")
    assert html_browser.csv_decisions(text) == {target: "accept"}
    assert html_browser.csv_decisions(page.eval("window.artworkBackfillReview.csv()")) == {
        target: "accept"
    }

    # the value that is no URL: shown as text, nothing in it ran or became an element
    _search(page, xss_id)
    cell = _cover_cell(page, xss_id)
    assert cell["audited"] is True and cell["label"] == "now (wrong)"
    assert cell["nowText"] == XSS_VALUE and cell["nowImg"] is None
    assert cell["reasons"] == audited[xss_id]["audit_reasons"].split(";") and cell["reasons"]
    assert "SCRIPT" not in cell["tags"] and set(cell["tags"]) <= {"IMG", "DIV", "SPAN"}
    # the value did not break out of the page's data block into a script of its own
    assert (
        page.eval(
            "Array.from(document.scripts).filter(s => s.id !== 'review-data' "
            "&& s.textContent.includes('__pwned')).length"
        )
        == 0
    )
    assert page.eval("typeof window.__pwned") == "undefined"
    assert html_browser.page_errors(browser) == []

    # apply --repair with the downloaded decisions writes the accepted replacement too
    before = _library(wxyc_db)
    done = ok(run(["apply", "--repair", "--decisions", str(decisions), "--execute", "--json"], env))
    after = _library(wxyc_db)
    assert done["accepted"] == 1 and done["repaired"] == done["high"] + 1
    assert before[target] == row["current_artwork_url"] and after[target] == row["artwork_url"]
    changed = {i for i in before if after[i] != before[i]}
    assert target in changed
    for i in changed - {target}:  # the rest: the high replacements of wrong values, as ever
        assert audited[i]["audit"] == "wrong" and audited[i]["band"] == "high", audited[i]
        assert after[i] == audited[i]["artwork_url"]
    # the other wrong values offered for review, not accepted, stay as they were
    for i, r in audited.items():
        if r["audit"] == "wrong" and r["band"] == "review" and i != target:
            assert after[i] == before[i], r
