"""The JSON the simulated LML speaks: `render_lookup` (one key's LookupResponse, per LML
generation and endpoint, with the catalog's scenario-driven transient answers) and the
FastAPI/pydantic-shaped 422 bodies for malformed requests (`validate_request`). Pure: the
HTTP server (`simulator.server`) decides when and how often to answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote_plus

from artwork_backfill.demo.simulator.catalog import (
    FORMAT_DISPLAY,
    AnswerPlan,
    Catalog,
    CatalogRow,
    DiscogsRelease,
    KeyTruth,
    ResultPlan,
)

Generation = Literal["aug", "feb"]
_STRING_FIELDS = ("artist", "album", "song", "raw_message")
_BOOL_FIELDS = ("extended", "warm_cache", "include_identity", "include_external_caches")


# ---------------------------------------------------------------------------------------------
# Rendering LML JSON
# ---------------------------------------------------------------------------------------------


def _library_item(row: CatalogRow, generation: Generation) -> dict[str, Any]:
    fmt = FORMAT_DISPLAY[row.format_name]
    item: dict[str, Any] = {
        "id": row.legacy_release_id,
        "title": row.album_title,
        "artist": row.artist_name,
        "call_letters": row.code_letters,
        "artist_call_number": row.artist_genre_code,
        "release_call_number": row.code_number,
        "genre": row.genre_name,
        "format": fmt,
    }
    if generation == "feb":
        item["library_url"] = (
            f"http://www.wxyc.info/wxycdb/libraryRelease?id={row.legacy_release_id}"
        )
        return item
    item["label"] = row.label
    item["call_number"] = (
        f"{row.genre_name} {fmt} {row.code_letters} {row.artist_genre_code}/{row.code_number}"
    )
    item["library_url"] = f"https://dj.wxyc.org/dashboard/album/legacy/{row.legacy_release_id}"
    item["on_streaming"] = row.on_streaming
    return item


def _rowless_item(release: DiscogsRelease) -> dict[str, Any]:
    return {
        "id": 0,
        "title": release.title,
        "artist": release.artist,
        "call_number": "(external)",
        "library_url": "",
    }


def _artwork(
    release: DiscogsRelease, confidence: float, generation: Generation, *, extended: bool
) -> dict[str, Any]:
    art: dict[str, Any] = {
        "album": release.title,
        "artist": release.artist,
        "release_id": release.release_id,
        "release_url": release.release_url,
        "artwork_url": release.artwork_url,
        "confidence": confidence,
    }
    if generation == "feb":
        return art
    spotify = None
    if release.release_id == 0 or release.release_id % 5 < 2:
        spotify = (
            f"https://open.spotify.com/album/{(release.release_id * 2654435761) % 10**22:022d}"
        )
    art.update(
        master_id=release.master_id,
        release_year=release.release_year,
        artist_bio=None,
        wikipedia_url=None,
        spotify_url=spotify,
        apple_music_url=None,
        youtube_music_url="https://music.youtube.com/search?q="
        + quote_plus(f"{release.artist} {release.title}"),
        bandcamp_url=None,
        soundcloud_url=None,
        streaming_status={
            "spotify": "verified" if spotify else "absent",
            "apple_music": "unresolved",
        },
    )
    if extended:
        art.update(
            discogs_artist_id=release.discogs_artist_id,
            tracklist=release.tracklist(),
            genres=list(release.genres),
            styles=list(release.styles),
            label=release.label,
            full_release_date=release.full_release_date(),
            artist_image_url=release.artist_image_url,
            profile_tokens=[],
            writer_credits=None,
        )
    return art


def _cache_stats(n_results: int, generation: Generation, *, api_calls: int = 0) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "memory_hits": 0,
        "pg_hits": n_results,
        "pg_misses": 0 if n_results else 1,
        "api_calls": api_calls,
        "pg_time_ms": round(0.8 + 1.7 * n_results, 1),
        "api_time_ms": 3650.0 if api_calls else 0.0,
    }
    if generation == "aug":
        stats.update(breaker_open_skips=0, event_loop_lag_ms=0.0, rowless_probe_calls=0)
    return stats


def _body_without_results(form: int, generation: Generation) -> dict[str, Any]:
    """An HTTP 200 whose JSON lacks `results`: not an answer (ask again)."""
    if form == 0:
        return {}
    body: dict[str, Any] = {"search_type": "direct", "cache_stats": _cache_stats(0, generation)}
    if form >= 2:
        body.update(song_not_found=False, found_on_compilation=False, context_message=None)
        if generation == "aug":
            body.update(timeout=False, degraded=False)
    return body


@dataclass(frozen=True, slots=True)
class LookupContext:
    """How one lookup is asked: which generation, which endpoint, which flags."""

    generation: Generation
    bulk: bool = False
    extended: bool = False
    allow_fallback: bool = False  # bulk's allow_release_resolution_fallback
    skip_cache: bool = False
    separator: bool = True  # raw_message contains " - " (the swapped-interpretation trigger)


def render_lookup(
    catalog: Catalog, truth: KeyTruth | None, ctx: LookupContext, ask_index: int = 0
) -> dict[str, Any]:
    """The LookupResponse JSON for one ask of a key (`ask_index` counts earlier asks of it)."""
    aug = ctx.generation == "aug"
    empty_type = "alternative" if ctx.separator else "direct"
    search_type = empty_type
    results: list[ResultPlan] = []
    song_not_found = False
    context_message = corrected = None
    timeout = degraded = False
    reason: str | None = None
    strip_artwork = ctx.skip_cache
    api_calls = 0
    if truth is not None:
        plan: AnswerPlan = truth.answer
        transient = (
            plan.transient if plan.transient_asks < 0 or ask_index < plan.transient_asks else None
        )
        if transient == "no_results":
            return _body_without_results(plan.no_results_form, ctx.generation)
        search_type = plan.search_type
        results = list(plan.results)
        song_not_found, context_message, corrected = (
            plan.song_not_found,
            plan.context_message,
            plan.corrected_artist,
        )
        if plan.degraded_reason and aug:
            degraded, reason = True, plan.degraded_reason
        if transient == "timeout":
            results, api_calls = [], 2
            if aug:
                timeout, search_type = True, "direct"
            else:
                search_type = empty_type
        elif transient == "deadline":
            strip_artwork, api_calls = True, 1
            if aug:
                degraded, reason = True, "deadline_exceeded"
        elif transient == "partial_deadline" and aug:  # feb sheds nothing: the full answer
            results, api_calls = list(plan.transient_results), 1
            degraded, reason = True, "deadline_exceeded"
        if plan.rowless and (not aug or (ctx.bulk and not ctx.allow_fallback)):
            results, search_type = [], empty_type  # no library-miss probe here
        if plan.bulk_artwork_missing and ctx.bulk and not ctx.allow_fallback:
            strip_artwork = True  # never live-checked, and bulk reads only Postgres
    items: list[dict[str, Any]] = []
    for i, res in enumerate(results):
        if res.legacy_release_id == 0:
            assert res.release is not None
            library_item = _rowless_item(res.release)
        else:
            row = catalog.row_by_legacy_id(res.legacy_release_id)
            assert row is not None
            library_item = _library_item(row, ctx.generation)
        artwork = None
        if res.release is not None and not strip_artwork:
            artwork = _artwork(
                res.release,
                res.confidence,
                ctx.generation,
                extended=aug and ctx.extended and i == 0,
            )
        items.append({"library_item": library_item, "artwork": artwork})
    body: dict[str, Any] = {}
    if aug:
        body["api_version"] = None
    body.update(
        results=items,
        search_type=search_type,
        song_not_found=song_not_found,
        found_on_compilation=False,
        context_message=context_message,
        corrected_artist=corrected,
        cache_stats=_cache_stats(len(items), ctx.generation, api_calls=api_calls),
    )
    if aug:
        body.update(identity=None, timeout=timeout, degraded=degraded)
        if degraded:
            body["degraded_reason"] = reason
        body["external_source"] = None
    return body


# ---------------------------------------------------------------------------------------------
# Request validation (FastAPI/pydantic-shaped 422s)
# ---------------------------------------------------------------------------------------------


def validation_error(loc: list[str | int], kind: str, msg: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "loc": ["body", *loc], "msg": msg, "input": value}


def validate_request(
    item: Any, generation: Generation, loc: list[str | int]
) -> list[dict[str, Any]]:
    if not isinstance(item, dict):
        return [
            validation_error(
                loc, "model_attributes_type", "Input should be a valid dictionary", item
            )
        ]
    errors = []
    for name in _STRING_FIELDS:
        value = item.get(name)
        if value is not None and not isinstance(value, str):
            errors.append(
                validation_error(
                    [*loc, name], "string_type", "Input should be a valid string", value
                )
            )
    for name in _BOOL_FIELDS:
        value = item.get(name)
        if value is not None and not isinstance(value, bool):
            errors.append(
                validation_error(
                    [*loc, name], "bool_type", "Input should be a valid boolean", value
                )
            )
    if generation == "feb" and item.get("raw_message") is None:
        errors.append(validation_error([*loc, "raw_message"], "missing", "Field required", item))
    elif not any(item.get(name) for name in _STRING_FIELDS):
        errors.append(
            validation_error(
                loc,
                "value_error",
                "Value error, one of artist, album, song or raw_message is required",
                item,
            )
        )
    return errors
