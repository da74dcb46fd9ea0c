"""The command line's own surface: what works with no database and no LML."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from artwork_backfill import __version__
from artwork_backfill.errors import UserError


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "artwork_backfill", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version_alone_prints_the_version() -> None:
    done = _cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"artwork-backfill {__version__}"


def test_no_command_shows_the_help_and_a_missing_command_is_still_an_error() -> None:
    done = _cli("--cache", "x.duckdb")
    assert done.returncode == 2 and "Missing command" in done.stderr


def test_the_default_rate_leaves_live_traffic_most_of_lmls_budget() -> None:
    from artwork_backfill.config import DEFAULT_RATE_PER_MIN, LmlSettings

    assert DEFAULT_RATE_PER_MIN == 20.0 and LmlSettings("http://x").rate_per_min == 20.0
    done = subprocess.run(
        [sys.executable, "-m", "artwork_backfill", "resolve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    assert done.returncode == 0 and "default: 20.0" in done.stdout


def test_the_demo_replaces_nothing_it_did_not_make(tmp_path: Path) -> None:
    from artwork_backfill.demo.run import MANIFEST, claim_workdir

    work = tmp_path / "data"
    work.mkdir()
    real = work / "backfill.duckdb"
    real.write_bytes(b"a production cache and its journal")
    with pytest.raises(UserError, match=r"backfill\.duckdb, which the demo did not make"):
        claim_workdir(work)
    assert real.read_bytes() == b"a production cache and its journal"
    assert not (work / MANIFEST).exists()
    # its own files from a previous demo run may be replaced
    fresh = tmp_path / "demo"
    fresh.mkdir()
    claim_workdir(fresh)
    (fresh / "backfill.duckdb").write_bytes(b"demo")
    (fresh / "review.html").write_text("demo")
    claim_workdir(fresh)  # no error: the manifest names them
