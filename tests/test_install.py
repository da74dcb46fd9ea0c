"""A production install: the built wheel in a fresh virtual environment, runtime dependencies
only, runs `--version` and a dry run against a real database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from artwork_backfill import __version__
from artwork_backfill.demo.simulator import SimulatorConfig, generate_catalog, start_simulator
from tests.conftest import WxycDb
from tests.test_resolve import env_for

ROOT = Path(__file__).resolve().parents[1]
CATALOG = generate_catalog(150, seed=3)
DEV_TOOLS = {"pytest", "ruff", "mypy", "import-linter", "selenium", "pgserver", "pytest-postgresql"}


def _uv_command() -> list[str]:
    """uv itself: `uv run` names its binary in $UV; else the one on PATH or python3's module."""
    if os.environ.get("UV"):
        return [os.environ["UV"]]
    if shutil.which("uv"):
        return ["uv"]
    return ["python3", "-m", "uv"]


def _uv(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*_uv_command(), *args], cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from this checkout, installed into a new venv: its bin directory."""
    where = tmp_path_factory.mktemp("install")
    _uv("build", "--wheel", "--out-dir", str(where / "dist"))
    (wheel,) = (where / "dist").glob("artwork_backfill-*.whl")
    _uv("venv", "--python", sys.executable, str(where / "venv"))
    _uv("pip", "install", "--python", str(where / "venv" / "bin" / "python"), str(wheel))
    return where / "venv" / "bin"


def test_the_wheel_installs_runtime_dependencies_only(installed: Path) -> None:
    version = subprocess.run(
        [str(installed / "artwork-backfill"), "--version"], capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert version.returncode == 0 and version.stdout.strip() == f"artwork-backfill {__version__}"
    listed = _uv("pip", "list", "--format", "json", "--python", str(installed / "python"))
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert {"duckdb", "httpx", "polars", "psycopg", "typer"} <= names
    assert names.isdisjoint(DEV_TOOLS), names & DEV_TOOLS


def test_the_installed_command_resolves_and_plans_a_dry_run(
    installed: Path, wxyc_db: WxycDb, tmp_path: Path
) -> None:
    with wxyc_db.connect() as conn:
        CATALOG.load_into_postgres(conn)
    cache = tmp_path / "c.duckdb"
    with start_simulator(CATALOG, SimulatorConfig(latency_ms=1, jitter_ms=0)) as sim:
        env = env_for(wxyc_db, sim, cache)
        env["PATH"] = f"{installed}{os.pathsep}{env.get('PATH', '')}"
        env.pop("PYTHONPATH", None)
        for args in (["resolve", "--rate-per-min", "12000"], ["apply", "--json"]):
            done = subprocess.run(
                ["artwork-backfill", *args], env=env, cwd=tmp_path, capture_output=True,
                text=True, timeout=300, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["dry_run"] is True and plan["eligible"] > 0 and plan["applied"] == 0
    assert plan["snapshot"]["snapshot"] == "candidates" and plan["snapshot"]["rows"] > 0
    with wxyc_db.connect() as conn:
        (filled,) = conn.execute(
            "SELECT count(*) FROM wxyc_schema.library WHERE artwork_url IS NOT NULL"
        ).fetchone()
    assert filled == sum(1 for r in CATALOG.rows if r.artwork_url)  # a dry run wrote nothing
