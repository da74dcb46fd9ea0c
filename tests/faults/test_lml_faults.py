"""LML misbehaving, through the real `resolve` (then `report`, `apply`) against the fault server.

What must hold whatever LML does: nothing transient or malformed is cached as a final answer
(a later run against a healthy LML finishes the job), every request without a usable answer
counts toward the breaker (which stops the run with one line), 401/403 stop at once, the
request timeout bounds the whole request, the pace slows as a whole on pushback, and an answer
holding integers outside 64 bits breaks neither `report` nor `apply` and is never `high`.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WxycDb
from tests.faults.conftest import (
    FAST,
    FINAL_BANDS,
    candidate_keys,
    fault_env,
    key_bands,
    key_states,
    ok_json,
    one_line_error,
    report_json,
    responses,
    run_cli,
    seeded_catalog,
)
from tests.faults.lml_fault_server import (
    HANG,
    RESET,
    FaultServer,
    Reply,
    Request,
    always,
    bulk_response,
    good,
    json_reply,
    lookup_response,
    on,
    per_key,
    script,
    status_reply,
)

ROWS = 20
NOT_FINAL = {"transient", "error"}
# every key asked once per run, never stopped by the breaker unless a test wants it
ONCE = ["--max-attempts", "1", "--max-consecutive-failures", "1000"]


def resolve(
    env: dict[str, str], *args: str, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return run_cli(["resolve", "--json", *FAST, *args], env, timeout=timeout)


def assert_all_high(cache: Path, keys: set[str]) -> None:
    bands = key_bands(cache)
    assert {k: b for k, b in bands.items() if b != "high"} == {}
    assert set(bands) == keys


def assert_not_final(cache: Path, keys: set[str]) -> None:
    """Each key's state is transient or an error (never a final match/no-match)."""
    states = key_states(cache)
    bad = {k: (states[k]["classification"], states[k]["reason"]) for k in keys}
    assert {k: v for k, v in bad.items() if v[0] not in NOT_FINAL} == {}


def good_item(server: FaultServer, key_id: str) -> dict[str, Any]:
    """The right LookupResponse of `key_id` (as the healthy server gives it)."""
    truth = server.catalog.keys[key_id]  # type: ignore[union-attr]
    return server.right_lookup({"artist": truth.artist, "album": truth.album})


# -- HTTP failures: transient, asked again later ------------------------------------------


def test_5xx_bursts_are_transient_and_a_later_good_run_finishes(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    catalog = seeded_catalog(wxyc_db, ROWS)
    keys = sorted(candidate_keys(catalog))
    statuses = {k: (500, 502, 503, 504)[i % 4] for i, k in enumerate(keys[:8])}
    cache = tmp_path / "c.duckdb"
    policy = per_key({k: status_reply(s) for k, s in statuses.items()})
    with FaultServer(catalog, policy) as lml:
        env = fault_env(wxyc_db, lml.url, cache)
        out = ok_json(
            resolve(env, "--no-bulk", "--max-attempts", "2", "--max-consecutive-failures", "1000")
        )
        asks = lml.asks("single")
        assert out["transient"] == len(statuses)
        assert all(asks[k] == 2 for k in statuses)  # bounded: --max-attempts per run
        states = key_states(cache)
        for k, status in statuses.items():
            assert states[k]["classification"] == "transient", states[k]
            assert states[k]["reason"] == f"http_{status}"
        report = report_json(env)
        assert report["pending"]["keys"] == len(statuses)
        assert report["bands_keys"]["high"] == len(keys) - len(statuses)

        lml.policy = good
        lml.reset_log()
        ok_json(resolve(env, "--no-bulk"))
        assert set(lml.asks("single")) == set(statuses)  # only the unfinished keys again
    assert_all_high(cache, set(keys))


def test_resets_truncation_malformed_json_and_hangs_are_transient(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    catalog = seeded_catalog(wxyc_db, ROWS)
    keys = sorted(candidate_keys(catalog))
    faults: dict[str, tuple[Reply, tuple[str, ...]]] = {
        keys[0]: (RESET, ("connection_error",)),
        keys[1]: (
            Reply(body=b'{"results": [{"library_item": {"id": 1', action="truncate"),
            ("connection_error", "bad_json", "client_timeout"),
        ),
        keys[2]: (Reply(body=b'{"results": [{"library_item": '), ("bad_json",)),
        keys[3]: (Reply(body=b"\xff\xfe\x00garbage"), ("bad_json", "bad_body")),
        keys[4]: (
            Reply(
                body=b"<html><body>502 Bad Gateway</body></html>",
                headers={"Content-Type": "text/html"},
            ),
            ("bad_json", "bad_body"),
        ),
        keys[5]: (HANG, ("client_timeout",)),
        keys[6]: (Reply(body=b""), ("bad_json", "bad_body")),
    }
    cache = tmp_path / "c.duckdb"
    policy = per_key({k: r for k, (r, _) in faults.items()})
    with FaultServer(catalog, policy) as lml:
        env = fault_env(wxyc_db, lml.url, cache)
        out = ok_json(resolve(env, "--no-bulk", "--request-timeout", "2", *ONCE))
        assert out["transient"] == len(faults)
        assert all(lml.asks("single")[k] == 1 for k in faults)
        states = key_states(cache)
        for k, (_, reasons) in faults.items():
            assert states[k]["classification"] == "transient", (k, states[k]["reason"])
            assert states[k]["reason"].startswith(reasons), (k, states[k]["reason"])
        lml.policy = good
        ok_json(resolve(env, "--no-bulk"))
    assert_all_high(cache, set(keys))


def test_a_dripping_body_is_bounded_by_the_request_timeout(wxyc_db: WxycDb, tmp_path: Path) -> None:
    """One byte every 0.5 s never trips a read timeout: the timeout must bound the whole
    request, so the run ends and the keys are `client_timeout` (transient)."""
    catalog = seeded_catalog(wxyc_db, ROWS)
    cache = tmp_path / "c.duckdb"
    drip = Reply(body=json.dumps(lookup_response([])).encode(), action="drip")
    with FaultServer(catalog, always(drip)) as lml:
        env = fault_env(wxyc_db, lml.url, cache)
        try:
            done = resolve(
                env, "--no-bulk", "--limit", "2", "--request-timeout", "2", *ONCE, timeout=45
            )
        except subprocess.TimeoutExpired:
            pytest.fail("resolve never ended: --request-timeout does not bound a dripping body")
        out = ok_json(done)
        assert lml.count("single") == 2
    assert out["transient"] == 2
    states = [s for s in key_states(cache).values() if s["classification"] is not None]
    assert [(s["classification"], s["reason"]) for s in states] == [
        ("transient", "client_timeout")
    ] * 2


# -- 200s of the wrong shape: never final ---------------------------------------------------


def _good_parts(server: FaultServer, key_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    item = good_item(server, key_id)["results"][0]
    return item["library_item"], item["artwork"]


def test_wrong_shaped_single_answers_are_never_final(wxyc_db: WxycDb, tmp_path: Path) -> None:
    catalog = seeded_catalog(wxyc_db, ROWS)
    keys = sorted(candidate_keys(catalog))
    cache = tmp_path / "c.duckdb"
    with FaultServer(catalog) as lml:

        def shapes(k: str) -> list[Any]:
            lib, art = _good_parts(lml, k)
            return [
                {},
                {"results": "abc"},
                {"results": ["a"]},
                {"results": [{}]},
                {"results": [None]},
                {"results": [{"library_item": lib, "artwork": [art]}]},  # artwork a list
                {"results": [{"artwork": art}]},  # no library_item
                {"results": [{"library_item": {"title": lib["title"]}, "artwork": art}]},  # no id
                # an id that is no integer (its digits as text are read: see test_score)
                {"results": [{"library_item": {**lib, "id": f"#{lib['id']}"}, "artwork": art}]},
                {"results": [{"library_item": lib, "artwork": "https://i.discogs.com/x.jpeg"}]},
                {"results": None},
                [],
                "results",
            ]

        shaped = {k: json_reply(shapes(k)[i]) for i, k in enumerate(keys[:13])}
        lml.policy = per_key(shaped)
        env = fault_env(wxyc_db, lml.url, cache)
        ok_json(resolve(env, "--no-bulk", *ONCE))
        assert all(lml.asks("single")[k] == 1 for k in shaped)
        assert_not_final(cache, set(shaped))
        report = report_json(env)
        assert report["pending"]["keys"] == len(shaped)

        lml.policy = good
        lml.reset_log()
        ok_json(resolve(env, "--no-bulk"))
        assert set(lml.asks("single")) == set(shaped)  # each is asked again: none was final
    assert_all_high(cache, set(keys))


def test_wrong_shaped_bulk_answers_are_never_final(wxyc_db: WxycDb, tmp_path: Path) -> None:
    """A bulk reply without results, then one whose items are of every wrong shape: the
    keys they concern are not final from bulk; single /lookup (healthy) finishes them."""
    catalog = seeded_catalog(wxyc_db, ROWS)
    keys = sorted(candidate_keys(catalog))
    cache = tmp_path / "c.duckdb"
    n_shaped = 11

    with FaultServer(catalog) as lml:

        def second_bulk(req: Request) -> Reply:
            good = bulk_response(lml.right_lookup(i) for i in req.items)["results"]
            order = req.key_ids
            lib, art = _good_parts(lml, order[0])
            wrong: list[Any] = [
                "a",
                {},
                {"index": "2", "status": "match", "lookup": good[2]["lookup"]},
                {"index": 3, "status": "match", "lookup": "x"},
                {"index": 4, "status": "match", "lookup": {"results": [{}]}},
                {"index": 5, "status": "match", "lookup": {"results": "abc"}},
                {"index": 6, "status": "match", "lookup": []},
                {"index": 7, "status": "bogus", "lookup": good[7]["lookup"]},
                {
                    "index": 8,
                    "status": "match",
                    "lookup": {"results": [{"library_item": lib, "artwork": [art]}]},
                },
                {"index": 9.0, "status": "match", "lookup": good[9]["lookup"]},
                {"index": 10, "status": "match", "lookup": {"results": ["a"]}},
            ]
            return json_reply({"results": wrong + good[n_shaped:]})

        lml.policy = on(
            "bulk", script(json_reply({}), json_reply({"results": "x"}), then=second_bulk)
        )
        env = fault_env(wxyc_db, lml.url, cache)
        ok_json(resolve(env, "--max-attempts", "3", "--max-consecutive-failures", "1000"))
        bulk_order = lml.requests("bulk")[-1].key_ids
        assert lml.count("bulk") == 3
        shaped = set(bulk_order[:n_shaped])
        bulk_answers = [r for r in responses(cache) if r["endpoint"] == "bulk"]
        assert {r["classification"] for r in bulk_answers if r["key_id"] in shaped} <= NOT_FINAL
        # the first two replies carried nothing for any key
        first = [r for r in bulk_answers if r["attempt"] in (1, 2)]
        assert first and {r["classification"] for r in first} <= NOT_FINAL
        # single /lookup was asked exactly the keys bulk could not answer, once each
        assert set(lml.asks("single")) == shaped
        assert all(n == 1 for n in lml.asks("single").values())
    assert_all_high(cache, set(keys))


def test_bulk_answers_for_missing_or_unasked_indexes(wxyc_db: WxycDb, tmp_path: Path) -> None:
    """A bulk reply with items for only half the keys asked, plus items for indexes that
    were not asked (carrying other keys' covers): the missing keys are not final (single
    asks them), the extra items are never attributed to anybody."""
    catalog = seeded_catalog(wxyc_db, ROWS)
    keys = sorted(candidate_keys(catalog))
    cache = tmp_path / "c.duckdb"
    with FaultServer(catalog) as lml:

        def short_bulk(req: Request) -> Reply:
            good = bulk_response(lml.right_lookup(i) for i in req.items)["results"]
            half = len(good) // 2
            extra = [
                {**good[-1], "index": len(good)},
                {**good[-2], "index": 99},
                {**good[-3], "index": -1},
            ]
            return json_reply({"results": good[:half] + extra})

        lml.policy = on("bulk", short_bulk)
        env = fault_env(wxyc_db, lml.url, cache)
        ok_json(resolve(env, "--max-attempts", "1", "--max-consecutive-failures", "1000"))
        order = lml.requests("bulk")[0].key_ids
        answered, missing = set(order[: len(order) // 2]), set(order[len(order) // 2 :])
        assert set(lml.asks("single")) == missing
        # bulk never carries the caller budget (it arms LML's deadline shed per item)
        assert all("x-caller-budget-ms" not in r.headers for r in lml.requests("bulk"))
    bulk_answers = [r for r in responses(cache) if r["endpoint"] == "bulk"]
    assert {r["classification"] for r in bulk_answers if r["key_id"] in missing} <= NOT_FINAL
    assert {r["classification"] for r in bulk_answers if r["key_id"] in answered} == {"match"}
    assert_all_high(cache, set(keys))


# -- the breaker ------------------------------------------------------------------------------

WRONG_SHAPE = {"results": [{}]}
BREAKER_CASES = {
    "http_404": (on("bulk", always(status_reply(404)), always(status_reply(404))), True),
    "http_400": (always(status_reply(400, "Malformed body")), False),
    "http_422": (
        always(
            json_reply(
                {
                    "detail": [
                        {"loc": ["body", "raw_message"], "msg": "Field required", "type": "missing"}
                    ]
                },
                status=422,
            )
        ),
        False,
    ),
    "http_429": (always(status_reply(429, "Too Many Requests")), False),
    "http_503": (always(status_reply(503, "Service Unavailable")), False),
    "http_301": (always(Reply(status=301, action="redirect")), False),
    "bad_json": (always(Reply(body=b"{not json")), False),
    "wrong_shape": (always(json_reply(WRONG_SHAPE)), False),
}


@pytest.mark.parametrize("case", list(BREAKER_CASES))
def test_breaker_stops_on_requests_without_a_usable_answer(
    wxyc_db: WxycDb, tmp_path: Path, case: str
) -> None:
    """N requests in a row without a usable answer stop the run: exit 1, one line naming the
    last reason, at most N + concurrency requests; nothing is cached as final. A bulk 404
    still only means 'no bulk here' (the single 404s are what count)."""
    catalog = seeded_catalog(wxyc_db, ROWS)
    policy, with_bulk = BREAKER_CASES[case]
    cache = tmp_path / "c.duckdb"
    n, concurrency = 3, 4
    with FaultServer(catalog, policy) as lml:
        env = fault_env(wxyc_db, lml.url, cache)
        done = resolve(
            env,
            *([] if with_bulk else ["--no-bulk"]),
            "--max-attempts",
            "2",
            "--max-consecutive-failures",
            str(n),
            "--concurrency",
            str(concurrency),
        )
        singles, bulks, elsewhere = lml.count("single"), lml.count("bulk"), lml.count("other")
    assert done.returncode == 1, (done.returncode, done.stdout[-500:], done.stderr[-1000:])
    line = one_line_error(done)
    assert line.startswith("error: LML failed") and "in a row" in line, line
    if case != "wrong_shape":
        assert re.search(rf"\b{case}\b", line), line
    assert singles <= n + concurrency, singles
    assert bulks <= (concurrency if with_bulk else 0)
    assert elsewhere == 0  # a redirect is never followed
    states = key_states(cache)
    assert {s["classification"] for s in states.values()} <= NOT_FINAL | {None}


def test_bulk_404_falls_back_to_single_and_is_no_failure(wxyc_db: WxycDb, tmp_path: Path) -> None:
    catalog = seeded_catalog(wxyc_db, ROWS)
    cache = tmp_path / "c.duckdb"
    with FaultServer(catalog, on("bulk", always(status_reply(404, "Not Found")))) as lml:
        env = fault_env(wxyc_db, lml.url, cache)
        out = ok_json(resolve(env, "--max-consecutive-failures", "1"))
        assert 1 <= lml.count("bulk") <= 4
    assert out["bulk_unavailable"] is True
    assert_all_high(cache, candidate_keys(catalog))


@pytest.mark.parametrize("status", [401, 403])
def test_key_rotated_mid_run_stops_at_once_and_keeps_what_was_answered(
    wxyc_db: WxycDb, tmp_path: Path, lml_key: str, status: int
) -> None:
    catalog = seeded_catalog(wxyc_db, ROWS)
    cache = tmp_path / "c.duckdb"
    good_first = 6
    refusal = status_reply(status, "Not authenticated" if status == 401 else "Invalid key")
    with FaultServer(catalog, script(*[None] * good_first, then=always(refusal))) as lml:
        env = fault_env(wxyc_db, lml.url, cache, api_key=lml_key)
        # one in flight: each answer is stored before the next request is sent, so "answered
        # before the refusal" is exact, and "at once" means not one request after it
        done = resolve(env, "--no-bulk", "--concurrency", "1")
        seen = lml.requests("single")
    assert done.returncode == 1
    line = one_line_error(done)
    assert f"HTTP {status}" in line and lml_key not in done.stderr + done.stdout
    assert len(seen) == good_first + 1
    answered = {r.key_ids[0] for r in seen[:good_first]}
    bands = key_bands(cache)
    assert {k: bands[k] for k in answered} == {k: "high" for k in answered}


def test_lml_down_then_back(wxyc_db: WxycDb, tmp_path: Path) -> None:
    """LML resets every connection: the breaker stops the run, nothing is final, `report`
    works; LML back: a second run finishes."""
    catalog = seeded_catalog(wxyc_db, ROWS)
    keys = candidate_keys(catalog)
    cache = tmp_path / "c.duckdb"
    with FaultServer(catalog, always(RESET)) as lml:
        env = fault_env(wxyc_db, lml.url, cache)
        done = resolve(env, "--max-attempts", "2", "--max-consecutive-failures", "3")
        assert done.returncode == 1, done.stderr
        line = one_line_error(done)
        assert line.startswith("error: LML failed") and "in a row" in line
        assert lml.count() <= 3 + 4
        report = report_json(env)
        assert not any(report["bands_keys"].get(b, 0) for b in FINAL_BANDS)
        lml.policy = good
        ok_json(resolve(env))
    assert_all_high(cache, keys)


# -- pushback slows the whole pace ------------------------------------------------------------


def test_pushback_slows_the_pace_and_the_run_still_completes(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    catalog = seeded_catalog(wxyc_db, ROWS)
    keys = candidate_keys(catalog)
    with FaultServer(catalog) as lml:
        clean = ok_json(
            resolve(fault_env(wxyc_db, lml.url, tmp_path / "a.duckdb"), "--no-bulk", "--limit", "3")
        )
        assert clean["slowdowns"] == 0

        burst = [
            status_reply(503),
            status_reply(429),
            status_reply(503),
            status_reply(503),
            status_reply(429),
            status_reply(503),
        ]
        lml.policy = script(*burst)
        lml.reset_log()
        cache = tmp_path / "b.duckdb"
        out = ok_json(
            resolve(
                fault_env(wxyc_db, lml.url, cache),
                "--no-bulk",
                "--max-attempts",
                "4",
                "--max-consecutive-failures",
                "20",
            )
        )
        assert lml.count("single") == len(keys) + len(burst)
    assert isinstance(out["slowdowns"], int) and out["slowdowns"] > 0
    assert out["transient"] == 0
    assert_all_high(cache, keys)


# -- integers outside 64 bits ----------------------------------------------------------------


def test_integers_outside_64_bits_break_nothing_and_are_never_high(
    wxyc_db: WxycDb, tmp_path: Path
) -> None:
    catalog = seeded_catalog(wxyc_db, ROWS)
    keys = sorted(candidate_keys(catalog))
    cache = tmp_path / "c.duckdb"
    with FaultServer(catalog) as lml:

        def huge(k: str, where: str, value: int) -> Reply:
            lib, art = _good_parts(lml, k)
            lib, art = dict(lib), dict(art)
            if where == "release_id":
                art.update(release_id=value, release_url=f"https://www.discogs.com/release/{value}")
            elif where == "library_id":
                lib["id"] = value
            elif where == "discogs_artist_id":
                art["discogs_artist_id"] = value
            elif where == "confidence":
                art["confidence"] = value
            return json_reply(lookup_response([{"library_item": lib, "artwork": art}]))

        cases = [
            ("release_id", 10**30),
            ("library_id", 10**30),
            ("release_id", 2**63),
            ("library_id", -(2**63) - 1),
            ("discogs_artist_id", 10**30),
            ("confidence", 10**30),
        ]
        odd = {k: huge(k, where, value) for k, (where, value) in zip(keys, cases, strict=False)}
        lml.policy = per_key(odd)
        env = fault_env(wxyc_db, lml.url, cache)
        ok_json(resolve(env, "--no-bulk", *ONCE))

    report = report_json(
        env, "--export", str(tmp_path / "m.csv"), "--html", str(tmp_path / "r.html")
    )
    assert report["candidates"] > 0
    done = run_cli(["export-parquet", str(tmp_path / "a.parquet")], env, timeout=60)
    assert done.returncode == 0, done.stderr
    bands = key_bands(cache)
    assert {k: bands[k] for k in odd if bands[k] == "high"} == {}
    others = [k for k in keys if k not in odd]
    assert all(bands[k] == "high" for k in others)

    dry = ok_json(run_cli(["apply", "--json", "--no-live-pause"], env, timeout=60))
    assert dry["applied"] == 0
    applied = ok_json(run_cli(["apply", "--json", "--execute", "--no-live-pause"], env, timeout=60))
    with wxyc_db.connect() as conn:
        written = dict(
            conn.execute(
                "SELECT id, artwork_url FROM wxyc_schema.library WHERE artwork_url IS NOT NULL"
            ).fetchall()
        )
    odd_rows = {i for k in odd for i in catalog.keys[k].library_ids}
    before = {r.library_id for r in catalog.rows if r.artwork_url is not None}
    assert not (set(written) - before) & odd_rows
    assert applied["applied"] == len(set(written) - before) > 0
    # and what was written is each row's own cover
    for i in set(written) - before:
        assert written[i] == cover_url_for(lml, catalog.row(i).key_id)


def cover_url_for(server: FaultServer, key_id: str) -> str:
    return good_item(server, key_id)["results"][0]["artwork"]["artwork_url"]
