"""Units of the LML client: classification, request shape, pacing, backoff (no network)."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from artwork_backfill.config import lml_settings
from artwork_backfill.lml import (
    LmlClient,
    Pacer,
    classify_body,
    classify_bulk_item,
    request_body,
    retry_after_seconds,
)
from artwork_backfill.model import Classification as C
from artwork_backfill.model import LookupKey

ROW = {"library_item": {"id": 104233, "title": "T", "artist": "A"}}
ART = {
    "artwork_url": "https://i.discogs.com/x.jpeg",
    "release_id": 5,
    "release_url": "https://www.discogs.com/release/5",
}


def body(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "results": [],
        "search_type": "direct",
        "timeout": False,
        "degraded": False,
    }
    base.update(kw)
    return base


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (body(results=[{**ROW, "artwork": ART}]), (C.MATCH, "results")),
        (body(results=[{**ROW, "artwork": None}]), (C.MATCH, "results")),
        (body(), (C.NO_MATCH, "empty")),
        (body(search_type="alternative"), (C.NO_MATCH, "empty")),
        # an empty answer that says direct is still a no-match, a timeout never is
        (body(timeout=True), (C.TRANSIENT, "timeout_flag")),
        (body(timeout=True, results=[{**ROW, "artwork": ART}]), (C.TRANSIENT, "timeout_flag")),
        (
            body(
                degraded=True,
                degraded_reason="deadline_exceeded",
                results=[{**ROW, "artwork": None}],
            ),
            (C.TRANSIENT, "degraded_deadline_exceeded"),
        ),
        (
            body(degraded=True, degraded_reason="upstream_unavailable"),
            (C.TRANSIENT, "degraded_upstream_unavailable"),
        ),
        (body(degraded=True, degraded_reason=None), (C.TRANSIENT, "degraded_unknown")),
        (
            body(degraded=True, degraded_reason="something_new"),
            (C.TRANSIENT, "degraded_something_new"),
        ),
        (body(degraded=True, degraded_reason="cache_only"), (C.NO_MATCH, "degraded_cache_only")),
        (
            body(
                degraded=True,
                degraded_reason="deadline_exceeded",
                results=[{**ROW, "artwork": ART}],
            ),
            (C.MATCH, "degraded_with_artwork"),
        ),
        # the Feb generation has no timeout/degraded fields at all
        ({"results": [], "search_type": "alternative"}, (C.NO_MATCH, "empty")),
        ({"results": "nope"}, (C.TRANSIENT, "bad_body")),
        (["not", "an", "object"], (C.TRANSIENT, "bad_body")),
    ],
)
def test_classify_body(response: object, expected: tuple[C, str]) -> None:
    assert classify_body(response) == expected


def test_final_classes() -> None:
    assert C.MATCH.is_final and C.NO_MATCH.is_final
    assert not C.TRANSIENT.is_final and not C.ERROR.is_final


def test_bulk_items_branch_on_status() -> None:
    assert classify_bulk_item(
        {"index": 0, "status": "error", "lookup": None, "message": "CacheUnavailableError"}
    )[:2] == (
        C.TRANSIENT,
        "bulk_item_error:CacheUnavailableError",
    )
    # a bulk no_match whose lookup timed out is not a real no-match
    cls, reason, _ = classify_bulk_item(
        {"index": 1, "status": "no_match", "lookup": body(timeout=True)}
    )
    assert (cls, reason) == (C.TRANSIENT, "timeout_flag")
    cls, _, lookup = classify_bulk_item({"index": 2, "status": "no_match", "lookup": body()})
    assert cls is C.NO_MATCH and lookup == body()
    assert classify_bulk_item({"index": 3, "status": "shed", "lookup": None})[0] is C.TRANSIENT
    assert classify_bulk_item("garbage")[0] is C.TRANSIENT


def test_request_body_is_album_context() -> None:
    b = request_body(LookupKey("k", "Stereolab", "Emperor Tomato Ketchup"))
    assert b["artist"] == "Stereolab" and b["album"] == "Emperor Tomato Ketchup"
    assert b["raw_message"] == "Stereolab - Emperor Tomato Ketchup"
    for forbidden in ("song", "warm_cache", "skip_cache"):
        assert forbidden not in b


def test_retry_after() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_backoff_grows_with_jitter_and_respects_retry_after() -> None:
    client = LmlClient(
        lml_settings(base_url="http://127.0.0.1:9", api_key=None, rate_per_min=60, concurrency=1)
    )
    first = [client.backoff(1) for _ in range(50)]
    third = [client.backoff(3) for _ in range(50)]
    assert all(0.5 <= d <= 1.0 for d in first)
    assert all(2.0 <= d <= 4.0 for d in third)
    assert len(set(first)) > 1  # jittered
    assert client.backoff(1, retry_after=12.0) >= 12.0
    assert client.backoff(30) <= client.settings.backoff_max_s


def test_pacer_spaces_sends_evenly() -> None:
    async def go() -> list[float]:
        pacer = Pacer(rate_per_min=1200)  # one every 50 ms
        stamps: list[float] = []

        async def one() -> None:
            await pacer.wait()
            stamps.append(time.monotonic())

        await asyncio.gather(*(one() for _ in range(20)))
        return sorted(stamps)

    stamps = asyncio.run(go())
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.045  # no burst, even under 20 concurrent callers
    assert stamps[-1] - stamps[0] == pytest.approx(19 * 0.05, abs=0.1)


def test_group_writer_coalesces_concurrent_writes_and_reports_failures() -> None:
    from artwork_backfill.lml import GroupWriter

    calls: list[int] = []

    def slow_sink(answers: list[object], done: list[str]) -> None:
        time.sleep(0.05)
        calls.append(len(answers))

    async def go(writer: GroupWriter) -> None:
        await asyncio.gather(*(writer.write([object()], [f"k{i}"]) for i in range(10)))  # type: ignore[list-item]

    writer = GroupWriter(slow_sink)  # type: ignore[arg-type]
    asyncio.run(go(writer))
    writer.close()
    assert sum(calls) == 10  # every answer stored ...
    assert len(calls) < 10  # ... in fewer transactions than requests (group commit)

    def failing_sink(answers: list[object], done: list[str]) -> None:
        raise OSError("disk full")

    writer = GroupWriter(failing_sink)  # type: ignore[arg-type]
    with pytest.raises(OSError, match="disk full"):
        asyncio.run(go(writer))
    writer.close()
