"""A small cache with one key per kind of LML answer, for the report/decisions/page tests.

Bodies follow the shapes in LML's contract (shared/lml-examples): direct with artwork, a
spacer.gif cover, the Yenbett -> Tzenni substitution, an artist-only fallback, an empty
answer, a shed tail (degraded), `timeout: true`, a row-less library miss, a corrected
artist, a direct row whose artwork is another album, an HTTP error, keys never asked.
Every value goes through the real Cache API.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

from artwork_backfill.cache.store import Cache
from artwork_backfill.judge.normalize import grouping_key
from artwork_backfill.model import Answer, CandidateRow, Classification, LookupKey

C = Classification

# Titles a page must keep as text: quotes, <, &, a closing script tag, a comma for CSV.
XSS_ARTIST = 'The "Quoted" <b>Band</b> & Co'
XSS_ALBUM = "</script><img src=x onerror=\"window.__pwned=1\"> Vol. 1, 'Live' & <More>"


def cover_url(release_id: int, stamp: int = 1400000000) -> str:
    """A current-style Discogs image URL whose encoded file name names `release_id`."""
    name = f"s3://discogs-database-images/R-{release_id}-{stamp}.jpeg".encode()
    encoded = base64.urlsafe_b64encode(name).decode().rstrip("=")
    return f"https://i.discogs.com/Qm9ndXNIYXNo{release_id % 10000:04d}/rs:fit/g:sm/q:90/h:600/w:600/{encoded}.jpeg"


def library_item(item_id: int, artist: str, title: str, fmt: str = "CD") -> dict[str, Any]:
    rowless = item_id == 0
    return {
        "id": item_id,
        "title": title,
        "artist": artist,
        "call_letters": None if rowless else artist[:3].upper(),
        "artist_call_number": None if rowless else 12,
        "release_call_number": None if rowless else 4,
        "genre": None if rowless else "Rock",
        "format": None if rowless else fmt,
        "label": None,
        "call_number": "(external)" if rowless else f"Rock {fmt} {artist[:3].upper()} 12/4",
        "library_url": "" if rowless else f"https://dj.wxyc.org/dashboard/album/legacy/{item_id}",
        "on_streaming": None,
    }


def artwork(
    release_id: int, artist: str, album: str, *, url: str | None = None, confidence: float = 1.0
) -> dict[str, Any]:
    return {
        "album": album,
        "artist": artist,
        "release_id": release_id,
        "master_id": None,
        "release_url": f"https://www.discogs.com/release/{release_id}",
        "artwork_url": url if url is not None else cover_url(release_id),
        "confidence": confidence,
        "release_year": 1996,
        "artist_bio": None,
        "wikipedia_url": None,
        "spotify_url": None,
        "apple_music_url": None,
        "youtube_music_url": None,
        "bandcamp_url": None,
        "soundcloud_url": None,
        "streaming_status": None,
    }


def body(
    results: list[dict[str, Any]], search_type: str = "direct", **flags: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "api_version": None,
        "results": results,
        "search_type": search_type,
        "song_not_found": False,
        "found_on_compilation": False,
        "context_message": None,
        "corrected_artist": None,
        "cache_stats": {
            "memory_hits": 0,
            "pg_hits": 1,
            "pg_misses": 0,
            "api_calls": 0,
            "pg_time_ms": 1.5,
            "api_time_ms": 0.0,
        },
        "identity": None,
        "timeout": False,
        "degraded": False,
        "external_source": None,
    }
    out.update(flags)
    return out


def result(item: dict[str, Any], art: dict[str, Any] | None) -> dict[str, Any]:
    return {"library_item": item, "artwork": art, "reconciled_identity": None, "matched_via": []}


# (library_id, legacy_release_id, artist, album, format)
ROWS: list[tuple[int, int, str, str, str]] = [
    (1, 104233, "Stereolab", "Emperor Tomato Ketchup", "cd"),
    (2, 104234, "Stereolab", "Emperor Tomato Ketchup", "vinyl"),
    (3, 88012, "Radiohead", "Kid A", "cd"),
    (4, 131876, "Noura Mint Seymali", "Yenbett", "cd"),
    (5, 104239, "Stereolab", "Switched On", "cd"),
    (6, 200001, "Nobody Knows", "Nothing Here", "cd"),
    (7, 142090, "Hermanos Gutierrez", "Hasta la Victoria", "vinyl"),
    (8, 150000, "Slow Server", "Waiting Room", "cd"),
    (9, 160000, "Anadol & Marie Klock", "Manivelles", "vinyl"),
    (10, 104236, "Stereolab", "Dots and Loops", "cd"),
    (11, 131880, "Noura Mint Seymali", "Heat", "vinyl"),
    (12, 170000, XSS_ARTIST, XSS_ALBUM, "cd"),
    (13, 180000, "Never Asked", "Some Album", "cd"),
    (14, 190000, "Broadcast", "Tender Buttons", "cd"),
    (15, 190001, "Pram", "Museum of Imaginary Animals", "cd"),
    (16, 190002, "Cate Le Bon", "Crab Day", "vinyl"),
    (17, 190003, "Bad Request", "Error Album", "cd"),
    (18, 190004, "Seatrain", "Seatrain [1970 debut]", "vinyl"),  # [..] is rich markup too
]


def key_of(library_id: int) -> str:
    row = next(r for r in ROWS if r[0] == library_id)
    return grouping_key(row[2], row[3])


def _rowless(artist: str, album: str, release_id: int) -> dict[str, Any]:
    return body(
        [result(library_item(0, artist, album), artwork(release_id, artist, album))], "alternative"
    )


def answers() -> list[tuple[int, Classification, str, dict[str, Any] | None, int | None]]:
    """(library_id of the key, classification, reason, body, http_status) in arrival order."""
    stereo = library_item(104233, "Stereolab", "Emperor Tomato Ketchup")
    return [
        # a transient first try, then the final answer that supersedes it
        (1, C.TRANSIENT, "http_503", None, 503),
        (
            1,
            C.MATCH,
            "results",
            body([result(stereo, artwork(5550101, "Stereolab", "Emperor Tomato Ketchup"))]),
            200,
        ),
        (
            3,
            C.MATCH,
            "results",
            body(
                [
                    result(
                        library_item(88012, "Radiohead", "Kid A"),
                        artwork(
                            5550404,
                            "Radiohead",
                            "Kid A",
                            url="https://s.discogs.com/images/spacer.gif",
                        ),
                    )
                ]
            ),
            200,
        ),
        (
            4,
            C.MATCH,
            "results",
            body(
                [
                    result(
                        library_item(131877, "Noura Mint Seymali", "Tzenni"),
                        artwork(5879935, "Noura Mint Seymali", "Tzenni"),
                    )
                ],
                "alternative",
            ),
            200,
        ),
        (
            5,
            C.MATCH,
            "results",
            body(
                [
                    result(
                        library_item(
                            104240, "Stereolab", "Refried Ectoplasm (Switched On Volume 2)"
                        ),
                        artwork(5550202, "Stereolab", "Refried Ectoplasm (Switched On Volume 2)"),
                    )
                ],
                "fallback",
                song_not_found=True,
            ),
            200,
        ),
        (6, C.NO_MATCH, "empty", body([], "alternative"), 200),
        (
            7,
            C.TRANSIENT,
            "degraded_deadline_exceeded",
            body(
                [result(library_item(142090, "Hermanos Gutierrez", "Hasta la Victoria"), None)],
                degraded=True,
                degraded_reason="deadline_exceeded",
            ),
            200,
        ),
        (8, C.TRANSIENT, "timeout_flag", body([], timeout=True), 200),
        (9, C.MATCH, "results", _rowless("Anadol & Marie Klock", "Manivelles", 5550808), 200),
        (
            10,
            C.MATCH,
            "results",
            body(
                [
                    result(
                        library_item(104236, "Stereolab", "Dots and Loops"),
                        artwork(5550303, "Stereolab", "Dots And Loops"),
                    )
                ],
                corrected_artist="Stereolab",
            ),
            200,
        ),
        (
            11,
            C.MATCH,
            "results",
            body(
                [
                    result(
                        library_item(131880, "Noura Mint Seymali", "Heat"),
                        artwork(5879935, "Noura Mint Seymali", "Tzenni", confidence=0.4),
                    )
                ]
            ),
            200,
        ),
        (12, C.MATCH, "results", _rowless(XSS_ARTIST, XSS_ALBUM, 5551212), 200),
        (14, C.MATCH, "results", _rowless("Broadcast", "Tender Buttons", 5551414), 200),
        (15, C.MATCH, "results", _rowless("Pram", "Museum of Imaginary Animals", 5551515), 200),
        (16, C.MATCH, "results", _rowless("Cate Le Bon", "Crab Day", 5551616), 200),
        (17, C.ERROR, "http_400", None, 400),
    ]


def build_cache(path: Path) -> Path:
    """Write the scenario cache to `path` through the Cache API; returns the path."""
    rows = [
        CandidateRow(lib, legacy, artist, album, fmt, True, grouping_key(artist, album))
        for lib, legacy, artist, album, fmt in ROWS
    ]
    keys = {r.key_id: LookupKey(r.key_id, r.artist_name, r.album_title) for r in rows}
    now = time.time()
    with Cache(path) as cache:
        cache.bind_source("postgresql://test@localhost/wxyc schema wxyc_schema")
        run = cache.start_run("resolve", {"test": True})
        cache.replace_candidates(run, rows, keys.values())
        for i, (lib, cls, reason, answer_body, status) in enumerate(answers()):
            cache.append_answers(
                run,
                [
                    Answer(
                        key_of(lib),
                        "single",
                        status,
                        cls,
                        reason,
                        answer_body,
                        1,
                        20.0,
                        now + i,
                        now + i + 0.02,
                    )
                ],
            )
        cache.finish_run(run, "finished", {})
    return path
