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
from artwork_backfill.judge.audit import audit_row
from artwork_backfill.judge.crosskey import KeyVerdicts, apply_cross_key_evidence
from artwork_backfill.judge.score import ShelfRow, Verdict, score_key
from artwork_backfill.judge.thresholds import DEFAULT_THRESHOLDS, Thresholds
from artwork_backfill.judge.urls import as_int
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
    # the audit's rows only (null for the backfill's): the value in the catalog now, and
    # the audit's verdict on it (ok / wrong / unverified) with its reasons
    "current_artwork_url": pl.String,
    "audit": pl.String,
    "audit_reasons": pl.String,
}


def verdict_id(library_id: int, band: str, artwork_url: str | None, response_id: int | None) -> str:
    raw = (
        f"{library_id}|{band}|{artwork_url or ''}|{response_id if response_id is not None else ''}"
    )
    # a letter first, so a spreadsheet never reads the id as a number
    return "v" + hashlib.sha1(raw.encode()).hexdigest()[:15]


def match_table(
    cache: Cache, thresholds: Thresholds = DEFAULT_THRESHOLDS, *, include_audit: bool = False
) -> pl.DataFrame:
    """Score every key of the current snapshot; one row per library row, sorted by library id.

    With `include_audit`, the audit's filled rows follow (see `audit_rows`): `audit` says
    the verdict on the current value (`current_artwork_url`), and `artwork_url`/`band` the
    replacement the gate offers, if any. Backfill rows have null audit columns. A library
    row in both snapshots appears once, from the newer one.
    """
    # Scoring builds many small objects that all live until the table is built: the cyclic
    # garbage collector would rescan the parsed answer bodies again and again for nothing.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        table = _records_frame(_score_snapshot(cache, thresholds, "candidates"))
        if not include_audit or not cache.has_audit():
            return table
        audited = audit_rows(cache, thresholds)
        newer_audit = _newer(cache)
        if newer_audit:
            table = table.filter(~pl.col("library_id").is_in(audited["library_id"].implode()))
        else:
            audited = audited.filter(~pl.col("library_id").is_in(table["library_id"].implode()))
        return pl.concat([table, audited]).sort("library_id")
    finally:
        if was_enabled:
            gc.enable()


def _newer(cache: Cache) -> bool:
    """Whether the audit snapshot was taken after the backfill's."""
    audit = cache.audit_rows()["exported_at"].max() if cache.has_audit() else None
    backfill = cache.candidates()["exported_at"].max()
    return backfill is None or (audit is not None and audit >= backfill)  # type: ignore[operator]


_Scored = tuple[str, list[dict[str, Any]], dict[str, Any] | None, list[Verdict]]


def _score_snapshot(cache: Cache, thresholds: Thresholds, snapshot: str) -> list[_Scored]:
    """Each key of a snapshot with its rows, its answer and one verdict per row (cross-key
    evidence applied over the snapshot's keys)."""
    rows_frame = cache.candidates() if snapshot == "candidates" else cache.audit_rows()
    states = {row["key_id"]: row for row in cache.key_states(snapshot).iter_rows(named=True)}
    by_key: dict[str, list[dict[str, Any]]] = {}
    for row in rows_frame.iter_rows(named=True):
        by_key.setdefault(row["key_id"], []).append(row)

    scored: list[tuple[str, list[dict[str, Any]], dict[str, Any] | None, KeyVerdicts]] = []
    for key_id, rows in by_key.items():
        state = states.get(key_id)
        shelf = [shelf_row(r) for r in rows]
        verdicts = score_key(shelf, _answer(key_id, state), thresholds)
        scored.append((key_id, rows, state, KeyVerdicts(key_id, shelf, verdicts)))
    judged = apply_cross_key_evidence([kv for *_, kv in scored], thresholds)
    return [
        (key_id, rows, state, list(verdicts))
        for (key_id, rows, state, _), verdicts in zip(scored, judged, strict=True)
    ]


def shelf_row(r: dict[str, Any]) -> ShelfRow:
    return ShelfRow(
        library_id=r["library_id"],
        legacy_release_id=r["legacy_release_id"],
        artist_name=r["artist_name"],
        album_title=r["album_title"],
        format_name=r["format_name"],
        discogs_artist_id=r.get("discogs_artist_id"),
    )


def _answer_part(state: dict[str, Any] | None) -> tuple[Any, ...]:
    if not state:
        return (None, None, None, None)
    return (state["classification"], state["reason"], state["endpoint"], state["response_id"])


def _record(
    r: dict[str, Any],
    key_id: str,
    v: Verdict,
    answer_part: tuple[Any, ...],
    *,
    band: str,
    url: str | None,
    reasons: str,
    verdict: str,
    audit: tuple[str | None, str | None, str | None] = (None, None, None),
) -> tuple[Any, ...]:
    """One row of the match table, in MATCH_SCHEMA's column order."""
    return (
        r["library_id"],
        r["legacy_release_id"],
        r["artist_name"],
        r["album_title"],
        r["format_name"],
        key_id,
        band,
        float(v.score),
        reasons,
        url,
        v.matched_artist,
        v.matched_album,
        v.matched_release_id,
        v.matched_library_item_id,
        v.search_type,
        *answer_part,
        verdict,
        *audit,
    )


def _records_frame(scored: list[_Scored]) -> pl.DataFrame:
    records: list[tuple[Any, ...]] = []
    for key_id, rows, state, verdicts in scored:
        answer_part = _answer_part(state)
        for r, v in zip(rows, verdicts, strict=True):
            band = str(v.band)
            vid = verdict_id(r["library_id"], band, v.artwork_url, answer_part[3])
            records.append(
                _record(
                    r,
                    key_id,
                    v,
                    answer_part,
                    band=band,
                    url=v.artwork_url,
                    reasons=";".join(v.reasons),
                    verdict=vid,
                )
            )
    return pl.DataFrame(records, schema=MATCH_SCHEMA, orient="row").sort("library_id")


def release_index(cache: Cache) -> dict[int, tuple[str | None, str | None]]:
    """What each Discogs release is (artist, album), as the cached answers of both snapshots
    show it: every result's `artwork` with a release id."""
    index: dict[int, tuple[str | None, str | None]] = {}
    for snapshot in ("candidates", "audit_rows"):
        if snapshot == "audit_rows" and not cache.has_audit():
            continue
        for body in cache.key_states(snapshot)["body"].to_list():
            if not body:
                continue
            try:
                parsed = json.loads(body)
            except ValueError:
                continue
            results = parsed.get("results") if isinstance(parsed, dict) else None
            for item in results if isinstance(results, list) else ():
                artwork = item.get("artwork") if isinstance(item, dict) else None
                if not isinstance(artwork, dict):
                    continue
                release = as_int(artwork.get("release_id"))
                if release and release > 0 and release not in index:
                    artist, album = artwork.get("artist"), artwork.get("album")
                    index[release] = (
                        artist if isinstance(artist, str) else None,
                        album if isinstance(album, str) else None,
                    )
    return index


def audit_rows(cache: Cache, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> pl.DataFrame:
    """The audit snapshot's rows in the match table's layout: the gate's verdict for each
    filled row (its cover offered as the replacement when the current value is wrong), and
    the audit's verdict on the current value (`judge.audit.audit_row`)."""
    releases = release_index(cache)
    records: list[tuple[Any, ...]] = []
    for key_id, rows, state, verdicts in _score_snapshot(cache, thresholds, "audit_rows"):
        answer_part = _answer_part(state)
        for r, v in zip(rows, verdicts, strict=True):
            gate = v if state is not None and state.get("classification") else None
            audit = audit_row(shelf_row(r), r["artwork_url"], gate, releases, thresholds)
            # what `apply --repair` would write: the replacement, in the gate's band; nothing
            # (no_match) for a value that stays
            band = (audit.replacement_band or "no_match") if audit.replacement_url else "no_match"
            url = audit.replacement_url
            vid = verdict_id(r["library_id"], f"audit:{band}", url, answer_part[3])
            records.append(
                _record(
                    r,
                    key_id,
                    v,
                    answer_part,
                    band=band,
                    url=url,
                    reasons=";".join(v.reasons) if url else "",
                    verdict=vid,
                    audit=(r["artwork_url"], str(audit.verdict), ";".join(audit.reasons)),
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
