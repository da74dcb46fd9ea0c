"""Labelled scoring cases: shelf rows, an LML answer, the expected band, and the truth.

Each case says, for every shelf row of one key, which band the scorer must give and whether
the cover LML offers is really the album's (`cover_correct`: True, False, or None when no
cover is offered or nobody can tell), with the set of offered URLs that are right
(`good_urls`). The bodies imitate both LML generations (see `aug_body` / `feb_body`); the
names and ids are made up but shaped like WXYC's catalogue and Discogs' data.

Also here: WXYC's existing rules, for comparison, and the precision/recall arithmetic that
both `tests/test_score.py` and `bench/labelled_recall.py` print.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from artwork_backfill.judge.score import Band, ShelfRow, Verdict, score_key
from artwork_backfill.model import Answer, Classification

# --------------------------------------------------------------------------------------------
# Builders for realistic LML bodies
# --------------------------------------------------------------------------------------------


def cover(
    release_id: int,
    *,
    kind: str = "R",
    host: str = "i.discogs.com",
    scheme: str = "https",
    segmented: bool = True,
    size: int = 600,
) -> str:
    """A Discogs image URL of today's real shape (lml-contract §5.5): a signature, the
    imgproxy options and the unpadded url-safe base64 of the S3 file name
    (`R-<release>-<stamp>-<n>.jpeg`; `A-` artist photos, `L-` label logos), cut into
    16-character path segments. `segmented=False` gives the one-segment form, `size` the
    served size (150: LML-feb's search thumbnail, with its `q:40`)."""
    stamp = 1_300_000_000 + release_id % 99_991 * 7_919
    name = (
        f"s3://discogs-database-images/{kind}-{release_id}-{stamp}-{release_id % 9_000 + 1000}.jpeg"
    )
    encoded = base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")
    if segmented:
        encoded = "/".join(encoded[i : i + 16] for i in range(0, len(encoded), 16))
    signature = base64.urlsafe_b64encode(hashlib.sha256(name.encode()).digest()).decode()[:43]
    quality = 40 if size < 300 else 90
    options = f"rs:fit/g:sm/q:{quality}/h:{size}/w:{size}"
    return f"{scheme}://{host}/{signature}/{options}/{encoded}.jpeg"


def legacy_cover(release_id: int, *, kind: str = "R") -> str:
    """A legacy img.discogs.com URL (LML-feb caches still hold these)."""
    stamp = 1_200_000_000 + release_id % 9_973 * 104_729
    signature = base64.urlsafe_b64encode(hashlib.sha1(str(release_id).encode()).digest()).decode()[
        :27
    ]
    return (
        f"https://img.discogs.com/{signature}=/fit-in/600x600/filters:strip_icc():format(jpeg)"
        f":mode_rgb():quality(90)/discogs-images/{kind}-{release_id}-{stamp}.jpeg.jpg"
    )


_CALL_LETTERS_SKIP = str.maketrans("", "", " .,'&!-/")


def item(
    legacy_id: int,
    title: str,
    artist: str,
    *,
    fmt: str = "CD",
    genre: str = "Rock",
    gen: str = "aug",
    label: str | None = None,
) -> dict[str, Any]:
    """A `library_item`; `legacy_id` 0 makes the row-less shape."""
    if legacy_id == 0:
        return {
            "id": 0,
            "title": title,
            "artist": artist,
            "call_number": "(external)",
            "library_url": "",
        }
    letters = (artist.upper().removeprefix("THE ").translate(_CALL_LETTERS_SKIP) or "VAR")[:3]
    artist_no, release_no = legacy_id % 37 + 1, legacy_id % 11 + 1
    data: dict[str, Any] = {
        "id": legacy_id,
        "title": title,
        "artist": artist,
        "call_letters": letters,
        "artist_call_number": artist_no,
        "release_call_number": release_no,
        "genre": genre,
        "format": fmt,
    }
    if gen == "aug":
        data["label"] = label
        data["call_number"] = f"{genre} {fmt} {letters} {artist_no}/{release_no}"
        data["library_url"] = f"https://dj.wxyc.org/dashboard/album/legacy/{legacy_id}"
        data["on_streaming"] = legacy_id % 3 == 0
    else:
        data["library_url"] = f"http://www.wxyc.info/wxycdb/libraryRelease?id={legacy_id}"
    return data


def art(
    release_id: int,
    album: str | None,
    artist: str | None,
    *,
    url: str | object | None = ...,
    confidence: float | None = 1.0,
    gen: str = "aug",
    year: int | None = None,
    release_url: str | object | None = ...,
    artist_image_url: str | None = None,
    discogs_artist_id: int | None = None,
) -> dict[str, Any]:
    """An `artwork` (DiscogsMatchResult). `url` defaults to a cover of `release_id`.
    `discogs_artist_id` (aug, extended top-1) is the Discogs id of the release's artist."""
    image = cover(release_id) if url is ... else url
    data: dict[str, Any] = {
        "album": album,
        "artist": artist,
        "release_id": release_id,
        "release_url": (f"https://www.discogs.com/release/{release_id}" if release_id else "")
        if release_url is ...
        else release_url,
        "artwork_url": image,
        "confidence": confidence,
    }
    if confidence is None:
        del data["confidence"]
    if gen == "aug":
        query = "+".join(f"{artist or ''} {album or ''}".split())
        data |= {
            "master_id": release_id // 97 if release_id else None,
            "release_year": year if year is not None else 0,
            "artist_bio": None,
            "wikipedia_url": None,
            "spotify_url": None,
            "apple_music_url": None,
            "youtube_music_url": f"https://music.youtube.com/search?q={query}",
            "bandcamp_url": None,
            "soundcloud_url": None,
            "streaming_status": {"spotify": "unresolved"},
        }
        if artist_image_url is not None:
            data["artist_image_url"] = artist_image_url
            data["discogs_artist_id"] = release_id // 13
            data["genres"] = ["Rock"]
        if discogs_artist_id is not None:
            data["discogs_artist_id"] = discogs_artist_id
    return data


def lml_confidence(
    discogs_artist: str | None, discogs_album: str | None, row_artist: str, row_album: str
) -> float:
    """LML's heuristic `artwork.confidence` (contract §2.4): per side 0.4 for an exact
    case-insensitive match, 0.3 for a substring, +0.2 when both reach 0.6, floor 0.2."""

    def part(a: str | None, b: str) -> float:
        a, b = (a or "").strip().casefold(), b.strip().casefold()
        if not a or not b:
            return 0.0
        return 0.4 if a == b else 0.3 if a in b or b in a else 0.0

    score = part(discogs_artist, row_artist) + part(discogs_album, row_album)
    if score >= 0.6:
        score += 0.2
    return round(min(1.0, max(0.2, score)), 2)


def res(library_item: dict[str, Any], artwork: dict[str, Any] | None) -> dict[str, Any]:
    return {"library_item": library_item, "artwork": artwork}


def _cache_stats(gen: str, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    hits = sum(1 for r in results if r.get("artwork"))
    stats: dict[str, Any] = {
        "memory_hits": 0,
        "pg_hits": hits,
        "pg_misses": len(results) - hits,
        "api_calls": 0,
        "pg_time_ms": 2.5 + len(results),
        "api_time_ms": 0.0,
    }
    if gen == "aug":
        stats |= {"breaker_open_skips": 0, "rowless_probes": 0}
    return stats


def aug_body(
    results: Sequence[dict[str, Any]],
    search_type: str | None = "direct",
    *,
    corrected_artist: str | None = None,
    timeout: bool = False,
    degraded: bool = False,
    degraded_reason: str | None = None,
    song_not_found: bool = False,
    found_on_compilation: bool = False,
    context_message: str | None = None,
) -> dict[str, Any]:
    """A LookupResponse of the production (LML-aug / api.yaml) generation."""
    body: dict[str, Any] = {
        "api_version": None,
        "results": list(results),
        "search_type": search_type,
        "song_not_found": song_not_found,
        "found_on_compilation": found_on_compilation,
        "context_message": context_message,
        "corrected_artist": corrected_artist,
        "cache_stats": _cache_stats("aug", results),
        "identity": None,
        "timeout": timeout,
        "degraded": degraded,
        "external_source": None,
    }
    if degraded:
        body["degraded_reason"] = degraded_reason
    if search_type is None:
        del body["search_type"]
    return body


def feb_body(
    results: Sequence[dict[str, Any]],
    search_type: str | None = "direct",
    *,
    corrected_artist: str | None = None,
    song_not_found: bool = False,
) -> dict[str, Any]:
    """A LookupResponse of the older LML-feb generation: no timeout/degraded flags."""
    body: dict[str, Any] = {
        "results": list(results),
        "search_type": search_type,
        "song_not_found": song_not_found,
        "found_on_compilation": False,
        "context_message": None,
        "corrected_artist": corrected_artist,
        "cache_stats": _cache_stats("feb", results),
    }
    if search_type is None:
        del body["search_type"]
    return body


def classify(body: dict[str, Any] | None) -> tuple[Classification, str]:
    """How the contract (§4) classifies a 200 body; the project's lml.py owns the real one."""
    if body is None:
        return Classification.ERROR, "no_body"
    if body.get("timeout") is True:
        return Classification.TRANSIENT, "timeout_flag"
    results = body.get("results") or []
    if not results:
        return Classification.NO_MATCH, "empty"
    if body.get("degraded") is True and not any(r.get("artwork") for r in results):
        reason = body.get("degraded_reason") or "unknown"
        if reason == "cache_only":
            return Classification.NO_MATCH, "cache_only_no_artwork"
        return Classification.TRANSIENT, f"degraded_{reason}"
    return Classification.MATCH, "results"


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    rows: tuple[ShelfRow, ...]
    body: dict[str, Any] | None
    expect: tuple[Band, ...]  # one per row
    cover_correct: tuple[bool | None, ...]  # one per row
    good_urls: tuple[frozenset[str], ...]  # one per row: offered URLs that are right
    classification: Classification | None  # None: the key was never asked
    reason: str
    generation: str
    note: str = ""
    tags: frozenset[str] = field(default_factory=frozenset)

    def answer(self) -> Answer | None:
        if self.classification is None:
            return None
        return Answer(
            key_id=self.name,
            endpoint="single",
            http_status=200 if self.body is not None else self.http_status(),
            classification=self.classification,
            reason=self.reason,
            body=self.body,
            attempt=1,
            latency_ms=120.0,
            requested_at=1_767_225_600.0,
            received_at=1_767_225_600.12,
        )

    def http_status(self) -> int | None:
        if self.reason.startswith("http_"):
            return int(self.reason.removeprefix("http_"))
        return None


_next_library_id = iter(range(40_001, 99_999))


def row(
    legacy_id: int,
    artist: str,
    album: str,
    fmt: str | None = "CD",
    discogs_artist_id: int | None = None,
) -> ShelfRow:
    return ShelfRow(next(_next_library_id), legacy_id, artist, album, fmt, discogs_artist_id)


def _per_row(value: Any, n: int) -> tuple[Any, ...]:
    if isinstance(value, tuple):
        assert len(value) == n, value
        return value
    return (value,) * n


def offered_urls(body: dict[str, Any] | None) -> list[str]:
    urls: list[str] = []
    for result in (body or {}).get("results") or []:
        artwork = result.get("artwork") or {}
        if artwork.get("artwork_url"):
            urls.append(artwork["artwork_url"])
    return urls


def make_case(
    name: str,
    rows: ShelfRow | Sequence[ShelfRow],
    body: dict[str, Any] | None,
    expect: Band | tuple[Band, ...],
    cover_correct: bool | tuple[bool | None, ...] | None,
    *,
    good: str | Iterable[str] | tuple[frozenset[str], ...] | None = None,
    classification: Classification | object | None = ...,
    reason: str | None = None,
    gen: str = "aug",
    note: str = "",
    tags: Iterable[str] = (),
) -> Case:
    row_tuple = (rows,) if isinstance(rows, ShelfRow) else tuple(rows)
    n = len(row_tuple)
    correct = _per_row(cover_correct, n)
    if good is None:
        distinct = list(dict.fromkeys(offered_urls(body)))
        default = frozenset(distinct[:1]) if len(distinct) == 1 else frozenset()
        good_urls = tuple(default if c else frozenset() for c in correct)
    elif isinstance(good, str):
        good_urls = (frozenset({good}),) * n
    elif isinstance(good, tuple) and good and isinstance(good[0], frozenset):
        good_urls = good  # type: ignore[assignment]
    else:
        good_urls = (frozenset(good),) * n  # type: ignore[arg-type]
    for c, urls in zip(correct, good_urls, strict=True):
        assert (c is True) == bool(urls), f"{name}: cover_correct {c} but good urls {urls}"
    if classification is ...:
        cls, why = classify(body)
    else:
        cls, why = classification, reason or ""  # type: ignore[assignment]
    return Case(
        name=name,
        rows=row_tuple,
        body=body,
        expect=_per_row(expect, n),
        cover_correct=correct,
        good_urls=good_urls,
        classification=cls,
        reason=reason or why,
        generation=gen,
        note=note,
        tags=frozenset(tags),
    )


# --------------------------------------------------------------------------------------------
# Rules to compare, and the arithmetic
# --------------------------------------------------------------------------------------------

Rule = Callable[[Case], list[str | None]]  # one URL (or None) to write per row


def _first_artwork_url(body: dict[str, Any] | None) -> str | None:
    results = (body or {}).get("results") or []
    if not results:
        return None
    url = (results[0].get("artwork") or {}).get("artwork_url")
    if not url or "spacer.gif" in url or len(url) > 512:  # a longer URL makes the UPDATE throw
        return None
    return url


def naive_first_rule(case: Case) -> list[str | None]:
    """The production job today: `results[0].artwork.artwork_url`, spacer.gif filtered."""
    return [_first_artwork_url(case.body)] * len(case.rows)


def wxyc_direct_rule(case: Case) -> list[str | None]:
    """BS's album-context gate: the naive rule, but only when `search_type == "direct"`."""
    if (case.body or {}).get("search_type") != "direct":
        return [None] * len(case.rows)
    return naive_first_rule(case)


def scorer_rule(case: Case) -> list[str | None]:
    """This tool: write only HIGH verdicts."""
    return [v.artwork_url if v.band is Band.HIGH else None for v in score_case(case)]


def score_case(case: Case) -> list[Verdict]:
    return score_key(case.rows, case.answer())


@dataclass(frozen=True)
class Tally:
    rows: int
    coverable: int  # rows whose body offers a right cover
    written: int
    correct: int
    wrong: int
    unknown: int  # written on a row nobody can judge (cover_correct None)
    wrong_cases: tuple[str, ...]

    @property
    def precision(self) -> float:
        judged = self.correct + self.wrong
        return self.correct / judged if judged else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.coverable if self.coverable else 0.0


def tally(cases: Sequence[Case], rule: Rule) -> Tally:
    rows = coverable = written = correct = wrong = unknown = 0
    wrong_cases: list[str] = []
    for case in cases:
        for url, truth, good in zip(rule(case), case.cover_correct, case.good_urls, strict=True):
            rows += 1
            coverable += truth is True
            if url is None:
                continue
            written += 1
            if url in good:
                correct += 1
            elif truth is None:
                unknown += 1
            else:
                wrong += 1
                wrong_cases.append(case.name)
    return Tally(
        rows, coverable, written, correct, wrong, unknown, tuple(dict.fromkeys(wrong_cases))
    )


RULES: dict[str, Rule] = {
    "artwork-backfill scorer (HIGH only)": scorer_rule,
    "WXYC direct-only rule (results[0], search_type == direct)": wxyc_direct_rule,
    "naive results[0] rule (production job today)": naive_first_rule,
}


def format_tallies(cases: Sequence[Case]) -> str:
    lines = [f"{len(cases)} cases, {sum(len(c.rows) for c in cases)} rows"]
    for name, rule in RULES.items():
        t = tally(cases, rule)
        lines.append(
            f"{name:<60} precision {t.precision:6.1%}  recall {t.recall:6.1%}  "
            f"written {t.written:3d}  right {t.correct:3d}  wrong {t.wrong:3d}  "
            f"unjudged {t.unknown:2d}"
        )
    return "\n".join(lines)
