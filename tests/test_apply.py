"""`apply` and `undo` on a real PostgreSQL holding WXYC's schema and write-side triggers.

The cache is built through the Cache API with LML bodies shaped like /work/shared/lml-examples
(`library_item.id` is the row's LEGACY release id): `direct` answers naming the row give `high`,
row-less `alternative` answers give `review`, another album's cover gives `reject`.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from artwork_backfill.apply.plan import PlanRow, classify, plan_apply
from artwork_backfill.apply.run import run_apply
from artwork_backfill.apply.settings import ApplySettings, parse_int
from artwork_backfill.cache.store import Cache, new_run_id
from artwork_backfill.cli import app as cli
from artwork_backfill.errors import ConfigError, UserError
from artwork_backfill.judge.normalize import grouping_key
from artwork_backfill.logs import RunLog
from artwork_backfill.model import Answer, CandidateRow, Classification, LookupKey
from artwork_backfill.review.matches import match_table
from artwork_backfill.stopping import StopFlag
from tests.conftest import WxycDb

# -- catalog and cache ---------------------------------------------------------------------

_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "zu", "be", "da", "fo"]


def _word(i: int) -> str:
    """A distinct pronounceable word per integer (no digits: the scorer weighs numbers)."""
    parts = []
    i += 12
    while i:
        i, r = divmod(i, len(_SYLLABLES))
        parts.append(_SYLLABLES[r])
    return "".join(parts).capitalize()


def cover_url(release_id: int) -> str:
    name = f"s3://discogs-database-images/R-{release_id}-1600000000.jpeg"
    stem = base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")
    return f"https://i.discogs.com/Qm9ndXNIYXNo/rs:fit/g:sm/q:90/h:600/w:600/{stem}.jpeg"


def lml_body(kind: str, legacy_id: int, artist: str, title: str, release_id: int) -> dict[str, Any]:
    """high: direct + own row; review: row-less alternative; reject: another album's cover."""
    return {
        "results": [
            {
                "library_item": {
                    "id": 0 if kind == "review" else legacy_id,
                    "title": title,
                    "artist": artist,
                },
                "artwork": {
                    "album": "Quite Another Record" if kind == "reject" else title,
                    "artist": artist,
                    "release_id": release_id,
                    "release_url": f"https://www.discogs.com/release/{release_id}",
                    "artwork_url": cover_url(release_id),
                    "confidence": 1.0,
                },
            }
        ],
        "search_type": "alternative" if kind == "review" else "direct",
        "song_not_found": False,
        "found_on_compilation": False,
        "corrected_artist": None,
        "timeout": False,
        "degraded": False,
    }


@dataclass(frozen=True)
class Row:
    library_id: int
    kind: str  # high | review | reject
    artist: str
    title: str
    url: str


@dataclass
class Seeded:
    db: WxycDb
    cache_path: Path
    rows: list[Row]

    def ids(self, kind: str) -> list[int]:
        return [r.library_id for r in self.rows if r.kind == kind]

    def row(self, library_id: int) -> Row:
        return next(r for r in self.rows if r.library_id == library_id)


def seed(db: WxycDb, cache_path: Path, kinds: list[str]) -> Seeded:
    """Library rows 1..n (artists, genre, format) and a cache resolved for them."""
    rows = []
    for i, kind in enumerate(kinds, 1):
        rows.append(
            Row(
                i,
                kind,
                f"{_word(i)} Collective",
                f"Songs of {_word(i * 7)}",
                cover_url(900_000 + i),
            )
        )
    with db.connect() as conn:
        conn.execute(f"INSERT INTO {db.schema}.genres (id, genre_name) VALUES (11, 'Rock')")
        conn.execute(f"INSERT INTO {db.schema}.format (id, format_name) VALUES (1, 'cd')")
        with conn.cursor().copy(
            f"COPY {db.schema}.artists (id, artist_name, code_letters, alphabetical_name) FROM STDIN"
        ) as copy:
            for r in rows:
                copy.write_row((r.library_id, r.artist, r.artist[:2].upper(), r.artist))
        with conn.cursor().copy(
            f"COPY {db.schema}.library (id, artist_id, genre_id, format_id, album_title, code_number, "
            "legacy_release_id, artist_name) FROM STDIN"
        ) as copy:
            for r in rows:
                copy.write_row(
                    (
                        r.library_id,
                        r.library_id,
                        11,
                        1,
                        r.title,
                        r.library_id % 300,
                        10_000 + r.library_id,
                        r.artist,
                    )
                )
    with Cache(cache_path) as cache:
        cache.bind_source(db.settings.identity)
        run = cache.start_run("resolve", {})
        candidates, keys, answers = [], [], []
        for r in rows:
            key = grouping_key(r.artist, r.title)
            candidates.append(
                CandidateRow(
                    r.library_id, 10_000 + r.library_id, r.artist, r.title, "cd", True, key
                )
            )
            keys.append(LookupKey(key, r.artist, r.title))
            body = lml_body(
                r.kind, 10_000 + r.library_id, r.artist, r.title, 900_000 + r.library_id
            )
            now = time.time()
            answers.append(
                Answer(key, "single", 200, Classification.MATCH, "results", body, 1, 3.0, now, now)
            )
        cache.replace_candidates(run, candidates, keys)
        cache.append_answers(run, answers)
        cache.finish_run(run, "completed", {})
        bands = dict(match_table(cache).select("library_id", "band").iter_rows())
    assert bands == {r.library_id: r.kind for r in rows}, (
        "the fixture bodies must land in their bands"
    )
    return Seeded(db, cache_path, rows)


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "backfill.duckdb"


# -- reading Postgres and the cache -----------------------------------------------------------


def artwork(db: WxycDb) -> dict[int, str | None]:
    with db.connect() as conn:
        return dict(
            conn.execute(f"SELECT id, artwork_url FROM {db.schema}.library ORDER BY id").fetchall()
        )


def library_snapshot(db: WxycDb) -> list[tuple[Any, ...]]:
    with db.connect() as conn:
        return conn.execute(f"SELECT * FROM {db.schema}.library ORDER BY id").fetchall()


def watermark(db: WxycDb) -> Any:
    with db.connect() as conn:
        row = conn.execute(f"SELECT last_modified_at FROM {db.schema}.library_watermark").fetchone()
        assert row is not None
        return row[0]


def count_watermark_bumps(db: WxycDb) -> None:
    """Test-only: record every update of the watermark row (once per library statement)."""
    with db.connect() as conn:
        conn.execute(
            f"""CREATE TABLE {db.schema}.watermark_bumps (at timestamptz DEFAULT clock_timestamp());
            CREATE FUNCTION {db.schema}.log_bump() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO {db.schema}.watermark_bumps DEFAULT VALUES; RETURN NULL; END $$;
            CREATE TRIGGER log_bump AFTER UPDATE ON {db.schema}.library_watermark
                FOR EACH ROW EXECUTE FUNCTION {db.schema}.log_bump();"""
        )


def bumps(db: WxycDb) -> int:
    with db.connect() as conn:
        row = conn.execute(f"SELECT count(*) FROM {db.schema}.watermark_bumps").fetchone()
        assert row is not None
        return int(row[0])


def journal(cache_path: Path, run_id: str | None = None) -> pl.DataFrame:
    with Cache(cache_path, read_only=True) as cache:
        return cache.journal(run_id)


def journal_map(cache_path: Path) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for library_id, url in journal(cache_path).select("library_id", "artwork_url").iter_rows():
        out.setdefault(library_id, set()).add(url)
    return out


# -- running the command ----------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if (
            name.startswith(("DB_", "LIVE_ACTIVITY_", "BACKFILL_", "ARTWORK_BACKFILL_"))
            or name == "DATABASE_URL"
        ):
            monkeypatch.delenv(name)
    yield


def apply_cli(
    s: Seeded,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    command: str = "apply",
    expect: int = 0,
    **env: str,
) -> dict[str, Any]:
    """Run the command in-process with --json; returns the JSON result."""
    for k, v in {
        **s.db.env(),
        "ARTWORK_BACKFILL_CACHE": str(s.cache_path),
        "LIVE_ACTIVITY_LOOKBACK_SECONDS": "0",
        **env,
    }.items():
        monkeypatch.setenv(k, v)
    capsys.readouterr()
    status = cli.run([command, "--json", *args])
    out, err = capsys.readouterr()
    assert status == expect, err
    assert s.db.server.password not in out + err
    return json.loads(out) if status in (0, 130) else {"stderr": err}


def _entry() -> list[str]:
    return [sys.executable, "-m", "artwork_backfill"]


def _entry_with_hooks(*hook_args: str) -> list[str]:
    """The CLI with crash-test hooks injected by tests/_apply_with_hooks.py."""
    return [sys.executable, str(Path(__file__).with_name("_apply_with_hooks.py")), *hook_args, "--"]


def sub_env(s: Seeded, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "LIVE_ACTIVITY_", "BACKFILL_", "ARTWORK_BACKFILL_"))
        and k != "DATABASE_URL"
    }
    env.update(s.db.env())
    env["ARTWORK_BACKFILL_CACHE"] = str(s.cache_path)
    env["LIVE_ACTIVITY_LOOKBACK_SECONDS"] = "0"
    env.update(extra)
    return env


def run_sub(
    s: Seeded,
    args: list[str],
    timeout: float = 120,
    hooks: tuple[str, ...] | None = None,
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(_entry() if hooks is None else _entry_with_hooks(*hooks)), *args],
        env=sub_env(s, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def log_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# -- the plan (pure) ------------------------------------------------------------------------------


def _table(rows: list[dict[str, Any]]) -> pl.DataFrame:
    base = {"artist_name": "A", "album_title": "T", "matched_release_id": 5, "reasons": ""}
    return pl.DataFrame(
        [{**base, **r} for r in rows],
        schema={
            "library_id": pl.Int64,
            "artist_name": pl.String,
            "album_title": pl.String,
            "band": pl.String,
            "artwork_url": pl.String,
            "matched_release_id": pl.Int64,
            "reasons": pl.String,
        },
    )


@dataclass
class _Decisions:
    accepted: set[int]
    rejected: set[int]


def test_plan_takes_high_plus_accepted_minus_rejected_and_revalidates_every_url() -> None:
    good = cover_url(5)
    table = _table(
        [
            {"library_id": 1, "band": "high", "artwork_url": good},
            {"library_id": 2, "band": "high", "artwork_url": good},  # rejected by a reviewer
            {"library_id": 3, "band": "review", "artwork_url": good},  # accepted
            {"library_id": 4, "band": "review", "artwork_url": good},  # nobody looked: not written
            {"library_id": 5, "band": "high", "artwork_url": good.replace("https://", "http://")},
            {
                "library_id": 6,
                "band": "high",
                "artwork_url": "https://s.discogs.com/images/spacer.gif",
            },
            {"library_id": 7, "band": "high", "artwork_url": good + "x" * 600},
            {"library_id": 8, "band": "high", "artwork_url": "https://example.com/cover.jpeg"},
            # accepted, but not a review row (and no cover): left out for its band
            {"library_id": 9, "band": "no_match", "artwork_url": None},
            {"library_id": 10, "band": "high", "artwork_url": ""},
            {
                "library_id": 11,
                "band": "high",
                "artwork_url": good,
                "matched_release_id": 0,
            },  # synthetic
            {"library_id": 12, "band": "reject", "artwork_url": good},
            # a reviewer may overrule titles, never an image the scorer found is not a cover
            {"library_id": 13, "band": "review", "artwork_url": good, "reasons": "artist_photo"},
        ]
    )
    plan = plan_apply(table, _Decisions(accepted={3, 9, 13}, rejected={2}))
    assert [(r.library_id, r.source, r.band) for r in plan.rows] == [
        (1, "high", "high"),
        (3, "accepted", "review"),
    ]
    assert (plan.high, plan.accepted, plan.rejected, plan.invalid, plan.not_reviewable) == (
        1,
        1,
        1,
        7,
        1,
    )
    for code in (
        "url_not_https",
        "spacer_gif",
        "url_too_long",
        "url_host",
        "no_artwork_url",
        "synthetic_release",
        "artist_photo",
    ):
        assert plan.invalid_reasons.get(code), code
    assert [r.library_id for r in plan_apply(table, None).rows] == [1, 2]
    assert all(r.url == good for r in plan.rows)


def test_plan_never_takes_a_row_that_is_not_review_whatever_a_decision_says() -> None:
    """Defence in depth: `read_decisions` refuses such a file, but a decisions object that
    reaches the plan another way still cannot get a reject, no_match or pending row written."""
    good = cover_url(5)
    table = _table(
        [
            {"library_id": 1, "band": "high", "artwork_url": good},
            {"library_id": 2, "band": "review", "artwork_url": good},
            {"library_id": 3, "band": "reject", "artwork_url": good},
            # never so in a scored table; with a writable cover, only the band keeps them out
            {"library_id": 4, "band": "no_match", "artwork_url": good},
            {"library_id": 5, "band": "pending", "artwork_url": good},
            {"library_id": 6, "band": "something_new", "artwork_url": good},
            {"library_id": 7, "band": "reject", "artwork_url": good},  # rejected: still not written
        ]
    )
    plan = plan_apply(table, _Decisions(accepted={1, 2, 3, 4, 5, 6}, rejected={7}))
    assert [(r.library_id, r.source, r.band) for r in plan.rows] == [
        (1, "high", "high"),
        (2, "accepted", "review"),
    ]
    assert (plan.high, plan.accepted, plan.rejected, plan.invalid, plan.not_reviewable) == (
        1,
        1,
        0,
        0,
        4,
    )
    # without decisions only the high band, with none counted as refused
    alone = plan_apply(table, None)
    assert [r.library_id for r in alone.rows] == [1] and alone.not_reviewable == 0


def test_classify_outcomes() -> None:
    from artwork_backfill.apply.plan import RowState

    row = PlanRow(1, "u", "Artist", "Title", "high", "high")
    assert classify(row, RowState(None, "Artist", "Title", False)) == "apply"
    assert classify(row, RowState("other", "Artist", "Title", False)) == "raced"
    assert classify(row, RowState(None, "Artist", "Title (Live)", False)) == "stale"
    assert classify(row, RowState(None, "Someone", "Title", False)) == "stale"
    assert classify(row, RowState(None, "Artist", "Title", True)) == "stale"
    assert classify(row, None) == "stale"


@pytest.mark.parametrize("raw", ["0", "-3", "abc", "1.5", "20banana", " "])
def test_batch_size_is_a_whole_number_of_at_least_one(raw: str) -> None:
    if raw.strip():
        with pytest.raises(ConfigError, match="BACKFILL_BATCH_SIZE"):
            ApplySettings.from_env({"BACKFILL_BATCH_SIZE": raw})
    else:
        assert ApplySettings.from_env({"BACKFILL_BATCH_SIZE": raw}).batch_size == 5000


def test_settings_defaults_and_limits() -> None:
    s = ApplySettings.from_env({})
    assert (s.batch_size, s.statement_timeout_ms, s.lookback_s, s.pause_ms, s.max_pause_ms) == (
        5000,
        300_000,
        60,
        30_000,
        1_800_000,
    )
    assert ApplySettings.from_env({"BACKFILL_BATCH_SIZE": "9"}, batch_size="12").batch_size == 12
    with pytest.raises(ConfigError, match="LIVE_ACTIVITY_PAUSE_MS"):
        ApplySettings.from_env({"LIVE_ACTIVITY_PAUSE_MS": "0"})
    with pytest.raises(ConfigError, match="DB_STATEMENT_TIMEOUT_MS"):
        ApplySettings.from_env({"DB_STATEMENT_TIMEOUT_MS": "5s"})
    assert ApplySettings.from_env({"LIVE_ACTIVITY_LOOKBACK_SECONDS": "0"}).lookback_s == 0
    assert parse_int("X", None, 7, minimum=1) == 7


# -- dry run, execute, re-run ---------------------------------------------------------------------


KINDS = ["high"] * 6 + ["review"] * 2 + ["reject"] * 2


def test_dry_run_writes_nothing_anywhere(
    wxyc_db: WxycDb,
    cache_path: Path,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = seed(wxyc_db, cache_path, KINDS)
    before, mark = library_snapshot(wxyc_db), watermark(wxyc_db)
    with wxyc_db.connect(autocommit=True) as listener:
        listener.execute("LISTEN cdc")
        result = apply_cli(s, capsys, monkeypatch)
        result2 = apply_cli(s, capsys, monkeypatch, "--dry-run", "--sample", "2")
        notes = list(listener.notifies(timeout=0.5))
    assert notes == []
    assert library_snapshot(wxyc_db) == before and watermark(wxyc_db) == mark
    assert result["dry_run"] is True and result["status"] == "dry_run"
    assert (result["planned"], result["high"], result["eligible"], result["would_apply"]) == (
        6,
        6,
        6,
        6,
    )
    assert (result["applied"], result["raced"], result["stale"]) == (0, 0, 0)
    assert result["sample"][0] == {
        "library_id": 1,
        "artist_name": s.row(1).artist,
        "album_title": s.row(1).title,
        "old": None,
        "new": s.row(1).url,
        "band": "high",
        "source": "high",
    }
    assert len(result2["sample"]) == 2
    assert journal(cache_path).height == 0
    with Cache(cache_path, read_only=True) as cache:
        assert cache.runs("apply").height == 0


def test_execute_writes_exactly_the_plan_and_a_second_run_applies_nothing(
    wxyc_db: WxycDb,
    cache_path: Path,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = seed(wxyc_db, cache_path, KINDS)
    count_watermark_bumps(wxyc_db)
    with wxyc_db.connect(autocommit=True) as listener:
        listener.execute("LISTEN cdc")
        first = apply_cli(s, capsys, monkeypatch, "--execute")
        notes = list(listener.notifies(timeout=0.5))
    assert (
        first["dry_run"],
        first["status"],
        first["applied"],
        first["raced"],
        first["stale"],
    ) == (False, "completed", 6, 0, 0)
    assert (first["batches"], first["remaining"], first["analyzed"]) == (1, 0, True)
    assert artwork(wxyc_db) == {r.library_id: (r.url if r.kind == "high" else None) for r in s.rows}
    assert len(notes) == 6 and {json.loads(n.payload)["data"]["id"] for n in notes} == set(
        s.ids("high")
    )
    assert bumps(wxyc_db) == 1  # one statement, one watermark bump
    written = journal(cache_path, first["run_id"])
    assert written.select(
        "library_id", "artwork_url", "artist_name", "album_title", "band"
    ).rows() == [
        (r.library_id, r.url, r.artist, r.title, "high") for r in s.rows if r.kind == "high"
    ]

    second = apply_cli(s, capsys, monkeypatch, "--execute")
    assert (
        second["applied"],
        second["raced"],
        second["stale"],
        second["eligible"],
        second["already_applied"],
    ) == (0, 0, 0, 0, 6)
    assert second["batches"] == 0 and second["analyzed"] is False
    assert bumps(wxyc_db) == 1
    assert journal(cache_path, second["run_id"]).height == 0
    with Cache(cache_path, read_only=True) as cache:
        runs = cache.runs("apply")
    assert dict(runs.select("run_id", "status").iter_rows()) == {
        first["run_id"]: "completed",
        second["run_id"]: "completed",
    }


def test_raced_stale_and_not_on_discogs_rows(
    wxyc_db: WxycDb,
    cache_path: Path,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = seed(wxyc_db, cache_path, KINDS)
    theirs = cover_url(123)
    lib = f"{wxyc_db.schema}.library"
    with wxyc_db.connect() as conn:  # after resolve, before apply
        conn.execute(
            f"UPDATE {lib} SET artwork_url = %s WHERE id = 1", [theirs]
        )  # the API got there first
        conn.execute(f"UPDATE {lib} SET album_title = album_title || ' (Live)' WHERE id = 2")
        conn.execute(
            f"UPDATE {lib} SET discogs_unavailable = true, discogs_unavailable_note = 'MD' WHERE id = 3"
        )
        conn.execute(f"UPDATE {wxyc_db.schema}.artists SET artist_name = 'Renamed' WHERE id = 4")
        conn.execute(f"DELETE FROM {lib} WHERE id = 5")
    dry = apply_cli(s, capsys, monkeypatch)
    assert (dry["would_apply"], dry["would_race"], dry["would_stale"]) == (1, 1, 4)
    result = apply_cli(s, capsys, monkeypatch, "--execute")
    assert (result["applied"], result["raced"], result["stale"], result["remaining"]) == (
        1,
        1,
        4,
        0,
    )
    now = artwork(wxyc_db)
    assert now[1] == theirs  # their value stays
    assert now[2] is None and now[3] is None and now[4] is None and 5 not in now
    assert now[6] == s.row(6).url
    assert journal(cache_path, result["run_id"])["library_id"].to_list() == [6]
    # the raced row is not ours: a re-run still reports it as raced, never as already applied
    again = apply_cli(s, capsys, monkeypatch, "--execute")
    assert (again["applied"], again["raced"], again["already_applied"]) == (0, 1, 1)


def test_decisions_accept_and_reject(
    wxyc_db: WxycDb,
    cache_path: Path,
    cli_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = seed(wxyc_db, cache_path, KINDS)
    with Cache(cache_path, read_only=True) as cache:
        table = match_table(cache)
    chosen = {s.ids("review")[0]: "accept", s.ids("high")[0]: "reject"}
    path = tmp_path / "decisions.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["library_id", "decision", "verdict_id", "artwork_url"])
        for library_id, verdict, url in table.select(
            "library_id", "verdict_id", "artwork_url"
        ).iter_rows():
            writer.writerow([library_id, chosen.get(library_id, ""), verdict, url or ""])
    result = apply_cli(s, capsys, monkeypatch, "--execute", "--decisions", str(path))
    assert (result["high"], result["accepted"], result["rejected"], result["applied"]) == (
        5,
        1,
        1,
        6,
    )
    now = artwork(wxyc_db)
    accepted, rejected = s.ids("review")[0], s.ids("high")[0]
    assert now[accepted] == s.row(accepted).url and now[rejected] is None
    assert now[s.ids("review")[1]] is None and all(now[i] is None for i in s.ids("reject"))
    bands = dict(journal(cache_path, result["run_id"]).select("library_id", "band").iter_rows())
    assert bands[accepted] == "review"


def _decisions_file(path: Path, table: pl.DataFrame, chosen: dict[int, str]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["library_id", "decision", "verdict_id", "artwork_url"])
        for library_id, verdict, url in table.select(
            "library_id", "verdict_id", "artwork_url"
        ).iter_rows():
            writer.writerow([library_id, chosen.get(library_id, ""), verdict, url or ""])
    return path


def test_decisions_accepting_a_reject_row_are_refused_and_nothing_is_written(
    wxyc_db: WxycDb,
    cache_path: Path,
    cli_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = seed(wxyc_db, cache_path, KINDS)
    with Cache(cache_path, read_only=True) as cache:
        table = match_table(cache)
    bands = dict(table.select("library_id", "band").iter_rows())
    verdicts = dict(table.select("library_id", "verdict_id").iter_rows())
    reject = s.ids("reject")[0]
    assert bands[reject] == "reject"
    line = table["library_id"].to_list().index(reject) + 2  # the header is line 1
    path = _decisions_file(
        tmp_path / "decisions.csv", table, {s.ids("review")[0]: "accept", reject: "accept"}
    )
    before = library_snapshot(wxyc_db)
    for mode in ((), ("--execute",)):
        failed = apply_cli(s, capsys, monkeypatch, *mode, "--decisions", str(path), expect=1)
        errors = [line for line in failed["stderr"].splitlines() if line.strip()]
        assert errors == [
            f"error: {path}: accept on rows that are not `review` (reviewers decide `review` rows "
            f"only): line {line}: library_id {reject} (verdict_id {verdicts[reject]}) is "
            "`reject`, a rejected cover is never written; reject them or leave them empty"
        ]
        assert "Traceback" not in failed["stderr"]
    assert library_snapshot(wxyc_db) == before  # not even the high rows: the file is refused
    assert journal(cache_path).height == 0

    # The same file through the installed entry point, in a real process.
    done = run_sub(s, ["apply", "--execute", "--decisions", str(path)])
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: accept on rows that are not")
    assert library_snapshot(wxyc_db) == before


def test_a_plan_from_accepted_reject_rows_writes_none_of_them(
    wxyc_db: WxycDb, cache_path: Path
) -> None:
    """A decisions object that skipped `read_decisions` still cannot get a reject row into
    PostgreSQL: only the high band and the accepted review row are written."""
    s = seed(wxyc_db, cache_path, KINDS)
    accepted = {s.ids("review")[0], *s.ids("reject")}
    with Cache(cache_path) as cache:
        plan = plan_apply(match_table(cache), _Decisions(accepted=accepted, rejected=set()))
        result = run_apply(
            cache,
            s.db.settings,
            plan,
            execute=True,
            settings=ApplySettings.from_env({}),
            log=RunLog(
                tool="artwork-backfill apply",
                run_id=new_run_id(),
                fmt="json",
                out=io.StringIO(),
                err=io.StringIO(),
            ),
        )
    assert (plan.accepted, plan.not_reviewable) == (1, 2)
    assert result.applied == 7
    now = artwork(wxyc_db)
    assert all(now[i] is None for i in s.ids("reject"))
    assert now[s.ids("review")[0]] == s.row(s.ids("review")[0]).url
    assert set(journal(cache_path, result.run_id)["library_id"].to_list()) == {
        *s.ids("high"),
        s.ids("review")[0],
    }


# -- undo ---------------------------------------------------------------------------------------


def test_undo_restores_null_and_leaves_rows_changed_since(
    wxyc_db: WxycDb,
    cache_path: Path,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = seed(wxyc_db, cache_path, KINDS)
    applied = apply_cli(s, capsys, monkeypatch, "--execute")
    run_id = applied["run_id"]
    edited = cover_url(777)
    with wxyc_db.connect() as conn:  # a person replaced one cover since
        conn.execute(f"UPDATE {wxyc_db.schema}.library SET artwork_url = %s WHERE id = 2", [edited])
    before = library_snapshot(wxyc_db)
    dry = apply_cli(s, capsys, monkeypatch, run_id, command="undo")
    assert (dry["dry_run"], dry["reverted"], dry["skipped"]) == (True, 5, 1)
    assert library_snapshot(wxyc_db) == before

    undone = apply_cli(
        s, capsys, monkeypatch, run_id, "--execute", "--batch-size", "2", command="undo"
    )
    assert (undone["reverted"], undone["skipped"], undone["batches"], undone["run_id"]) == (
        5,
        1,
        3,
        run_id,
    )
    now = artwork(wxyc_db)
    assert now[2] == edited
    assert all(now[i] is None for i in s.ids("high") if i != 2)
    with Cache(cache_path, read_only=True) as cache:
        undo_run = cache.runs("undo")
        logged = cache.conn.execute(
            "SELECT run_id, library_id FROM undo_log ORDER BY library_id"
        ).fetchall()
    assert undo_run["status"].to_list() == ["completed"]
    assert logged == [(run_id, i) for i in s.ids("high") if i != 2]

    # a second undo is a no-op: the reverted rows are counted as such, not touched again
    again = apply_cli(s, capsys, monkeypatch, run_id, "--execute", command="undo")
    assert (again["reverted"], again["skipped"], again["already_undone"]) == (0, 1, 5)
    assert again["batches"] == 1 and artwork(wxyc_db) == now

    unknown = apply_cli(s, capsys, monkeypatch, "no-such-run", command="undo", expect=1)
    assert (
        "no apply run 'no-such-run'" in unknown["stderr"] and "Traceback" not in unknown["stderr"]
    )


def _undo_log(cache_path: Path) -> set[tuple[str, int]]:
    with Cache(cache_path, read_only=True) as cache:
        rows = cache.conn.execute("SELECT run_id, library_id FROM undo_log").fetchall()
    return {(str(r), int(i)) for r, i in rows}


def test_an_undone_row_stays_undone_until_apply_include_undone(
    wxyc_db: WxycDb,
    cache_path: Path,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = seed(wxyc_db, cache_path, KINDS)
    high = s.ids("high")
    first = apply_cli(s, capsys, monkeypatch, "--execute")
    assert first["applied"] == 6 and first["skipped_undone"] == 0
    undone = apply_cli(s, capsys, monkeypatch, first["run_id"], "--execute", command="undo")
    assert undone["reverted"] == 6 and all(v is None for v in artwork(wxyc_db).values())

    # a later apply (dry run and --execute) leaves the undone rows alone, and says so
    dry = apply_cli(s, capsys, monkeypatch)
    assert (dry["skipped_undone"], dry["eligible"], dry["would_apply"]) == (6, 0, 0)
    again = apply_cli(s, capsys, monkeypatch, "--execute")
    assert (again["skipped_undone"], again["eligible"], again["applied"], again["batches"]) == (
        6,
        0,
        0,
        0,
    )
    assert all(v is None for v in artwork(wxyc_db).values())
    capsys.readouterr()
    assert cli.run(["apply"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"undone earlier \(skipped\)\s+│ 6\s", out), out

    # asked, through the real entry point: written again (same URLs), journaled as a new run
    done = run_sub(s, ["apply", "--execute", "--include-undone", "--json"])
    assert done.returncode == 0, done.stderr
    rerun = json.loads(done.stdout)
    assert (rerun["include_undone"], rerun["undone_included"], rerun["applied"]) == (True, 6, 6)
    assert rerun["skipped_undone"] == 0
    assert artwork(wxyc_db) == {r.library_id: (r.url if r.kind == "high" else None) for r in s.rows}
    assert journal(cache_path, rerun["run_id"])["library_id"].to_list() == high

    # the rows hold the very URLs run 1 wrote, but run 3 wrote them: undo of run 1 leaves them
    stale_undo = apply_cli(s, capsys, monkeypatch, first["run_id"], "--execute", command="undo")
    assert (stale_undo["reverted"], stale_undo["superseded"], stale_undo["already_undone"]) == (
        0,
        0,
        6,
    )
    assert all(artwork(wxyc_db)[i] for i in high)
    # run 3 owns them: its undo takes them back, and a later apply skips them again
    third = apply_cli(s, capsys, monkeypatch, rerun["run_id"], "--execute", command="undo")
    assert third["reverted"] == 6
    assert apply_cli(s, capsys, monkeypatch, "--execute")["skipped_undone"] == 6


def test_undo_reverts_only_what_the_run_itself_put_there(
    wxyc_db: WxycDb,
    cache_path: Path,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Undo of run A must not reset a row a later run C, or WXYC's API, wrote since, even with
    the very URL A wrote; a second undo is a no-op."""
    s = seed(wxyc_db, cache_path, ["high"] * 4)
    lib = f"{wxyc_db.schema}.library"
    a = apply_cli(s, capsys, monkeypatch, "--execute")
    assert a["applied"] == 4
    # row 1: undone (as an undo records it); row 2: a person cleared it (nothing journaled);
    # then run C (--include-undone) writes both again, with the very URLs A wrote
    with Cache(cache_path) as cache:
        cache.record_undo("earlier-undo", a["run_id"], [1])
    with wxyc_db.connect() as conn:
        conn.execute(f"UPDATE {lib} SET artwork_url = NULL WHERE id IN (1, 2)")
    c = apply_cli(s, capsys, monkeypatch, "--execute", "--include-undone")
    assert (c["applied"], c["undone_included"], c["already_applied"]) == (2, 1, 2)
    # row 3: a person replaced the cover since; row 4: still A's
    with wxyc_db.connect() as conn:
        conn.execute(f"UPDATE {lib} SET artwork_url = %s WHERE id = 3", [cover_url(31)])

    dry = apply_cli(s, capsys, monkeypatch, a["run_id"], command="undo")
    counts = ("reverted", "skipped", "superseded", "already_undone")
    assert tuple(dry[k] for k in counts) == (1, 1, 1, 1)
    undo_a = apply_cli(s, capsys, monkeypatch, a["run_id"], "--execute", command="undo")
    assert tuple(undo_a[k] for k in counts) == (1, 1, 1, 1)
    now = artwork(wxyc_db)
    # rows 1 and 2 hold A's URLs, but C put them there: kept
    assert now[1] == s.row(1).url and now[2] == s.row(2).url
    assert now[4] is None and now[3] == cover_url(31)
    assert _undo_log(cache_path) == {(a["run_id"], 1), (a["run_id"], 4)}

    # WXYC's API fills row 4 again, with the same URL: no undo of A touches it now
    with wxyc_db.connect() as conn:
        conn.execute(f"UPDATE {lib} SET artwork_url = %s WHERE id = 4", [s.row(4).url])
    twice = apply_cli(s, capsys, monkeypatch, a["run_id"], "--execute", command="undo")
    assert tuple(twice[k] for k in counts) == (0, 1, 1, 2)
    assert twice["batches"] == 1  # only row 3 (A's in the journal, a person's now) was sent
    undo_c = apply_cli(s, capsys, monkeypatch, c["run_id"], "--execute", command="undo")
    assert (undo_c["reverted"], undo_c["journaled"]) == (2, 2)
    now = artwork(wxyc_db)
    assert now[1] is None and now[2] is None
    assert now[4] == s.row(4).url and now[3] == cover_url(31)
    # C's undo, again: a no-op, counted
    again = apply_cli(s, capsys, monkeypatch, c["run_id"], "--execute", command="undo")
    assert (again["reverted"], again["already_undone"], again["batches"]) == (0, 2, 0)


def test_apply_journals_the_verdict_and_undo_restores_the_previous_value(
    wxyc_db: WxycDb,
    cache_path: Path,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A backfill journals previous NULL and the verdict written; a write that replaced a
    cover (what `apply --repair` will journal) is undone to that cover, and the backfill under
    it is undone after it, back to NULL."""
    s = seed(wxyc_db, cache_path, ["high"] * 3)
    a = apply_cli(s, capsys, monkeypatch, "--execute")
    with Cache(cache_path, read_only=True) as cache:
        verdicts = dict(match_table(cache).select("library_id", "verdict_id").iter_rows())
    written = journal(cache_path, a["run_id"])
    assert written.select("library_id", "previous_artwork_url", "verdict_id").rows() == [
        (i, None, verdicts[i]) for i in (1, 2, 3)
    ]

    # a repair run R replaced row 1's cover: journaled with the value it replaced
    fixed = cover_url(4242)
    with wxyc_db.connect() as conn:
        conn.execute(f"UPDATE {wxyc_db.schema}.library SET artwork_url = %s WHERE id = 1", [fixed])
    with Cache(cache_path) as cache:
        repair = cache.start_run("apply", {"repair": True})
        r1 = s.row(1)
        cache.journal_write(repair, [(1, fixed, r1.artist, r1.title, "high", r1.url, "v-repair")])
        cache.finish_run(repair, "completed", {"applied": 1})

    # A no longer owns row 1 (R wrote it since): undo of A takes back rows 2 and 3 only
    dry = apply_cli(s, capsys, monkeypatch, a["run_id"], command="undo")
    assert (dry["reverted"], dry["superseded"]) == (2, 1)
    undo_r = apply_cli(s, capsys, monkeypatch, repair, "--execute", command="undo")
    assert (undo_r["reverted"], undo_r["restored_previous"]) == (1, 1)
    assert artwork(wxyc_db)[1] == s.row(1).url  # the value the repair replaced, not NULL
    undo_a = apply_cli(s, capsys, monkeypatch, a["run_id"], "--execute", command="undo")
    assert (undo_a["reverted"], undo_a["restored_previous"], undo_a["superseded"]) == (3, 0, 0)
    assert all(v is None for v in artwork(wxyc_db).values())


def test_runs_record_thresholds_decisions_hash_and_report_lists_them(
    wxyc_db: WxycDb,
    cache_path: Path,
    cli_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hashlib

    s = seed(wxyc_db, cache_path, KINDS)
    with Cache(cache_path, read_only=True) as cache:
        table = match_table(cache)
    path = _decisions_file(tmp_path / "decisions.csv", table, {s.ids("review")[0]: "accept"})
    sha = hashlib.sha256(path.read_bytes()).hexdigest()

    dry = apply_cli(s, capsys, monkeypatch, "--decisions", str(path))
    assert dry["decisions_sha256"] == sha and dry["thresholds"]["high_album"] == 90.0
    first = apply_cli(
        s,
        capsys,
        monkeypatch,
        "--execute",
        "--decisions",
        str(path),
        "--threshold",
        "high_album=92",
    )
    assert first["applied"] == 7
    assert first["decisions_sha256"] == sha and first["thresholds"]["high_album"] == 92.0
    second = apply_cli(s, capsys, monkeypatch, "--execute")
    assert second["decisions_sha256"] is None and second["thresholds"]["high_album"] == 90.0
    undone = apply_cli(s, capsys, monkeypatch, first["run_id"], "--execute", command="undo")
    assert undone["reverted"] == 7

    capsys.readouterr()
    assert cli.run(["apply", "--decisions", str(path), "--threshold", "high_album=92"]) == 0
    text = capsys.readouterr().out
    assert f"{sha[:16]}..." in text and "defaults except high_album=92" in text

    done = run_sub(s, ["report", "--json"])
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout)["runs"]
    assert [(r["command"], r["run_id"], r["status"]) for r in runs] == [
        ("apply", first["run_id"], "completed"),
        ("apply", second["run_id"], "completed"),
        ("undo", undone["undo_run_id"], "completed"),
    ]
    a, b, u = runs
    assert a["decisions_sha256"] == sha and a["thresholds"]["high_album"] == 92.0
    assert (a["journaled"], a["verdict_ids"], a["counts"]["applied"]) == (7, 7, 7)
    assert b["decisions_sha256"] is None and b["counts"]["already_applied"] == 6
    assert u["target_run_id"] == first["run_id"] and u["counts"]["reverted"] == 7
    assert a["started_at"] and a["finished_at"]
    with Cache(cache_path, read_only=True) as cache:
        recorded = json.loads(cache.runs("apply")["settings"][0])
    assert recorded["decisions_sha256"] == sha and recorded["thresholds"]["high_album"] == 92.0


# -- batches ------------------------------------------------------------------------------------


def test_small_batches_bump_the_watermark_once_per_batch(
    wxyc_db: WxycDb,
    cache_path: Path,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = seed(wxyc_db, cache_path, ["high"] * 7)
    count_watermark_bumps(wxyc_db)
    with wxyc_db.connect() as conn:  # batch 1 (rows 1, 2) has nothing left to write
        conn.execute(
            f"UPDATE {wxyc_db.schema}.library SET artwork_url = %s WHERE id IN (1, 2)",
            [cover_url(1)],
        )
    start = bumps(wxyc_db)
    result = apply_cli(s, capsys, monkeypatch, "--execute", "--batch-size", "2")
    assert (result["batches"], result["applied"], result["raced"]) == (4, 5, 2)
    assert bumps(wxyc_db) - start == 3  # the empty batch rolled back: no bump for it
    monkeypatch.setenv("BACKFILL_BATCH_SIZE", "0")
    bad = apply_cli(s, capsys, monkeypatch, "--execute", expect=1, BACKFILL_BATCH_SIZE="0")
    assert "BACKFILL_BATCH_SIZE" in bad["stderr"]


def test_refusals(
    wxyc_db: WxycDb,
    cache_path: Path,
    cli_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = seed(wxyc_db, cache_path, ["high"] * 2)
    both = apply_cli(s, capsys, monkeypatch, "--execute", "--dry-run", expect=1)
    assert "contradictory" in both["stderr"]
    other = Seeded(s.db, tmp_path / "other.duckdb", s.rows)
    with Cache(other.cache_path) as cache:
        cache.bind_source("elsewhere:5432/wxyc/wxyc_schema")
    mismatch = apply_cli(other, capsys, monkeypatch, "--execute", expect=1)
    assert "elsewhere" in mismatch["stderr"] and "Traceback" not in mismatch["stderr"]
    missing = Seeded(s.db, tmp_path / "none.duckdb", s.rows)
    assert "does not exist" in apply_cli(missing, capsys, monkeypatch, expect=1)["stderr"]
    assert not missing.cache_path.exists()
    assert all(v is None for v in artwork(wxyc_db).values())


def test_text_output_shows_the_plan_and_a_sample(
    wxyc_db: WxycDb,
    cache_path: Path,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = seed(wxyc_db, cache_path, KINDS)
    for k, v in {**s.db.env(), "ARTWORK_BACKFILL_CACHE": str(cache_path)}.items():
        monkeypatch.setenv(k, v)
    capsys.readouterr()
    assert cli.run(["apply", "--sample", "1"]) == 0
    out = capsys.readouterr().out
    assert "dry run, nothing written" in out and "would apply" in out
    assert f"{s.row(1).artist} - {s.row(1).title} [high]: NULL -> {s.row(1).url}" in out
    assert cli.run(["apply", "--threshold", "nonsense=1"]) == 1
    assert "unknown threshold" in capsys.readouterr().err


def _hold_row_lock(
    db: WxycDb, library_id: int, seconds: float, column: str = "plays = plays + 1"
) -> threading.Thread:
    """Another writer holds a row lock on one library row for a while.

    `plays` is outside the watermark trigger's column list, so only that row is locked; a
    column inside it (e.g. `label`) also locks the one library_watermark row, which blocks
    every other library statement until that transaction ends.
    """
    ready = threading.Event()

    def hold() -> None:
        with db.connect() as conn:
            conn.execute(f"UPDATE {db.schema}.library SET {column} WHERE id = %s", [library_id])
            ready.set()
            time.sleep(seconds)
            conn.rollback()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    ready.wait(10)
    return thread


def test_lock_timeout_is_retried(wxyc_db: WxycDb, cache_path: Path) -> None:
    s = seed(wxyc_db, cache_path, ["high"] * 4)
    holder = _hold_row_lock(wxyc_db, 3, 0.8)
    result, lines = _direct(s, BACKFILL_LOCK_TIMEOUT_MS="200", BACKFILL_BATCH_SIZE="2")
    holder.join()
    assert result.applied == 4 and result.batches == 2
    assert [line["batch_index"] for line in lines if line["step"] == "batch_retry"] == [2]


def test_an_open_catalog_write_holds_the_watermark_and_is_waited_out(
    wxyc_db: WxycDb, cache_path: Path
) -> None:
    s = seed(wxyc_db, cache_path, ["high"] * 4)
    holder = _hold_row_lock(wxyc_db, 3, 0.8, column="label = 'busy'")
    result, lines = _direct(s, BACKFILL_LOCK_TIMEOUT_MS="200", BACKFILL_BATCH_SIZE="2")
    holder.join()
    assert result.applied == 4
    assert [line["batch_index"] for line in lines if line["step"] == "batch_retry"] == [1]


def test_a_failing_batch_stops_the_run_and_keeps_what_was_committed(
    wxyc_db: WxycDb, cache_path: Path
) -> None:
    s = seed(wxyc_db, cache_path, ["high"] * 6)
    holder = _hold_row_lock(wxyc_db, 3, 6.0)
    result, lines = _direct(s, BACKFILL_LOCK_TIMEOUT_MS="100", BACKFILL_BATCH_SIZE="2")
    holder.join()
    assert isinstance(result, UserError) and "batch 2 failed" in str(result)
    assert lines[-1]["step"] == "failed" and lines[-1]["applied"] == 2 and lines[-1]["batches"] == 1
    assert "analyzed" in [line["step"] for line in lines]
    assert {i for i, url in artwork(wxyc_db).items() if url} == {1, 2}
    with Cache(cache_path, read_only=True) as cache:
        assert cache.runs("apply")["status"].to_list() == ["failed"]
    assert journal_map(cache_path) == {1: {s.row(1).url}, 2: {s.row(2).url}}
    again, _ = _direct(s)
    assert (again.applied, again.already_applied) == (4, 2)


# -- live-DJ pause --------------------------------------------------------------------------------


def _direct(s: Seeded, **env: str) -> tuple[Any, list[dict[str, Any]]]:
    """run_apply through the library API, JSON logs captured."""
    import io

    out, err = io.StringIO(), io.StringIO()
    log = RunLog(tool="artwork-backfill apply", run_id=new_run_id(), fmt="json", out=out, err=err)
    settings = ApplySettings.from_env(env)
    try:
        with Cache(s.cache_path) as cache:
            plan = plan_apply(match_table(cache))
            result: Any = run_apply(
                cache, s.db.settings, plan, execute=True, settings=settings, log=log
            )
    except Exception as exc:
        result = exc
    return result, log_lines(out.getvalue() + err.getvalue())


def test_live_dj_pause_waits_then_writes(wxyc_db: WxycDb, cache_path: Path) -> None:
    s = seed(wxyc_db, cache_path, ["high"] * 3)
    with wxyc_db.connect() as conn:
        conn.execute(
            f"INSERT INTO {wxyc_db.schema}.flowsheet (entry_type, add_time) VALUES ('track', now())"
        )
    started = time.monotonic()
    result, lines = _direct(s, LIVE_ACTIVITY_LOOKBACK_SECONDS="2", LIVE_ACTIVITY_PAUSE_MS="1000")
    assert result.applied == 3
    assert [line for line in lines if line["step"] == "live_activity_pause"]
    assert time.monotonic() - started >= 1.0


def test_live_dj_pause_ceiling_aborts_before_writing(wxyc_db: WxycDb, cache_path: Path) -> None:
    s = seed(wxyc_db, cache_path, ["high"] * 3)
    with wxyc_db.connect() as conn:
        conn.execute(
            f"INSERT INTO {wxyc_db.schema}.flowsheet (entry_type, add_time) VALUES ('track', now())"
        )
    result, lines = _direct(s, LIVE_ACTIVITY_PAUSE_MS="1000", LIVE_ACTIVITY_MAX_PAUSE_MS="1500")
    assert isinstance(result, Exception) and "LIVE_ACTIVITY_MAX_PAUSE_MS" in str(result)
    assert lines[-1]["step"] == "failed" and lines[-1]["level"] == "error"
    assert all(v is None for v in artwork(wxyc_db).values())


def test_live_probe_error_fails_open(wxyc_db: WxycDb, cache_path: Path) -> None:
    s = seed(wxyc_db, cache_path, ["high"] * 2)
    with wxyc_db.connect() as conn:
        conn.execute(f"DROP TABLE {wxyc_db.schema}.flowsheet")
    result, lines = _direct(s)
    assert result.applied == 2
    assert any(line["step"] == "probe_error" and line["level"] == "warning" for line in lines)


def test_injected_hooks_see_every_point_of_every_batch_in_order(
    wxyc_db: WxycDb, cache_path: Path
) -> None:
    """The seam the crash tests use: `run_apply(hooks=...)`, and `inject` for CLI runs."""
    from artwork_backfill.apply.hooks import BatchHooks, inject
    from artwork_backfill.apply.undo import run_undo

    class Record(BatchHooks):
        def __init__(self) -> None:
            self.seen: list[tuple[str, int]] = []

        def after_update(self, batch: int) -> None:
            self.seen.append(("after_update", batch))

        def after_intent(self, batch: int) -> None:
            self.seen.append(("after_intent", batch))

        def after_commit(self, batch: int) -> None:
            self.seen.append(("after_commit", batch))

        def after_journal(self, batch: int) -> None:
            self.seen.append(("after_journal", batch))

    points = ["after_update", "after_intent", "after_commit", "after_journal"]
    s = seed(wxyc_db, cache_path, ["high"] * 5)
    passed, injected = Record(), Record()
    with Cache(cache_path) as cache:
        plan = plan_apply(match_table(cache))

        def log(tool: str) -> RunLog:
            return RunLog(
                tool=tool, run_id=new_run_id(), fmt="json", out=io.StringIO(), err=io.StringIO()
            )

        settings = ApplySettings(batch_size=2, live_pause=False)
        result = run_apply(
            cache,
            s.db.settings,
            plan,
            execute=True,
            settings=settings,
            log=log("artwork-backfill apply"),
            hooks=passed,
        )
        with inject(injected):  # a run given no hooks (here: undo) picks up the injected ones
            undone = run_undo(
                cache,
                s.db.settings,
                result.run_id,
                execute=True,
                settings=settings,
                log=log("artwork-backfill undo"),
            )
    assert result.applied == 5 and result.batches == 3
    assert passed.seen == [(p, b) for b in (1, 2, 3) for p in points]
    assert undone.reverted == 5 and injected.seen == passed.seen


# -- session hygiene and the pause between batches -------------------------------------------------


def test_write_session_settings_are_visible_from_inside_the_session(
    wxyc_db: WxycDb,
    cache_path: Path,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the CLI, with hooks injected: the session's own view (pg_settings,
    pg_stat_activity through the same connection), libpq's parameters in `conn.info`, and
    another session's view of it in the middle of a batch."""
    import psycopg

    from artwork_backfill.apply.hooks import BatchHooks, inject

    s = seed(wxyc_db, cache_path, ["high"] * 3)
    names = (
        "idle_in_transaction_session_timeout",
        "statement_timeout",
        "lock_timeout",
        "synchronous_commit",
        "default_transaction_read_only",
    )

    class Look(BatchHooks):
        def __init__(self) -> None:
            self.settings: list[dict[str, str]] = []
            self.params: list[dict[str, str]] = []
            self.mine: list[tuple[Any, ...]] = []
            self.seen_from_outside: list[tuple[Any, ...]] = []
            self.pid = 0

        def on_session(self, conn: psycopg.Connection) -> None:
            rows = conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", [list(names)]
            ).fetchall()
            self.settings.append(dict(rows))
            self.params.append(conn.info.get_parameters())
            row = conn.execute(
                "SELECT application_name, state FROM pg_stat_activity WHERE pid = pg_backend_pid()"
            ).fetchone()
            assert row is not None
            self.mine.append(tuple(row))
            self.pid = conn.info.backend_pid

        def after_intent(self, batch: int) -> None:
            with wxyc_db.connect(autocommit=True) as other:
                row = other.execute(
                    "SELECT application_name, state FROM pg_stat_activity WHERE pid = %s",
                    [self.pid],
                ).fetchone()
            assert row is not None
            self.seen_from_outside.append(tuple(row))

    env = {
        "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS": "45000",
        "DB_STATEMENT_TIMEOUT_MS": "120000",
        "DB_KEEPALIVES_IDLE_S": "17",
        "DB_KEEPALIVES_INTERVAL_S": "4",
        "DB_KEEPALIVES_COUNT": "5",
    }
    look = Look()
    with inject(look):
        dry = apply_cli(s, capsys, monkeypatch, **env)
        done = apply_cli(s, capsys, monkeypatch, "--execute", **env)
        undone = apply_cli(s, capsys, monkeypatch, done["run_id"], "--execute", command="undo")
    assert dry["dry_run"] and done["applied"] == 3 and undone["reverted"] == 3
    assert len(look.settings) == 3  # dry run, apply, undo: each its own session
    for i, seen in enumerate(look.settings):
        assert seen["idle_in_transaction_session_timeout"] == "45000"
        assert seen["statement_timeout"] == "120000"
        assert seen["lock_timeout"] == "5000" and seen["synchronous_commit"] == "off"
        assert seen["default_transaction_read_only"] == ("on" if i == 0 else "off")
    for params in look.params:
        assert {k: params.get(k) for k in ("keepalives", "keepalives_idle")} == {
            "keepalives": "1",
            "keepalives_idle": "17",
        }
        assert (params.get("keepalives_interval"), params.get("keepalives_count")) == ("4", "5")
        assert params.get("application_name") == "wxyc-artwork-backfill"
    assert look.mine == [("wxyc-artwork-backfill", "active")] * 3
    # mid-batch, the intent stored and COMMIT not sent yet: another session sees ours waiting
    assert look.seen_from_outside == [("wxyc-artwork-backfill", "idle in transaction")] * 2


def test_keepalives_named_in_database_url_win(wxyc_db: WxycDb) -> None:
    from artwork_backfill.apply.session import open_session
    from artwork_backfill.config import db_settings

    url = f"{wxyc_db.dsn}?keepalives_idle=99"
    db = db_settings(
        database_url=url, host=None, port=None, name=None, user=None, password=None, schema=None
    )
    settings = ApplySettings.from_env({"DB_KEEPALIVES_IDLE_S": "7", "DB_KEEPALIVES_COUNT": "2"})
    with open_session(db, settings, read_only=True) as conn:
        params = conn.info.get_parameters()
    assert (params["keepalives_idle"], params["keepalives_count"], params["keepalives"]) == (
        "99",
        "2",
        "1",
    )


def test_a_session_left_idle_in_a_batch_is_ended_by_the_server_and_its_batch_rolled_back(
    wxyc_db: WxycDb, cache_path: Path
) -> None:
    """idle_in_transaction_session_timeout in action: the batch waits (a hook) past the timeout
    with its intent stored; the server ends the session, nothing of the batch is written, and
    the next run settles the intent as rolled back and writes everything."""
    import psycopg

    from artwork_backfill.apply.hooks import BatchHooks

    s = seed(wxyc_db, cache_path, ["high"] * 4)

    class Stall(BatchHooks):
        pid = 0

        def on_session(self, conn: psycopg.Connection) -> None:
            self.pid = conn.info.backend_pid

        def after_intent(self, batch: int) -> None:
            if batch != 2:
                return
            with wxyc_db.connect(autocommit=True) as other:  # wait for the server, not a clock
                for _ in range(600):
                    if not other.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [self.pid]
                    ).fetchone():
                        return
                    time.sleep(0.05)
            raise AssertionError("the server did not end the idle-in-transaction session")

    settings = ApplySettings(
        batch_size=2, live_pause=False, idle_in_transaction_timeout_ms=200, batch_pause_ms=0
    )
    out = io.StringIO()
    log = RunLog(tool="artwork-backfill apply", run_id=new_run_id(), fmt="json", out=out, err=out)
    with Cache(cache_path) as cache, pytest.raises(UserError, match="batch 2 failed"):
        run_apply(
            cache,
            s.db.settings,
            plan_apply(match_table(cache)),
            execute=True,
            settings=settings,
            log=log,
            hooks=Stall(),
        )
    assert {i for i, url in artwork(wxyc_db).items() if url} == {1, 2}
    assert journal_map(cache_path) == {1: {s.row(1).url}, 2: {s.row(2).url}}
    again, _ = _direct(s)
    assert (again.applied, again.already_applied, again.reconciled_batches) == (2, 2, 1)
    with Cache(cache_path, read_only=True) as cache:
        assert "rolled_back" in cache.runs("apply-batch")["status"].to_list()
    assert artwork(wxyc_db) == {r.library_id: r.url for r in s.rows}


class _CountingStop(StopFlag):
    """A stop flag whose sleeps are recorded and return at once (no clock involved)."""

    def __init__(self, events: list[tuple[str, Any]], stop_in_pause: int = 0) -> None:
        super().__init__()
        self.events = events
        self.stop_in_pause = stop_in_pause  # set the flag during the n-th sleep (a signal)

    def sleep(self, seconds: float, slice_s: float = 0.5) -> bool:
        self.events.append(("sleep", seconds))
        if self.stop_in_pause and len([e for e in self.events if e[0] == "sleep"]) == (
            self.stop_in_pause
        ):
            self.set("SIGTERM")
        return not self.is_set


def _recording_hooks(events: list[tuple[str, Any]]) -> Any:
    from artwork_backfill.apply.hooks import BatchHooks

    class Record(BatchHooks):
        def after_update(self, batch: int) -> None:
            events.append(("update", batch))

        def after_journal(self, batch: int) -> None:
            events.append(("journal", batch))

    return Record()


def test_the_pause_comes_between_batches_that_committed(wxyc_db: WxycDb, cache_path: Path) -> None:
    s = seed(wxyc_db, cache_path, ["high"] * 7)
    with wxyc_db.connect() as conn:  # batch 1 (rows 1, 2) writes nothing: no pause after it
        conn.execute(
            f"UPDATE {wxyc_db.schema}.library SET artwork_url = %s WHERE id IN (1, 2)",
            [cover_url(1)],
        )
    events: list[tuple[str, Any]] = []
    settings = ApplySettings.from_env(
        {"BACKFILL_BATCH_SIZE": "2", "BACKFILL_BATCH_PAUSE_MS": "250"}, live_pause=False
    )
    out = io.StringIO()
    log = RunLog(tool="artwork-backfill apply", run_id=new_run_id(), fmt="json", out=out, err=out)
    with Cache(cache_path) as cache:
        result = run_apply(
            cache,
            s.db.settings,
            plan_apply(match_table(cache)),
            execute=True,
            settings=settings,
            log=log,
            stop=_CountingStop(events),
            hooks=_recording_hooks(events),
        )
    assert (result.applied, result.batches, result.batch_pause_ms) == (5, 4, 250)
    assert events == [
        ("update", 1),  # rolled back: nothing notified, no pause
        ("update", 2),
        ("journal", 2),
        ("sleep", 0.25),
        ("update", 3),
        ("journal", 3),
        ("sleep", 0.25),
        ("update", 4),
        ("journal", 4),  # the last batch: no pause after it
    ]
    started = next(line for line in log_lines(out.getvalue()) if line["step"] == "started")
    assert started["batch_pause_ms"] == 250


def test_a_stop_during_the_pause_ends_the_run_before_the_next_batch(
    wxyc_db: WxycDb, cache_path: Path
) -> None:
    s = seed(wxyc_db, cache_path, ["high"] * 6)
    events: list[tuple[str, Any]] = []
    settings = ApplySettings(batch_size=2, live_pause=False, batch_pause_ms=60_000)
    out = io.StringIO()
    log = RunLog(tool="artwork-backfill apply", run_id=new_run_id(), fmt="json", out=out, err=out)
    with Cache(cache_path) as cache:
        result = run_apply(
            cache,
            s.db.settings,
            plan_apply(match_table(cache)),
            execute=True,
            settings=settings,
            log=log,
            stop=_CountingStop(events, stop_in_pause=2),
            hooks=_recording_hooks(events),
        )
    assert (result.status, result.applied, result.batches, result.not_attempted) == (
        "stopped",
        4,
        2,
        2,
    )
    assert events == [
        ("update", 1),
        ("journal", 1),
        ("sleep", 60.0),
        ("update", 2),
        ("journal", 2),
        ("sleep", 60.0),  # SIGTERM arrives here
    ]
    assert {i for i, url in artwork(wxyc_db).items() if url} == {1, 2, 3, 4}
    assert [line["step"] for line in log_lines(out.getvalue())][-2:] == ["analyzed", "stopped"]


@pytest.mark.slow
def test_sigterm_ends_a_long_pause_between_batches_at_once(
    wxyc_db: WxycDb, cache_path: Path
) -> None:
    """The real stop flag through the real entry point: a 60 s pause after batch 1 ends as soon
    as SIGTERM arrives (the test would wait the whole minute otherwise, past its timeout)."""
    s = seed(wxyc_db, cache_path, ["high"] * 6)
    proc = subprocess.Popen(
        [*_entry(), "apply", "--execute", "--batch-size", "2", "--json", "--log-format", "json"],
        env=sub_env(s, BACKFILL_BATCH_PAUSE_MS="60000"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if '"batch_done"' in line:
            proc.send_signal(signal.SIGTERM)  # batch 1 is done: the pause has begun, or will
            break
    out, _ = proc.communicate(timeout=40)
    assert proc.returncode == 130
    result = json.loads(out)
    assert (result["status"], result["batches"], result["applied"]) == ("stopped", 1, 2)
    assert result["batch_pause_ms"] == 60_000
    assert {i for i, url in artwork(wxyc_db).items() if url} == {1, 2}


def test_session_and_pause_settings_are_validated() -> None:
    s = ApplySettings.from_env({})
    assert (s.batch_pause_ms, s.idle_in_transaction_timeout_ms) == (100, 60_000)
    assert s.keepalive_params() == {
        "keepalives": "1",
        "keepalives_idle": "30",
        "keepalives_interval": "10",
        "keepalives_count": "3",
    }
    assert ApplySettings.from_env({"BACKFILL_BATCH_PAUSE_MS": "0"}).batch_pause_ms == 0
    assert ApplySettings.from_env({"BACKFILL_BATCH_PAUSE_MS": "60000"}).batch_pause_ms == 60_000
    with pytest.raises(ConfigError, match="BACKFILL_BATCH_PAUSE_MS must be at most 60000"):
        ApplySettings.from_env({"BACKFILL_BATCH_PAUSE_MS": "60001"})
    with pytest.raises(ConfigError, match="BACKFILL_BATCH_PAUSE_MS"):
        ApplySettings.from_env({"BACKFILL_BATCH_PAUSE_MS": "-1"})
    assert (
        ApplySettings.from_env(
            {"DB_IDLE_IN_TRANSACTION_TIMEOUT_MS": "0"}
        ).idle_in_transaction_timeout_ms
        == 0
    )
    for name in ("DB_KEEPALIVES_IDLE_S", "DB_KEEPALIVES_INTERVAL_S", "DB_KEEPALIVES_COUNT"):
        with pytest.raises(ConfigError, match=name):
            ApplySettings.from_env({name: "0"})
    with pytest.raises(ConfigError, match="DB_IDLE_IN_TRANSACTION_TIMEOUT_MS"):
        ApplySettings.from_env({"DB_IDLE_IN_TRANSACTION_TIMEOUT_MS": "1m"})


# -- crashes, signals, logs (real subprocesses) ------------------------------------------------------


def _batches(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _check_all_or_nothing(s: Seeded, size: int) -> set[int]:
    now = artwork(s.db)
    written = {i for i, url in now.items() if url is not None}
    for batch in _batches([r.library_id for r in s.rows], size):
        assert {i in written for i in batch} in ({True}, {False}), f"batch {batch} is half written"
    assert all(now[i] == s.row(i).url for i in written)
    return written


@pytest.mark.slow
@pytest.mark.parametrize("point", ["after_update", "after_intent", "after_commit", "after_journal"])
def test_kill_at_each_point_of_a_batch_then_rerun_completes(
    wxyc_db: WxycDb, cache_path: Path, point: str
) -> None:
    s = seed(wxyc_db, cache_path, ["high"] * 9)
    killed = run_sub(
        s, ["apply", "--execute", "--batch-size", "3"], hooks=("--kill-at", f"{point}:2")
    )
    assert killed.returncode == -signal.SIGKILL
    written = _check_all_or_nothing(s, 3)
    committed = point in ("after_commit", "after_journal")
    assert written == ({1, 2, 3, 4, 5, 6} if committed else {1, 2, 3})

    done = run_sub(s, ["apply", "--execute", "--batch-size", "3", "--json"])
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (
        result["applied"] == 9 - len(written) and result["raced"] == 0 and result["remaining"] == 0
    )
    assert result["already_applied"] == len(written)
    assert result["reconciled_batches"] == (
        0 if point == "after_update" or point == "after_journal" else 1
    )
    assert artwork(wxyc_db) == {r.library_id: r.url for r in s.rows}
    assert journal_map(cache_path) == {r.library_id: {r.url} for r in s.rows}
    with Cache(cache_path, read_only=True) as cache:
        statuses = dict(cache.runs("apply").select("run_id", "status").iter_rows())
        intents = cache.runs("apply-batch")
    # the killed run is `died` (marked by the next writable open of the cache); its open
    # intent was reconciled all the same: none is left running or died
    assert sorted(statuses.values()) == ["completed", "died"]
    assert not {"running", "died"} & set(intents["status"].to_list())
    if point == "after_intent":
        assert "rolled_back" in intents["status"].to_list()


@pytest.mark.slow
def test_sigkill_mid_run_leaves_whole_batches_and_the_rerun_journals_everything(
    wxyc_db: WxycDb, cache_path: Path
) -> None:
    s = seed(wxyc_db, cache_path, ["high"] * 40)
    proc = subprocess.Popen(
        [
            *_entry_with_hooks("--delay-ms", "400"),
            *("apply", "--execute", "--batch-size", "4", "--log-format", "json"),
        ],
        env=sub_env(s),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        if '"batch_done"' in line:
            seen += 1
            if seen == 3:
                time.sleep(0.3)  # inside batch 4: between intent and COMMIT, or COMMIT and journal
                proc.kill()
                break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    written = _check_all_or_nothing(s, 4)
    assert 12 <= len(written) < 40

    done = run_sub(s, ["apply", "--execute", "--batch-size", "4", "--json"])
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["applied"] + result["already_applied"] == 40 and result["raced"] == 0
    assert artwork(wxyc_db) == {r.library_id: r.url for r in s.rows}
    assert journal_map(cache_path) == {r.library_id: {r.url} for r in s.rows}


@pytest.mark.slow
def test_sigterm_finishes_the_batch_in_flight_and_stops_cleanly(
    wxyc_db: WxycDb, cache_path: Path
) -> None:
    s = seed(wxyc_db, cache_path, ["high"] * 20)
    proc = subprocess.Popen(
        [
            *_entry_with_hooks("--delay-ms", "300"),
            *("apply", "--execute", "--batch-size", "2", "--json", "--log-format", "json"),
        ],
        env=sub_env(s),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    err_lines = []
    for line in proc.stderr:  # with --json, log lines go to stderr
        err_lines.append(line)
        if '"batch_done"' in line:
            time.sleep(0.1)  # inside batch 2
            proc.send_signal(signal.SIGTERM)
            break
    out, rest = proc.communicate(timeout=60)
    err_lines.extend(rest.splitlines(keepends=True))
    assert proc.returncode == 130, rest
    result = json.loads(out)
    assert result["stopped"] is True and result["status"] == "stopped"
    # the signal lands in batch 2 (or, on a slow machine, just before it starts)
    assert result["batches"] in (1, 2) and result["applied"] == 2 * result["batches"]
    assert result["not_attempted"] == 20 - result["applied"]
    written = _check_all_or_nothing(s, 2)
    assert written == set(range(1, result["applied"] + 1))
    assert journal_map(cache_path) == {i: {s.row(i).url} for i in written}
    lines = log_lines("".join(err_lines))
    steps = [line["step"] for line in lines]
    assert "signal" in steps and steps[-1] == "stopped" and "analyzed" in steps
    with Cache(cache_path, read_only=True) as cache:
        assert cache.runs("apply")["status"].to_list() == ["stopped"]

    again = run_sub(s, ["apply", "--execute", "--batch-size", "5", "--json"])
    assert again.returncode == 0
    assert json.loads(again.stdout)["applied"] == 20 - result["applied"]
    assert artwork(wxyc_db) == {r.library_id: r.url for r in s.rows}


@pytest.mark.slow
def test_json_log_lines_carry_wxyc_tags_and_no_secret(wxyc_db: WxycDb, cache_path: Path) -> None:
    s = seed(wxyc_db, cache_path, ["high"] * 5 + ["review"])
    done = run_sub(s, ["apply", "--execute", "--batch-size", "2", "--log-format", "json"])
    assert done.returncode == 0, done.stderr
    lines = log_lines(done.stdout)
    assert [line["step"] for line in lines] == [
        "init",
        "started",
        "batch_done",
        "batch_done",
        "batch_done",
        "analyzed",
        "finished",
    ]
    run_ids = {line["run_id"] for line in lines}
    assert len(run_ids) == 1
    for line in lines:
        assert line["repo"] == "artwork-backfill" and line["tool"] == "artwork-backfill apply"
        assert line["level"] == "info" and line["message"]
        assert line["timestamp"].endswith("Z") and "T" in line["timestamp"]
    assert lines[-1]["applied"] == 5 and lines[2]["last_id"] == 2
    password = wxyc_db.server.password
    assert password not in done.stdout + done.stderr

    undo = run_sub(s, ["undo", run_ids.pop(), "--execute", "--log-format", "json", "--json"])
    assert undo.returncode == 0, undo.stderr
    assert json.loads(undo.stdout)["reverted"] == 5
    undo_lines = log_lines(undo.stderr)
    assert {line["tool"] for line in undo_lines} == {"artwork-backfill undo"}
    assert password not in undo.stdout + undo.stderr

    wrong = "not-the-Pa55word-xyz"
    failed = run_sub(s, ["apply", "--execute", "--log-format", "json"], DB_PASSWORD=wrong)
    assert failed.returncode == 1
    assert (
        wrong not in failed.stdout + failed.stderr and password not in failed.stdout + failed.stderr
    )
    assert "Traceback" not in failed.stderr
