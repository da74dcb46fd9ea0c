"""The whole flow through the real CLI: resolve -> report -> review -> apply -> undo, against a
real PostgreSQL and the LML simulator, checked against the simulator's ground truth."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from artwork_backfill.cache.store import Cache
from artwork_backfill.demo.simulator import (
    Expectation,
    SimulatorConfig,
    generate_catalog,
    start_simulator,
)
from artwork_backfill.review.matches import match_table
from tests.conftest import WxycDb
from tests.test_resolve import env_for, run

CATALOG = generate_catalog(1500, seed=21)
FAST = ["--rate-per-min", "12000"]


def artwork_by_id(db: WxycDb) -> dict[int, str | None]:
    with db.connect() as conn:
        return dict(conn.execute("SELECT id, artwork_url FROM wxyc_schema.library").fetchall())


def ok(done: object) -> dict[str, object]:
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in done.stderr  # type: ignore[attr-defined]
    return json.loads(done.stdout)  # type: ignore[attr-defined]


@pytest.mark.parametrize("generation", ["aug", "feb"])
def test_no_wrong_cover_is_ever_high(wxyc_db: WxycDb, tmp_path: Path, generation: str) -> None:
    with wxyc_db.connect() as conn:
        CATALOG.load_into_postgres(conn)
    cache_path = tmp_path / "c.duckdb"
    config = SimulatorConfig(generation=generation, latency_ms=1, jitter_ms=0)
    with start_simulator(CATALOG, config) as sim:
        ok(run(["resolve", "--json", *FAST], env_for(wxyc_db, sim, cache_path)))
    with Cache(cache_path, read_only=True) as cache:
        table = match_table(cache)
    high = table.filter(table["band"] == "high")
    wrong = [
        (r["library_id"], r["artwork_url"])
        for r in high.iter_rows(named=True)
        if not CATALOG.is_correct_cover(r["library_id"], r["artwork_url"])
    ]
    assert wrong == []  # precision 1.0 on a catalog full of traps
    should = [
        r["library_id"]
        for r in table.iter_rows(named=True)
        if CATALOG.truth_for(r["library_id"]).expected is Expectation.APPLY
    ]
    recall = high.height / len(should)
    assert recall > 0.85, recall  # and it still accepts the right answers


def test_resolve_report_review_apply_undo(wxyc_db: WxycDb, tmp_path: Path) -> None:
    with wxyc_db.connect() as conn:
        CATALOG.load_into_postgres(conn)
    before = artwork_by_id(wxyc_db)
    cache_path = tmp_path / "c.duckdb"
    with start_simulator(CATALOG, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        env = env_for(wxyc_db, sim, cache_path)
        resolved = ok(run(["resolve", "--json", *FAST], env))

    export = tmp_path / "matches.csv"
    report = ok(
        run(["report", "--json", "--export", str(export), "--html", str(tmp_path / "r.html")], env)
    )
    assert report["candidates"] == resolved["candidates"]
    assert sum(report["bands"].values()) == resolved["candidates"]  # type: ignore[union-attr]
    assert (tmp_path / "r.html").stat().st_size > 0

    # a reviewer accepts the review rows whose cover is right, and rejects one high row
    with export.open(newline="") as f:
        rows = list(csv.DictReader(f))
    accepted, rejected = set(), None
    for row in rows:
        lid = int(row["library_id"])
        if (
            row["band"] == "review"
            and row["artwork_url"]
            and CATALOG.is_correct_cover(lid, row["artwork_url"])
        ):
            row["decision"] = "accept"
            accepted.add(lid)
        elif row["band"] == "high" and rejected is None:
            row["decision"] = "reject"
            rejected = lid
    assert accepted and rejected is not None
    decisions = tmp_path / "decisions.csv"
    with decisions.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    high = sum(1 for r in rows if r["band"] == "high")

    dry = ok(run(["apply", "--json", "--decisions", str(decisions)], env))
    assert dry["dry_run"] is True and dry["applied"] == 0
    assert artwork_by_id(wxyc_db) == before  # a dry run writes nothing

    applied = ok(
        run(
            ["apply", "--json", "--execute", "--decisions", str(decisions), "--batch-size", "300"],
            env,
        )
    )
    assert applied["eligible"] == high - 1 + len(accepted)
    assert (
        applied["applied"] == applied["eligible"]
        and applied["raced"] == 0
        and applied["stale"] == 0
    )
    after = artwork_by_id(wxyc_db)
    written = {i: url for i, url in after.items() if before[i] is None and url is not None}
    assert len(written) == applied["applied"]
    assert all(CATALOG.is_correct_cover(i, url) for i, url in written.items())  # no wrong cover
    assert rejected not in written and accepted <= set(written)
    assert all(after[i] == url for i, url in before.items() if url is not None)  # never overwrites
    protected = {r.library_id for r in CATALOG.rows if r.discogs_unavailable}
    assert not protected & set(written)

    again = ok(run(["apply", "--json", "--execute", "--decisions", str(decisions)], env))
    assert again["applied"] == 0

    undone = ok(run(["undo", str(applied["run_id"]), "--json", "--execute"], env))
    assert undone["reverted"] == applied["applied"] and undone["skipped"] == 0
    assert artwork_by_id(wxyc_db) == before
