"""The match table: every candidate row with the verdict its key's cached answer earns.

Pure over the cache: no network, no database. `report` shows it, `apply` writes from it.
"""

from __future__ import annotations

import gc
import hashlib
import json
from typing import Any

import polars as pl

from artwork_backfill.cache.store import Cache
from artwork_backfill.judge.crosskey import KeyVerdicts, apply_cross_key_evidence
from artwork_backfill.judge.score import ShelfRow, score_key
from artwork_backfill.judge.thresholds import DEFAULT_THRESHOLDS, Thresholds
from artwork_backfill.model import Answer, Classification

MATCH_SCHEMA: dict[str, Any] = {
    "library_id": pl.Int64,
    "legacy_release_id": pl.Int64,
    "artist_name": pl.String,
    "album_title": pl.String,
    "format_name": pl.String,
    "key_id": pl.String,
    "band": pl.String,
    "score": pl.Float64,
    "reasons": pl.String,  # codes joined with ";"
    "artwork_url": pl.String,
    "matched_artist": pl.String,
    "matched_album": pl.String,
    "matched_release_id": pl.Int64,
    "matched_library_item_id": pl.Int64,
    "search_type": pl.String,
    "classification": pl.String,  # of the answer scored (null when never asked)
    "answer_reason": pl.String,
    "endpoint": pl.String,
    "response_id": pl.Int64,
    "verdict_id": pl.String,  # changes whenever the verdict for the row changes
}


def verdict_id(library_id: int, band: str, artwork_url: str | None, response_id: int | None) -> str:
    raw = (
        f"{library_id}|{band}|{artwork_url or ''}|{response_id if response_id is not None else ''}"
    )
    # a letter first, so a spreadsheet never reads the id as a number
    return "v" + hashlib.sha1(raw.encode()).hexdigest()[:15]


def match_table(cache: Cache, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> pl.DataFrame:
    """Score every key of the current snapshot; one row per library row, sorted by library id."""
    # Scoring builds many small objects that all live until the table is built: the cyclic
    # garbage collector would rescan the parsed answer bodies again and again for nothing.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _match_table(cache, thresholds)
    finally:
        if was_enabled:
            gc.enable()


def _match_table(cache: Cache, thresholds: Thresholds) -> pl.DataFrame:
    candidates = cache.candidates()
    states = {row["key_id"]: row for row in cache.key_states().iter_rows(named=True)}
    by_key: dict[str, list[dict[str, Any]]] = {}
    for row in candidates.iter_rows(named=True):
        by_key.setdefault(row["key_id"], []).append(row)

    scored: list[tuple[str, list[dict[str, Any]], dict[str, Any] | None, KeyVerdicts]] = []
    for key_id, rows in by_key.items():
        state = states.get(key_id)
        shelf = [
            ShelfRow(
                library_id=r["library_id"],
                legacy_release_id=r["legacy_release_id"],
                artist_name=r["artist_name"],
                album_title=r["album_title"],
                format_name=r["format_name"],
                discogs_artist_id=r.get("discogs_artist_id"),
            )
            for r in rows
        ]
        verdicts = score_key(shelf, _answer(key_id, state), thresholds)
        scored.append((key_id, rows, state, KeyVerdicts(key_id, shelf, verdicts)))
    judged = apply_cross_key_evidence([kv for *_, kv in scored], thresholds)

    records: list[tuple[Any, ...]] = []  # one tuple per row, in MATCH_SCHEMA's column order
    for (key_id, rows, state, _), verdicts in zip(scored, judged, strict=True):
        if state:
            response_id = state["response_id"]
            answer_part = (state["classification"], state["reason"], state["endpoint"], response_id)
        else:
            response_id, answer_part = None, (None, None, None, None)
        for r, v in zip(rows, verdicts, strict=True):
            band = str(v.band)
            records.append(
                (
                    r["library_id"],
                    r["legacy_release_id"],
                    r["artist_name"],
                    r["album_title"],
                    r["format_name"],
                    key_id,
                    band,
                    float(v.score),
                    ";".join(v.reasons),
                    v.artwork_url,
                    v.matched_artist,
                    v.matched_album,
                    v.matched_release_id,
                    v.matched_library_item_id,
                    v.search_type,
                    *answer_part,
                    verdict_id(r["library_id"], band, v.artwork_url, response_id),
                )
            )
    return pl.DataFrame(records, schema=MATCH_SCHEMA, orient="row").sort("library_id")


def _answer(key_id: str, state: dict[str, Any] | None) -> Answer | None:
    if state is None or state.get("classification") is None:
        return None
    body = json.loads(state["body"]) if state.get("body") else None
    received = state.get("received_at")
    ts = received.timestamp() if received is not None else 0.0
    return Answer(
        key_id=key_id,
        endpoint=state.get("endpoint") or "single",
        http_status=state.get("http_status"),
        classification=Classification(state["classification"]),
        reason=state.get("reason") or "",
        body=body,
        attempt=1,
        latency_ms=0.0,
        requested_at=ts,
        received_at=ts,
    )
