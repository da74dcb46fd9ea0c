"""The audit of covers already in the catalog, through the real CLI against a real PostgreSQL
and the LML simulator, checked against the simulator's ground truth (`artwork_kind`)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from artwork_backfill.cache.store import Cache
from artwork_backfill.demo.simulator import SimulatorConfig, generate_catalog, start_simulator
from artwork_backfill.demo.simulator.catalog import FILLED_KINDS
from artwork_backfill.judge.audit import audit_row, offline_problems
from artwork_backfill.judge.score import ShelfRow
from artwork_backfill.review.matches import audit_rows
from tests.conftest import WxycDb
from tests.test_resolve import env_for, run

CATALOG = generate_catalog(1200, seed=29, filled_share=0.25)
FAST = ["--rate-per-min", "12000"]
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
