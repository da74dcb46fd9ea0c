"""No secret ever leaves: the DB password and the LML key, through every command's success and
failure paths, never appear in stdout, stderr, the JSON logs, the CSV/HTML/Parquet exports, or
the cache file (its raw bytes, and every VARCHAR column of every table: DuckDB compresses
strings, so the bytes alone prove nothing). LML bodies are stored redacted of our secrets
(`***`), and so is any `Authorization: Bearer <token>` in a stored error text.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
from pathlib import Path
from typing import Any

import duckdb

from artwork_backfill.judge.normalize import grouping_key
from tests.conftest import WxycDb
from tests.faults.conftest import (
    FAST,
    candidate_keys,
    fault_env,
    key_bands,
    key_states,
    ok_json,
    one_line_error,
    run_cli,
    seeded_catalog,
)
from tests.faults.lml_fault_server import FaultServer, Reply, Request, bulk_response, json_reply

ROWS = 20


# -- where secrets could hide ------------------------------------------------------------------


def found_in_text(text: str, secret_values: list[str]) -> list[str]:
    return [s for s in secret_values if s in text]


def found_in_outputs(done: subprocess.CompletedProcess[str], secret_values: list[str]) -> list[str]:
    return found_in_text(done.stdout + done.stderr, secret_values)


def found_in_duckdb(con: duckdb.DuckDBPyConnection, secret_values: list[str]) -> list[str]:
    """`table.column: secret` for every VARCHAR cell of every table holding a secret."""
    hits = []
    columns = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE data_type = 'VARCHAR' ORDER BY table_name, column_name"
    ).fetchall()
    assert columns, "no VARCHAR column to scan"
    for table, column in columns:
        for s in secret_values:
            (n,) = con.execute(
                f'SELECT count(*) FROM "{table}" WHERE strpos("{column}", ?) > 0', [s]
            ).fetchone()  # type: ignore[misc]
            if n:
                hits.append(f"{table}.{column}: {s}")
    return hits


def found_in_cache(path: Path, secret_values: list[str]) -> list[str]:
    hits = []
    for f in [path, *path.parent.glob(path.name + ".wal")]:
        raw = f.read_bytes()
        hits += [f"{f.name} bytes: {s}" for s in secret_values if s.encode() in raw]
    con = duckdb.connect(str(path), read_only=True)
    try:
        hits += found_in_duckdb(con, secret_values)
    finally:
        con.close()
    return hits


def found_in_parquet(path: Path, secret_values: list[str]) -> list[str]:
    raw = path.read_bytes()
    hits = [f"{path.name} bytes: {s}" for s in secret_values if s.encode() in raw]
    con = duckdb.connect()
    try:
        target = str(path).replace("'", "''")
        con.execute(f"CREATE VIEW answers AS SELECT * FROM read_parquet('{target}')")
        hits += found_in_duckdb(con, secret_values)
    finally:
        con.close()
    return hits


def found_in_files(paths: list[Path], secret_values: list[str]) -> list[str]:
    hits = []
    for p in paths:
        raw = p.read_bytes()
        hits += [f"{p.name}: {s}" for s in secret_values if s.encode() in raw]
    return hits


def json_log_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "step" in value:
            lines.append(value)
    return lines


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the cases -------------------------------------------------------------------------------


def test_every_command_keeps_both_secrets_out(
    wxyc_db: WxycDb, tmp_path: Path, lml_key: str
) -> None:
    """resolve, report (JSON, CSV, HTML), export-parquet, apply (dry run and --execute, JSON
    logs), undo --execute, against an LML that demands the key and whose 200
    answers echo both secrets in their strings; then the commands that connect to the
    database again with a wrong password."""
    catalog = seeded_catalog(wxyc_db, ROWS)
    password = wxyc_db.server.password
    keys = sorted(candidate_keys(catalog))
    echoing = set(keys[:3])
    cache = tmp_path / "c.duckdb"
    exports = [tmp_path / "m.csv", tmp_path / "r.html"]
    parquet = tmp_path / "a.parquet"

    def echoed(item: dict[str, Any]) -> dict[str, Any]:
        body = lml.right_lookup(item)
        if grouping_key(item.get("artist"), item.get("album")) in echoing:
            body["context_message"] = f"asked with Authorization: Bearer {lml_key}"
            body["results"][0]["library_item"]["note"] = f"postgresql://postgres:{password}@db/x"
            body["debug"] = {f"key={lml_key}": [password, {"again": lml_key}]}
        return body

    def policy(req: Request) -> Reply | None:
        """Demands the key; the answers of `echoing` keys carry both secrets (bulk too)."""
        if req.headers.get("authorization") != f"Bearer {lml_key}":
            return json_reply({"detail": "Invalid authentication credentials"}, status=403)
        if req.endpoint == "bulk":
            return json_reply(bulk_response(echoed(i) for i in req.items))
        return json_reply(echoed(req.body))

    secret_values = [lml_key, password]
    with FaultServer(catalog, policy) as lml:
        env = fault_env(wxyc_db, lml.url, cache, api_key=lml_key)
        runs = [run_cli(["resolve", "--json", *FAST], env)]
        ok_json(runs[-1])
        assert lml.count() >= 1 and all(
            r.headers.get("authorization") == f"Bearer {lml_key}" for r in lml.requests()
        )  # the key was really in play
        assert set(lml.asks()) >= echoing  # the echoing answers were asked for

    runs.append(
        run_cli(["report", "--json", "--export", str(exports[0]), "--html", str(exports[1])], env)
    )
    ok_json(runs[-1])
    runs.append(run_cli(["export-parquet", str(parquet)], env))
    assert runs[-1].returncode == 0, runs[-1].stderr
    runs.append(run_cli(["apply", "--json", "--log-format", "json"], env))
    ok_json(runs[-1])
    runs.append(run_cli(["apply", "--json", "--execute", "--log-format", "json"], env))
    applied = ok_json(runs[-1])
    assert applied["applied"] > 0
    assert json_log_lines(runs[-1].stderr), "apply --log-format json wrote no JSON log line"
    runs.append(run_cli(["undo", str(applied["run_id"]), "--execute", "--log-format", "json"], env))
    assert runs[-1].returncode == 0, runs[-1].stderr

    # the database refuses a wrong password: one line each, neither password, nor the key
    wrong = f"wrong-{secrets.token_urlsafe(12)}"
    bad_env = {
        **env,
        "DB_PASSWORD": wrong,
        "DATABASE_URL": wxyc_db.dsn.replace(password, wrong),
    }
    for args in (
        ["resolve", *FAST],
        ["apply", "--execute"],
        ["undo", str(applied["run_id"]), "--execute"],
    ):
        done = run_cli(args, bad_env)
        assert done.returncode == 1, (args, done.stderr)
        assert "cannot connect" in done.stderr and "Traceback" not in done.stderr
        assert found_in_outputs(done, [wrong, *secret_values]) == [], args

    for done in runs:
        assert found_in_outputs(done, secret_values) == [], done.args
    assert found_in_files(exports, secret_values) == []
    assert found_in_parquet(parquet, secret_values) == []
    assert found_in_cache(cache, secret_values) == []
    # the echoing answers are stored redacted (***), and still score as before
    states = key_states(cache)
    for k in echoing:
        assert "***" in (states[k]["body"] or ""), states[k]["body"]
    bands = key_bands(cache)
    assert all(bands[k] == "high" for k in echoing)


def test_lml_failures_keep_both_secrets_out(wxyc_db: WxycDb, tmp_path: Path, lml_key: str) -> None:
    """A 401 whose body echoes the key and the password, an unreachable LML, and a 500 whose
    page echoes `Authorization: Bearer <our key>`, the DB password and somebody else's bearer
    token: nothing of them in outputs, exports or the cache."""
    catalog = seeded_catalog(wxyc_db, ROWS)
    password = wxyc_db.server.password
    other_token = f"othertoken-{secrets.token_urlsafe(16)}"
    secret_values = [lml_key, password, other_token]
    cache = tmp_path / "c.duckdb"
    runs: list[subprocess.CompletedProcess[str]] = []

    echo = (
        "Internal Server Error\n"
        f"request headers: {{'Authorization': 'Bearer {lml_key}'}}\n"
        f"Authorization: Bearer {lml_key}\n"
        f"settings: DATABASE_URL=postgresql://postgres:{password}@10.0.0.5/wxyc\n"
        f"upstream said: Authorization: Bearer {other_token}\n"
    )
    refusal = json_reply(
        {"detail": "Not authenticated", "got": f"Bearer {lml_key}", "hint": password}, status=401
    )
    with FaultServer(catalog, lambda _req: refusal) as lml:
        env = fault_env(wxyc_db, lml.url, cache, api_key=lml_key)
        runs.append(run_cli(["resolve", *FAST], env))
        assert runs[-1].returncode == 1 and "HTTP 401" in one_line_error(runs[-1])

        unreachable = fault_env(wxyc_db, f"http://127.0.0.1:{free_port()}", cache, api_key=lml_key)
        runs.append(
            run_cli(
                ["resolve", *FAST, "--max-attempts", "1", "--max-consecutive-failures", "2"],
                unreachable,
            )
        )
        assert runs[-1].returncode == 1
        one_line_error(runs[-1])

        lml.policy = lambda _req: Reply(
            status=500, body=echo, headers={"Content-Type": "text/plain"}
        )
        runs.append(
            run_cli(
                [
                    "resolve",
                    "--json",
                    *FAST,
                    "--no-bulk",
                    "--limit",
                    "4",
                    "--max-attempts",
                    "1",
                    "--max-consecutive-failures",
                    "1000",
                ],
                env,
            )
        )
        out = ok_json(runs[-1])
        assert lml.count("single") == 4 and out["transient"] >= 4

    exports = [tmp_path / "m.csv", tmp_path / "r.html"]
    runs.append(
        run_cli(["report", "--json", "--export", str(exports[0]), "--html", str(exports[1])], env)
    )
    ok_json(runs[-1])
    parquet = tmp_path / "a.parquet"
    runs.append(run_cli(["export-parquet", str(parquet)], env))
    assert runs[-1].returncode == 0, runs[-1].stderr

    for done in runs:
        assert found_in_outputs(done, secret_values) == [], done.args
    assert found_in_files(exports, secret_values) == []
    assert found_in_parquet(parquet, secret_values) == []
    assert found_in_cache(cache, secret_values) == []
    # what the 500s said is kept, redacted
    texts = [s["body"] or "" for s in key_states(cache).values() if s["http_status"] == 500]
    assert len(texts) == 4
    assert all("Bearer ***" in t and "Internal Server Error" in t for t in texts), texts[0]
