"""The match table: every candidate row with the verdict its key's cached answer earns.

Pure over the cache: no network, no database. `report` shows it, `apply` writes from it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import polars as pl

from artwork_backfill.cache import Cache
from artwork_backfill.model import Answer, Classification
from artwork_backfill.score import DEFAULT_THRESHOLDS, ShelfRow, Thresholds, score_key

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
    candidates = cache.candidates()
    states = {row["key_id"]: row for row in cache.key_states().iter_rows(named=True)}
    by_key: dict[str, list[dict[str, Any]]] = {}
    for row in candidates.iter_rows(named=True):
        by_key.setdefault(row["key_id"], []).append(row)

    columns: dict[str, list[Any]] = {name: [] for name in MATCH_SCHEMA}
    for key_id, rows in by_key.items():
        state = states.get(key_id)
        answer = _answer(key_id, state)
        shelf = [
            ShelfRow(
                library_id=r["library_id"],
                legacy_release_id=r["legacy_release_id"],
                artist_name=r["artist_name"],
                album_title=r["album_title"],
                format_name=r["format_name"],
            )
            for r in rows
        ]
        verdicts = score_key(shelf, answer, thresholds)
        for r, v in zip(rows, verdicts, strict=True):
            response_id = state["response_id"] if state else None
            band = str(v.band)
            values = {
                "library_id": r["library_id"],
                "legacy_release_id": r["legacy_release_id"],
                "artist_name": r["artist_name"],
                "album_title": r["album_title"],
                "format_name": r["format_name"],
                "key_id": key_id,
                "band": band,
                "score": float(v.score),
                "reasons": ";".join(v.reasons),
                "artwork_url": v.artwork_url,
                "matched_artist": v.matched_artist,
                "matched_album": v.matched_album,
                "matched_release_id": v.matched_release_id,
                "matched_library_item_id": v.matched_library_item_id,
                "search_type": v.search_type,
                "classification": state["classification"] if state else None,
                "answer_reason": state["reason"] if state else None,
                "endpoint": state["endpoint"] if state else None,
                "response_id": response_id,
                "verdict_id": verdict_id(r["library_id"], band, v.artwork_url, response_id),
            }
            for name, value in values.items():
                columns[name].append(value)
    return pl.DataFrame(columns, schema=MATCH_SCHEMA).sort("library_id")


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
