"""What carries from one resolve run to the next: parking and the budget header.

A key whose answers are errors or timeouts (`timeout: true` bodies, 5xx, 422) is asked again
on later runs only a bounded number of times: after `--park-after-runs K` (default 3)
*completed* runs asked it without a final answer, it is parked (not asked again; `report
--json` counts it under `parked`) until `resolve --retry-parked`. Runs stopped by the breaker or
interrupted do not count. A key whose previous answer was `timeout: true` is asked on single
/lookup without `X-Caller-Budget-Ms` (the header is what arms LML's ~4 s give-up), in the same
run and in later ones; first asks carry it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import WxycDb
from tests.faults.conftest import (
    FAST,
    candidate_keys,
    fault_env,
    key_bands,
    ok_json,
    report_json,
    run_cli,
    seeded_catalog,
)
from tests.faults.lml_fault_server import (
    HANG,
    FaultServer,
    Reply,
    Request,
    always,
    json_reply,
    lookup_response,
    per_key,
    status_reply,
)

ROWS = 12
BUDGET = "x-caller-budget-ms"
TIMEOUT_BODY = lookup_response([], timeout=True)


def resolve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(["resolve", "--json", *FAST, "--no-bulk", *args], env)


def test_keys_without_a_final_answer_are_parked_after_three_completed_runs(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    catalog = seeded_catalog(wxyc_db, ROWS)
    keys = sorted(candidate_keys(catalog))
    bad = {
        keys[0]: json_reply(TIMEOUT_BODY),  # LML gave up, whatever the header says
        keys[1]: status_reply(503),
        keys[2]: json_reply(
            {"detail": [{"loc": ["body"], "msg": "invalid", "type": "value_error"}]}, status=422
        ),
    }
    cache = tmp_path / "c.duckdb"
    once = ["--max-attempts", "1", "--max-consecutive-failures", "1000"]
    with FaultServer(catalog, per_key(bad)) as lml:
        env = fault_env(wxyc_db, lml.url, cache)
        for run in (1, 2, 3):  # the default --park-after-runs is 3
            lml.reset_log()
            out = ok_json(resolve(env, *once))
            asks = lml.asks("single")
            assert {k: asks[k] for k in bad} == {k: 1 for k in bad}, run
            assert out["transient"] == len(bad)
            if run > 1:
                assert set(asks) == set(bad)  # the good keys were final after run 1

        lml.reset_log()
        ok_json(resolve(env, *once))
        assert lml.count() == 0, lml.asks()  # parked: not asked again
        parked = report_json(env)["parked"]
        assert parked["count"] == len(bad)
        assert sum(parked["reasons"].values()) == len(bad), parked
        reasons = " ".join(parked["reasons"])
        assert "503" in reasons and "422" in reasons and "timeout" in reasons, parked

        lml.reset_log()
        ok_json(resolve(env, *once, "--retry-parked"))
        assert set(lml.asks("single")) == set(bad)  # asked again on request


def test_stopped_or_interrupted_runs_do_not_count_toward_parking(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    """With --park-after-runs 1, one *completed* run that asks the key parks it: so the key
    still being asked after an interrupted run and a breaker-stopped run proves neither
    counted."""
    catalog = seeded_catalog(wxyc_db, ROWS)
    keys = sorted(candidate_keys(catalog))
    last = keys[-1]  # asked last: `--limit` leaves exactly it for later runs
    cache = tmp_path / "c.duckdb"
    park = ["--park-after-runs", "1"]
    with FaultServer(catalog) as lml:
        env = fault_env(wxyc_db, lml.url, cache)
        ok_json(resolve(env, "--limit", str(len(keys) - 1)))
        assert last not in lml.asks()

        # 1. interrupted while its request is out
        lml.policy = always(HANG)
        lml.reset_log()
        proc = subprocess.Popen(
            [sys.executable, "-m", "artwork_backfill", "resolve", *FAST, "--no-bulk", *park,
             "--request-timeout", "4", "--max-attempts", "1"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
            while not lml.count("single") and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert lml.asks("single")[last] == 1, proc.poll() or proc.stderr.read()  # type: ignore[union-attr]
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 130, err

        # 2. stopped by the breaker
        lml.policy = always(status_reply(503))
        lml.reset_log()
        done = resolve(env, *park, "--max-consecutive-failures", "1")
        assert done.returncode == 1 and "in a row" in done.stderr, done.stderr
        assert lml.asks("single")[last] >= 1

        # 3. a completed run still asks it (neither run above counted) ...
        lml.reset_log()
        ok_json(resolve(env, *park, "--max-attempts", "1", "--max-consecutive-failures", "99"))
        assert lml.asks("single")[last] == 1

        # ... and parks it: the next run does not ask it
        lml.reset_log()
        ok_json(resolve(env, *park, "--max-attempts", "1", "--max-consecutive-failures", "99"))
        assert lml.count() == 0
    assert report_json(env)["parked"]["count"] == 1


def test_a_retry_after_a_timeout_flag_is_sent_without_the_budget_header(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    """LML answers `timeout: true` when the budget header armed its give-up: asked again
    without it (same run or a later one), it runs its whole cascade and answers."""
    catalog = seeded_catalog(wxyc_db, ROWS)
    keys = sorted(candidate_keys(catalog))
    same_run, later_run = keys[0], keys[1]
    phase = {"n": 1}

    def timeout_if_budget(req: Request) -> Reply | None:
        return json_reply(TIMEOUT_BODY) if BUDGET in req.headers else None

    def timeout_in_phase_1(req: Request) -> Reply | None:
        return json_reply(TIMEOUT_BODY) if phase["n"] == 1 else timeout_if_budget(req)

    cache = tmp_path / "c.duckdb"
    policy = per_key({same_run: timeout_if_budget, later_run: timeout_in_phase_1})
    with FaultServer(catalog, policy) as lml:
        env = fault_env(wxyc_db, lml.url, cache)
        ok_json(resolve(env, "--max-attempts", "2"))  # a retry within the run
        phase["n"] = 2
        ok_json(resolve(env, "--max-attempts", "1"))  # and one in a later run
        singles = lml.requests("single")
    for k in (same_run, later_run):
        sent = [BUDGET in r.headers for r in singles if r.key_ids == [k]]
        assert sent[0] is True and sent[1:] and not any(sent[1:]), (k, sent)
    others = [r for r in singles if r.key_ids[0] not in (same_run, later_run)]
    assert others and all(BUDGET in r.headers for r in others)  # first asks carry it
    bands = key_bands(cache)
    assert bands[same_run] == "high" and bands[later_run] == "high"
    assert len([r for r in singles if r.key_ids == [same_run]]) == 2
    assert len([r for r in singles if r.key_ids == [later_run]]) == 3
