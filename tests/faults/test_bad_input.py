"""Bad input, against the real CLI in a subprocess and the per-test PostgreSQL.

- Catalog text that breaks naive code (quotes, backslashes, tabs, newlines, control
  characters, 10,000-character strings, SQL and HTML fragments, spreadsheet formulas):
  resolve, report and apply work, the guarded UPDATE matches such rows exactly, the CSV
  export keeps them (formula cells neutralised with a `'`, CWE-1236), and the review page in
  a real browser shows them as text and runs none of them (`window.__pwned` stays undefined);
  its CSV download is the export, byte for byte.
- Settings that are not what they claim: a schema that is not an identifier, a garbage
  `DATABASE_URL`: one line, no password.
- Decisions files that are wrong in every way a file can be: one clear line each (or the
  documented handling), never a crash.
- LML answers carrying hostile URLs (`javascript:`, `data:`, another host, userinfo,
  characters a URL must percent-encode, markup): none is ever written to
  `library.artwork_url`, none is `high`.

The LML here is the fault suite's programmable server (`lml_fault_server`), answering right
(a direct match of the row's own library item) for whatever text the catalog holds.
"""

from __future__ import annotations

import csv
import io
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from artwork_backfill.cache.store import Cache
from artwork_backfill.judge.normalize import clean_whitespace, grouping_key
from artwork_backfill.review.matches import match_table
from tests.conftest import WxycDb
from tests.faults.conftest import (
    FAST,
    fault_env,
    key_bands,
    ok_json,
    run_cli,
    seeded_catalog,
)
from tests.faults.lml_fault_server import (
    FaultServer,
    Reply,
    Request,
    bulk_response,
    cover_url,
    json_reply,
    lookup_response,
    release_id_for,
    result_item,
)
from tests.faults.test_pg_faults import artwork, assert_one_clear_error

ROWS = 150

# (artist, album) texts a catalog can hold, each on a row of its own.
LONG_ARTIST = ("Longartist " * 1000)[:10_000]
LONG_TITLE = ("Longtitle " * 1100)[:10_000]
NASTY: list[tuple[str, str]] = [
    ('The "Quoted" Band', "It's a \\ back\\\\slash album"),
    ("Tab\tSeparated", "New\nLine\r\nTitle"),
    ("Ctrl\x01\x02\x7f Chars", "Bell\x07 and \x1b[31m escape"),
    ("'); DROP TABLE wxyc_schema.library; --", "Robert'); DROP TABLE wxyc_schema.artists;--"),
    ("<script>window.__pwned=1</script>", '<img src=x onerror="window.__pwned=1">'),
    ('=HYPERLINK("http://x","y")', "@SUM(1)"),
    ("+cmd|' /C calc'!A0", "-2+3 \t=1+1"),
    (LONG_ARTIST, LONG_TITLE),
    ("Sigur R\u00f3s \u202e override", "Zero\u200bwidth \ufeff mark"),
    ('"><script>window.__pwned=1</script>', "'onerror='window.__pwned=1' &amp; &lt;b&gt;"),
]
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def widen_text_columns(db: WxycDb) -> None:
    """Test-only: WXYC's title and artist columns are varchar(128); widen them to text so the
    catalog can hold the 10,000-character strings. What depends on the columns (the view, the
    generated search column, two triggers' column lists) goes first; the triggers come back
    as they were."""
    s = db.schema
    with db.connect() as conn:
        conn.execute(
            f"""DROP VIEW IF EXISTS {s}.library_artist_view;
            DROP TRIGGER touch_library_watermark ON {s}.library;
            DROP TRIGGER cascade_library_artist_name ON {s}.artists;
            ALTER TABLE {s}.library DROP COLUMN search_doc;
            ALTER TABLE {s}.library ALTER COLUMN album_title TYPE text,
                ALTER COLUMN artist_name TYPE text;
            ALTER TABLE {s}.artists ALTER COLUMN artist_name TYPE text;
            CREATE TRIGGER touch_library_watermark
                AFTER INSERT
                   OR UPDATE OF id, legacy_release_id, artist_id, genre_id, format_id,
                                alternate_artist_name, album_artist, album_title, label,
                                code_number, on_streaming, artwork_url, artist_name,
                                canonical_entity_id
                   OR DELETE OR TRUNCATE
                ON {s}.library
                FOR EACH STATEMENT EXECUTE FUNCTION {s}.touch_library_watermark();
            CREATE TRIGGER cascade_library_artist_name
                AFTER UPDATE OF artist_name ON {s}.artists
                FOR EACH ROW
                WHEN (OLD.artist_name IS DISTINCT FROM NEW.artist_name)
                EXECUTE FUNCTION {s}.cascade_library_artist_name();"""
        )


def candidates(db: WxycDb) -> list[tuple[int, int, int, str, str]]:
    """(library id, legacy id, artist id, artist, title) of the rows resolve exports."""
    s = db.schema
    with db.connect() as conn:
        return conn.execute(
            f"""SELECT l.id, l.legacy_release_id, a.id, a.artist_name, l.album_title
            FROM {s}.library l JOIN {s}.artists a ON a.id = l.artist_id
            WHERE l.artwork_url IS NULL AND NOT l.discogs_unavailable
              AND btrim(a.artist_name) <> '' AND btrim(l.album_title) <> ''
            ORDER BY l.id"""
        ).fetchall()


def make_nasty(db: WxycDb) -> dict[int, tuple[str, str]]:
    """Give rows of their own (one row per artist) the NASTY texts; library_id -> text."""
    rows = candidates(db)
    per_artist: dict[int, int] = {}
    for _, _, artist_id, _, _ in rows:
        per_artist[artist_id] = per_artist.get(artist_id, 0) + 1
    lonely = [r for r in rows if per_artist[r[2]] == 1][: len(NASTY)]
    assert len(lonely) == len(NASTY)
    chosen: dict[int, tuple[str, str]] = {}
    s = db.schema
    with db.connect() as conn:
        for (library_id, _legacy, artist_id, _a, _t), (artist, title) in zip(
            lonely, NASTY, strict=True
        ):
            conn.execute(
                f"UPDATE {s}.artists SET artist_name = %s WHERE id = %s", [artist, artist_id]
            )
            conn.execute(
                f"UPDATE {s}.library SET album_title = %s, artist_name = %s WHERE id = %s",
                [title, artist, library_id],
            )
            chosen[library_id] = (artist, title)
    return chosen


def echo_lml(db: WxycDb, url_for: Callable[[str], str] | None = None) -> Callable[[Request], Reply]:
    """An LML that knows the database as it is now: a direct match of each key's own rows,
    album and artist as asked; the cover is `url_for(key_id)` (default: a valid one)."""
    legacy: dict[str, set[int]] = {}
    for _id, legacy_id, _artist_id, artist, title in candidates(db):
        for key in (
            grouping_key(artist, title),
            grouping_key(clean_whitespace(artist), clean_whitespace(title)),
        ):
            legacy.setdefault(key, set()).add(int(legacy_id))

    def lookup(item: dict[str, Any]) -> dict[str, Any]:
        artist, album = str(item.get("artist") or ""), str(item.get("album") or "")
        key = grouping_key(artist, album)
        ids = sorted(legacy.get(key, ()))
        if not ids:
            return lookup_response([])
        release = release_id_for(key)
        results = [result_item(i, album, artist, release) for i in ids]
        if url_for is not None:
            for r in results:
                r["artwork"]["artwork_url"] = url_for(key)
        return lookup_response(results)

    def policy(req: Request) -> Reply:
        if req.endpoint == "single":
            return json_reply(lookup(req.body if isinstance(req.body, dict) else {}))
        if req.endpoint == "bulk":
            return json_reply(bulk_response(lookup(i) for i in req.items))
        return Reply(status=404, body={"detail": "Not Found"})

    return policy


def neutral(text: str) -> str:
    """A cell as the CSV export writes it: a `'` before a formula trigger."""
    return "'" + text if text.startswith(FORMULA) else text


# -- hostile catalog text --------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.test_html_browser import CHROMEDRIVER, CHROMIUM, Browser

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"the review page is checked in Chromium: {' and '.join(missing)} missing")
    b = Browser(tmp_path_factory.mktemp("downloads"))
    try:
        yield b
    finally:
        b.close()


def test_hostile_catalog_text_is_resolved_reported_written_and_shown_as_text(
    wxyc_db: WxycDb, tmp_path: Path, browser: Any
) -> None:
    from tests.test_html_browser import open_page

    catalog = seeded_catalog(wxyc_db, ROWS)
    widen_text_columns(wxyc_db)
    nasty = make_nasty(wxyc_db)
    cache_path = tmp_path / "c.duckdb"
    page, export = tmp_path / "review.html", tmp_path / "matches.csv"
    with FaultServer(catalog, echo_lml(wxyc_db)) as lml:
        env = fault_env(wxyc_db, lml.url, cache_path, LIVE_ACTIVITY_LOOKBACK_SECONDS="0")
        out = ok_json(run_cli(["resolve", "--json", *FAST], env))
        assert out["transient"] == 0 and lml.policy_errors == []
    assert out["candidates"] == len(candidates(wxyc_db))
    report = ok_json(
        run_cli(
            ["report", "--json", "--sample", "3", "--html", str(page), "--export", str(export)],
            env,
        )
    )
    assert report["candidates"] == out["candidates"]
    with Cache(cache_path, read_only=True) as cache:
        table = match_table(cache)
    rows = {r["library_id"]: r for r in table.iter_rows(named=True)}
    for library_id, (artist, title) in nasty.items():
        assert (rows[library_id]["artist_name"], rows[library_id]["album_title"]) == (artist, title)
        assert rows[library_id]["band"] == "high", (
            library_id,
            artist[:40],
            rows[library_id]["reasons"],
        )

    # the CSV export keeps every text; formula cells come back with their `'`
    with export.open(encoding="utf-8", newline="") as handle:
        exported = {int(r["library_id"]): r for r in csv.DictReader(handle)}
    assert len(exported) == table.height
    for library_id, (artist, title) in nasty.items():
        cells = exported[library_id]
        assert (cells["artist_name"], cells["album_title"]) == (neutral(artist), neutral(title))

    # apply writes them: the guarded UPDATE compares these texts exactly
    before_counts = counts(wxyc_db)
    applied = ok_json(run_cli(["apply", "--execute", "--json"], env))
    assert applied["stale"] == 0 and applied["raced"] == 0 and applied["remaining"] == 0
    now = artwork(wxyc_db)
    for library_id in nasty:
        assert now[library_id] == rows[library_id]["artwork_url"]
    assert counts(wxyc_db) == before_counts  # no fragment ran: every table is still there

    # the review page shows the texts as text and runs none of them
    shown = open_page(browser, page)
    shown.select("#band", "")
    shown.select("#sort", "id")
    assert shown.eval("typeof window.__pwned") == "undefined"
    texts = shown.eval(
        """Array.from(document.querySelectorAll('#rows tbody tr')).map(tr => [
             Number(tr.dataset.libraryId),
             Array.from(tr.querySelectorAll('td.shelf div')).slice(0, 2).map(d => d.textContent),
             Array.from(tr.querySelectorAll('td.shelf *, td.matched *')).map(e => e.tagName)])"""
    )
    on_page = {i: (text, tags) for i, text, tags in texts}
    missing = [i for i in nasty if i not in on_page]
    assert not missing, "the nasty rows must be on the first page (lowest ids)"
    for library_id, (artist, title) in nasty.items():
        text, tags = on_page[library_id]
        assert text == [artist, title], library_id
        assert set(tags) == {"DIV"}  # nothing in a text became an element
    assert shown.eval("document.querySelectorAll('#rows script, #rows img[src=\"x\"]').length") == 0
    # the page's CSV is the export, byte for byte (both neutralise formulas)
    assert shown.eval("window.artworkBackfillReview.csv()") == export.read_bytes().decode("utf-8")
    assert shown.eval("typeof window.__pwned") == "undefined"
    assert [e for e in browser.errors if "pwned" in str(e)] == []


def counts(db: WxycDb) -> dict[str, int]:
    s = db.schema
    out = {}
    with db.connect() as conn:
        for table in ("library", "artists", "genres", "format"):
            row = conn.execute(f"SELECT count(*) FROM {s}.{table}").fetchone()
            assert row is not None
            out[table] = int(row[0])
    return out


# -- settings that are not what they claim -----------------------------------------------------


def test_a_schema_that_is_not_an_identifier_is_one_line(wxyc_db: WxycDb, tmp_path: Path) -> None:
    env = fault_env(wxyc_db, "http://127.0.0.1:9", tmp_path / "c.duckdb")
    for args in (["resolve", "--schema", "x; drop"], ["apply", "--schema", "x; drop"]):
        line = assert_one_clear_error(run_cli(args, env), "WXYC_SCHEMA_NAME")
        assert "x; drop" in line
    line = assert_one_clear_error(run_cli(["resolve"], {**env, "WXYC_SCHEMA_NAME": "a.b"}))
    assert "identifier" in line


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://[::1",
        "not a url",
        "postgresql://u:Pw-{secret}@127.0.0.1:1/x",
        "postgresql://u:Pw-{secret}@[::1/x",
        "postgresql://u:Pw-{secret}@host:notaport/x",
    ],
)
def test_a_garbage_database_url_is_one_line_without_the_password(
    wxyc_db: WxycDb, tmp_path: Path, url: str
) -> None:
    secret = f"{random.Random(url).getrandbits(48):x}"
    url = url.replace("{secret}", secret)
    env = fault_env(wxyc_db, "http://127.0.0.1:9", tmp_path / "c.duckdb", DATABASE_URL=url)
    done = run_cli(["apply"], env)
    assert_one_clear_error(done)
    text = done.stdout + done.stderr
    assert secret not in text and wxyc_db.server.password not in text


# -- decisions files ----------------------------------------------------------------------------


@pytest.fixture
def reviewed(
    wxyc_db: WxycDb, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Path, list[dict[str, str]]]]:
    """A resolved cache, its export (the rows of a decisions file) and the CLI's env."""
    catalog = seeded_catalog(wxyc_db, ROWS)
    cache_path = tmp_path / "c.duckdb"
    with FaultServer(catalog) as lml:
        env = fault_env(wxyc_db, lml.url, cache_path, LIVE_ACTIVITY_LOOKBACK_SECONDS="0")
        ok_json(run_cli(["resolve", "--json", *FAST], env))
    export = tmp_path / "export.csv"
    ok_json(run_cli(["report", "--json", "--sample", "0", "--export", str(export)], env))
    with export.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    yield env, tmp_path, rows


def write_csv(
    path: Path,
    rows: list[dict[str, str]],
    columns: list[str] | None = None,
    encoding: str = "utf-8",
) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns or list(rows[0]), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding, errors="replace"))
    return path


def test_decisions_files_that_are_wrong_are_one_clear_line_each(
    reviewed: tuple[dict[str, str], Path, list[dict[str, str]]], wxyc_db: WxycDb
) -> None:
    env, tmp, rows = reviewed
    high = next(r for r in rows if r["band"] == "high")
    before = artwork(wxyc_db)

    def decided(**changes: str) -> list[dict[str, str]]:
        return [{**r, **changes} if r is high else r for r in rows]

    cases: dict[str, tuple[Path, str]] = {
        "unknown id": (
            write_csv(
                tmp / "unknown.csv",
                [*rows, {**high, "library_id": "99999999", "decision": "reject"}],
            ),
            "not in the current match table",
        ),
        "conflicting duplicate": (
            write_csv(
                tmp / "dup.csv", [*decided(decision="reject"), {**high, "decision": "accept"}]
            ),
            "conflicting",
        ),
        "bad decision": (
            write_csv(tmp / "bad.csv", decided(decision="yes please")),
            "accept, reject or empty",
        ),
        "latin-1": (
            write_csv(
                tmp / "latin1.csv",
                decided(decision="reject", artist_name="Caf\u00e9 \u00e9t\u00e9"),
                encoding="latin-1",
            ),
            "UTF-8",
        ),
        "UTF-16": (
            write_csv(tmp / "utf16.csv", decided(decision="reject"), encoding="utf-16"),
            "UTF-8",
        ),
        "missing column": (
            write_csv(
                tmp / "missing.csv",
                decided(decision="reject"),
                ["library_id", "decision", "artwork_url"],
            ),
            "missing column verdict_id",
        ),
        "empty": (tmp / "empty.csv", "empty"),
        "NUL bytes": (tmp / "nul.csv", ""),
        "5001-digit id": (
            write_csv(
                tmp / "huge.csv", [*rows, {**high, "library_id": "9" * 5001, "decision": "reject"}]
            ),
            "library_id",
        ),
        "10,000-character decision": (
            write_csv(tmp / "long.csv", decided(decision="accept" * 1700)),
            "accept, reject or empty",
        ),
    }
    (tmp / "empty.csv").write_bytes(b"")
    (tmp / "nul.csv").write_bytes(  # binary data: NUL bytes, bytes that are no UTF-8
        b"library_id,decision,verdict_id,artwork_url\n1\x00,accept,\x00x,y\n"
        + random.Random(1).randbytes(512)
    )
    for name, (path, needle) in cases.items():
        done = run_cli(["apply", "--execute", "--decisions", str(path)], env)
        line = assert_one_clear_error(done, needle)
        assert len(line) < 2000, (name, len(line))  # one readable line, not the file echoed
    assert artwork(wxyc_db) == before  # a refused file writes nothing, not even the high rows


def test_decisions_files_with_extra_columns_or_the_page_quoting_are_taken(
    reviewed: tuple[dict[str, str], Path, list[dict[str, str]]], wxyc_db: WxycDb
) -> None:
    env, tmp, rows = reviewed
    high = [r for r in rows if r["band"] == "high"][:2]
    held = {r["library_id"] for r in high}
    extra = [
        {**r, "decision": "reject" if r in high else "", "note": "=1+1", "": "x"} for r in rows
    ]
    path = write_csv(tmp / "extra.csv", extra, [*rows[0], "note", ""])
    done = ok_json(run_cli(["apply", "--json", "--decisions", str(path)], env))
    assert done["rejected"] == 2
    # the same rows, the columns reordered and a duplicate with the same decision
    reordered = [*extra, extra[0]]
    path = write_csv(
        tmp / "reordered.csv", reordered, ["verdict_id", "artwork_url", "decision", "library_id"]
    )
    result = ok_json(run_cli(["apply", "--execute", "--json", "--decisions", str(path)], env))
    assert result["rejected"] == 2 and result["applied"] == result["planned"]
    now = artwork(wxyc_db)
    assert all(now[int(i)] is None for i in held)


# -- hostile URLs in LML's answers ------------------------------------------------------------


def hostile_urls() -> list[str]:
    good = cover_url(4242)
    path = good.removeprefix("https://i.discogs.com")
    return [
        "javascript:window.__pwned=1",
        "JavaScript:alert(1)//https://i.discogs.com/x.jpeg",
        "data:image/png;base64,iVBORw0KGgo=",
        good + "/" + "a" * 600,
        "https://evil.example.com" + path,
        "https://i.discogs.com.evil.example.com" + path,
        "http://i.discogs.com" + path,
        "https://u:p@i.discogs.com" + path,
        "https://i.discogs.com@evil.example.com" + path,
        good + '"',
        good + "<",
        good + ">",
        good.replace("/rs:fit/", "/rs fit/"),
        good + '"><script>window.__pwned=1</script>',
        good + "'onerror='window.__pwned=1",
        good + "\n",
        "//i.discogs.com" + path,
        " " + good,
    ]


def test_hostile_urls_from_lml_are_never_written_nor_high(
    wxyc_db: WxycDb, tmp_path: Path, browser: Any
) -> None:
    from tests.test_html_browser import open_page

    catalog = seeded_catalog(wxyc_db, ROWS)
    urls = hostile_urls()
    keys = sorted({grouping_key(a, t) for _, _, _, a, t in candidates(wxyc_db)})
    given = {key: urls[i % len(urls)] for i, key in enumerate(keys)}
    cache_path = tmp_path / "c.duckdb"
    page = tmp_path / "review.html"
    with FaultServer(catalog, echo_lml(wxyc_db, lambda key: given[key])) as lml:
        env = fault_env(wxyc_db, lml.url, cache_path, LIVE_ACTIVITY_LOOKBACK_SECONDS="0")
        ok_json(run_cli(["resolve", "--json", *FAST], env))
    bands = key_bands(cache_path)
    high = {key: given[key] for key, band in bands.items() if band == "high"}
    assert high == {}, f"hostile URLs in the high band: {sorted(set(high.values()))}"
    ok_json(run_cli(["report", "--json", "--sample", "0", "--html", str(page)], env))
    shown = open_page(browser, page)
    shown.select("#band", "")
    assert shown.eval("typeof window.__pwned") == "undefined"
    srcs = shown.eval(
        "Array.from(document.querySelectorAll('#rows img')).map(i => i.getAttribute('src'))"
    )
    assert all(src.startswith("https://") for src in srcs)
    result = ok_json(run_cli(["apply", "--execute", "--json"], env))
    assert result["applied"] == 0
    with wxyc_db.connect() as conn:
        stored = {
            r[0]
            for r in conn.execute(
                f"SELECT artwork_url FROM {wxyc_db.schema}.library WHERE artwork_url IS NOT NULL"
            )
        }
    assert not stored & set(urls)
    loaded = {r.artwork_url for r in catalog.rows if r.artwork_url}
    assert stored == loaded  # only what the catalog held before
