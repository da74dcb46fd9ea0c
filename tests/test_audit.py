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
