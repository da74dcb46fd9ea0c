"""Shared pieces of the fault suite: a seeded catalog in the per-test PostgreSQL, the real CLI
in a subprocess, and the environment it runs with.

Every case here drives `python -m artwork_backfill ...` as a subprocess (always with a timeout:
a hang fails the test instead of the suite) against a fault server (`lml_fault_server`) or the
simulator, and the per-test `wxyc_db` database of tests/conftest.py.

    def test_x(wxyc_db, tmp_path, lml_key):
        catalog = seeded_catalog(wxyc_db, 60)
        with FaultServer(catalog, policy) as lml:
            env = fault_env(wxyc_db, lml.url, tmp_path / "c.duckdb", api_key=lml_key)
            done = run_cli(["resolve", "--json", *FAST], env)
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from artwork_backfill.cache.store import Cache
from artwork_backfill.demo.simulator import Catalog, generate_catalog
from tests.conftest import WxycDb

# Quick runs: the pace never matters against a local server, attempts stay few.
FAST = ["--rate-per-min", "12000"]
DEFAULT_TIMEOUT = 90.0  # a hang guard only: cases assert on counts and states, never on time
FINAL_BANDS = {"high", "review", "reject", "no_match"}


@functools.cache
def catalog_of(n: int, seed: int = 3) -> Catalog:
    """`generate_catalog(n, seed)`, made once per (n, seed) and process."""
    return generate_catalog(n, seed=seed)


def seeded_catalog(wxyc_db: WxycDb, n: int = 60, seed: int = 3) -> Catalog:
    """Load a generated catalog of `n` rows into `wxyc_db` and return it (its ground truth)."""
    catalog = catalog_of(n, seed)
    with wxyc_db.connect() as conn:
        catalog.load_into_postgres(conn)
    return catalog


def candidate_keys(catalog: Catalog) -> set[str]:
    """The key_ids `resolve` asks about for this catalog (rows without artwork, not
    discogs_unavailable, with a real artist and title)."""
    return {
        r.key_id
        for r in catalog.rows
        if r.artwork_url is None and not r.discogs_unavailable and not r.is_blank
    }


def new_secret(prefix: str = "lmlkey") -> str:
    """A random secret, distinctive enough to grep for in any output."""
    return f"{prefix}-{secrets.token_urlsafe(18)}"


def fault_env(
    db: WxycDb, lml_url: str | None, cache: Path, *, api_key: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment of one CLI run: this process's, minus any DB_*/LML_* of the outside,
    plus the test database (DATABASE_URL and DB_*, both carrying the real password),
    LIBRARY_METADATA_URL, LML_API_KEY (when given), ARTWORK_BACKFILL_CACHE and `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "LML_", "LIBRARY_METADATA", "DATABASE_URL", "ARTWORK_"))
    }
    env.update(db.env())
    env["DATABASE_URL"] = db.dsn
    env["ARTWORK_BACKFILL_CACHE"] = str(cache)
    if lml_url is not None:
        env["LIBRARY_METADATA_URL"] = lml_url
    if api_key is not None:
        env["LML_API_KEY"] = api_key
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = DEFAULT_TIMEOUT, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI; raises subprocess.TimeoutExpired (the child killed) past `timeout`."""
    return subprocess.run(
        [sys.executable, "-m", "artwork_backfill", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def ok_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON of a run that must have succeeded (exit 0, no traceback)."""
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    return json.loads(done.stdout)


def report_json(env: dict[str, str], *extra: str, timeout: float = 60) -> dict[str, Any]:
    """`report --json` (reads the cache only), which must succeed."""
    return ok_json(run_cli(["report", "--json", "--sample", "0", *extra], env, timeout=timeout))


def key_states(cache_path: Path) -> dict[str, dict[str, Any]]:
    """key_id -> its state row (classification, reason, body ...), the cache opened read-only."""
    with Cache(cache_path, read_only=True) as cache:
        return {r["key_id"]: r for r in cache.key_states().iter_rows(named=True)}


def responses(cache_path: Path) -> list[dict[str, Any]]:
    """Every stored answer, in order (the cache opened read-only)."""
    with Cache(cache_path, read_only=True) as cache:
        return list(cache.responses().iter_rows(named=True))


def key_bands(cache_path: Path) -> dict[str, str]:
    """key_id -> the best band any of its rows reached, as `report` scores it."""
    from artwork_backfill.review.matches import match_table

    order = ["high", "review", "reject", "no_match", "pending"]
    with Cache(cache_path, read_only=True) as cache:
        table = match_table(cache)
    best: dict[str, str] = {}
    for row in table.iter_rows(named=True):
        band = row["band"]
        current = best.get(row["key_id"])
        if current is None or order.index(band) < order.index(current):
            best[row["key_id"]] = band
    return best


# resolve's own progress output on stderr (the start line and the progress bar), not errors
_PROGRESS = re.compile(r"^(\d+ candidate rows, \d+ distinct keys|resolve\b)")


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The error of a failed run: apart from resolve's progress lines, stderr holds exactly
    one line, the last, starting with `error:`; no traceback, no `unexpected`."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr and "unexpected" not in done.stderr, done.stderr
    rest = [line for line in lines if not _PROGRESS.match(line.strip())]
    assert len(rest) == 1 and lines[-1] == rest[0], done.stderr[-2000:]
    assert rest[0].startswith("error: "), rest[0]
    return rest[0]


@pytest.fixture
def lml_key() -> str:
    """A random LML API key for one test."""
    return new_secret()


# -- the tally of CLI runs the suite drove (printed at the end, for the README's table) -----

_CLI_RUNS = {"runs": 0}


class _CountingPopen(subprocess.Popen):  # type: ignore[type-arg]
    """subprocess.Popen that counts the runs of our CLI (subprocess.run uses Popen too)."""

    def __init__(self, args: Any, *rest: Any, **kw: Any) -> None:
        super().__init__(args, *rest, **kw)
        text = " ".join(map(str, args)) if isinstance(args, (list, tuple)) else str(args)
        if "artwork_backfill" in text:
            _CLI_RUNS["runs"] += 1


@pytest.fixture(autouse=True)
def _count_cli_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "Popen", _CountingPopen)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _CLI_RUNS["runs"]:

        def cases(outcome: str) -> int:
            reports = terminalreporter.stats.get(outcome, [])
            return sum(1 for r in reports if "tests/faults/" in getattr(r, "nodeid", ""))

        passed, failed = cases("passed"), cases("failed")
        terminalreporter.write_line(
            f"fault suite: {_CLI_RUNS['runs']} runs of the CLI in {passed + failed} cases "
            f"({passed} passed, {failed} failed)"
        )
