"""How fast `report` is on a catalogue-sized cache, and how much memory it takes.

    uv run python bench/report_speed.py                    # 64K rows, one answer per key
    uv run python bench/report_speed.py --answers 1000000  # the same rows, 1M cached answers

It writes a cache through the Cache API (realistic LML bodies: direct covers, row-less
library misses, fallbacks, wrong-album artwork, spacer.gif, empty answers, shed tails,
timeouts, retries, keys never asked), then times the report in a fresh process: the match
table (`matches.match_table`: reading the cache and scoring), the statistics, the CSV export
and the review page. Peak memory is that process's ru_maxrss.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from artwork_backfill.cache.store import Cache  # noqa: E402
from artwork_backfill.judge.normalize import grouping_key  # noqa: E402
from artwork_backfill.model import (  # noqa: E402
    Answer,
    CandidateRow,
    Classification,
    LookupKey,
)
from tests._report_cache import artwork, body, library_item, result  # noqa: E402

C = Classification
WORDS = [
    "Amber",
    "Arctic",
    "Blue",
    "Broken",
    "Burning",
    "Cold",
    "Crimson",
    "Dark",
    "Deep",
    "Desert",
    "Electric",
    "Empty",
    "Faded",
    "Floating",
    "Frozen",
    "Ghost",
    "Glass",
    "Golden",
    "Green",
    "Heavy",
    "Hidden",
    "Hollow",
    "Iron",
    "Lonely",
    "Lost",
    "Midnight",
    "Neon",
    "Northern",
    "Quiet",
    "Radiant",
    "Red",
    "Restless",
    "Secret",
    "Silent",
    "Silver",
    "Slow",
    "Solar",
    "Static",
    "Strange",
    "Velvet",
    "Wild",
    "Anchor",
    "Bridge",
    "Canyon",
    "Castle",
    "Comet",
    "Crown",
    "Dream",
    "Echo",
    "Engine",
    "Falcon",
    "Garden",
    "Harbor",
    "Horizon",
    "Island",
    "Lantern",
    "Machine",
    "Mirror",
    "Moon",
    "Ocean",
    "Orbit",
    "Palace",
    "Planet",
    "Radio",
    "River",
    "Rocket",
    "Shadow",
    "Signal",
    "Station",
    "Storm",
    "Street",
    "Temple",
    "Thunder",
    "Tide",
    "Tower",
    "Valley",
    "Wave",
    "Window",
    "Winter",
    "Wolf",
]


def _name(r: random.Random, n: int) -> str:
    return " ".join(r.choice(WORDS) for _ in range(n))


def _scenario_body(
    r: random.Random, kind: str, legacy: int, artist: str, album: str
) -> tuple[C, str, dict[str, Any] | None, int | None]:
    rel = r.randrange(1_000_000, 30_000_000)
    if kind == "direct":
        return (
            C.MATCH,
            "results",
            body([result(library_item(legacy, artist, album), artwork(rel, artist, album))]),
            200,
        )
    if kind == "direct_edition":
        return (
            C.MATCH,
            "results",
            body(
                [
                    result(
                        library_item(legacy, artist, album),
                        artwork(rel, f"{artist} (2)", f"{album} (Deluxe Edition)", confidence=0.6),
                    )
                ]
            ),
            200,
        )
    if kind == "wrong_album":
        other = _name(r, 2)
        return (
            C.MATCH,
            "results",
            body(
                [
                    result(
                        library_item(legacy, artist, album),
                        artwork(rel, artist, other, confidence=0.4),
                    )
                ]
            ),
            200,
        )
    if kind == "rowless":
        return (
            C.MATCH,
            "results",
            body(
                [result(library_item(0, artist, album), artwork(rel, artist, album))], "alternative"
            ),
            200,
        )
    if kind == "fallback":
        other = f"{album} Volume 2"
        return (
            C.MATCH,
            "results",
            body(
                [
                    result(library_item(legacy + 1, artist, other), artwork(rel, artist, other)),
                    result(library_item(legacy + 2, artist, _name(r, 2)), None),
                ],
                "fallback",
                song_not_found=True,
            ),
            200,
        )
    if kind == "spacer":
        return (
            C.MATCH,
            "results",
            body(
                [
                    result(
                        library_item(legacy, artist, album),
                        artwork(rel, artist, album, url="https://s.discogs.com/images/spacer.gif"),
                    )
                ]
            ),
            200,
        )
    if kind == "empty":
        return C.NO_MATCH, "empty", body([], "alternative"), 200
    if kind == "degraded":
        return (
            C.TRANSIENT,
            "degraded_deadline_exceeded",
            body(
                [result(library_item(legacy, artist, album), None)],
                degraded=True,
                degraded_reason="deadline_exceeded",
            ),
            200,
        )
    if kind == "timeout":
        return C.TRANSIENT, "timeout_flag", body([], timeout=True), 200
    raise AssertionError(kind)


KINDS = [
    ("direct", 55),
    ("direct_edition", 8),
    ("wrong_album", 5),
    ("rowless", 8),
    ("fallback", 5),
    ("spacer", 2),
    ("empty", 10),
    ("degraded", 2),
    ("timeout", 2),
    ("not_asked", 3),
]


def build(path: Path, rows: int, answers: int, seed: int = 7) -> dict[str, int]:
    r = random.Random(seed)
    kinds = [k for k, w in KINDS for _ in range(w)]
    candidates: list[CandidateRow] = []
    keys: dict[str, LookupKey] = {}
    plans: list[tuple[str, str, int, str, str]] = []
    library_id = 0
    while len(candidates) < rows:
        artist, album = _name(r, r.choice((1, 2, 2, 3))), _name(r, r.choice((1, 2, 3, 4)))
        key = grouping_key(artist, album)
        if key in keys:
            continue
        keys[key] = LookupKey(key, artist, album)
        copies = 2 if r.random() < 0.013 else 1  # the CD and the LP of one album
        legacy = 100_000 + library_id
        for c in range(copies):
            library_id += 1
            candidates.append(
                CandidateRow(library_id, legacy + c, artist, album, ("cd", "vinyl")[c], True, key)
            )
        plans.append((key, r.choice(kinds), legacy, artist, album))
    now = time.time()
    with Cache(path) as cache:
        cache.bind_source("bench")
        run = cache.start_run("resolve", {"bench": True})
        cache.replace_candidates(run, candidates, keys.values())
        asked = [p for p in plans if p[1] != "not_asked"]
        extra = max(0, answers - len(asked))
        batch: list[Answer] = []
        written = 0

        def flush() -> None:
            nonlocal batch, written
            cache.append_answers(run, batch)
            written += len(batch)
            batch = []

        # Retries and superseded answers first (as a real history has them), then the finals.
        for i in range(extra):
            key, kind, legacy, artist, album = asked[i % len(asked)]
            if i % 3 == 0:
                cls, reason, b, status = _scenario_body(r, kind, legacy, artist, album)
                batch.append(Answer(key, "bulk", status, cls, reason, b, 1, 30.0, now, now))
            else:
                batch.append(
                    Answer(key, "single", 503, C.TRANSIENT, "http_503", None, 1, 30.0, now, now)
                )
            if len(batch) >= 20_000:
                flush()
        for key, kind, legacy, artist, album in asked:
            cls, reason, b, status = _scenario_body(r, kind, legacy, artist, album)
            batch.append(Answer(key, "single", status, cls, reason, b, 2, 30.0, now, now))
            if len(batch) >= 20_000:
                flush()
        flush()
        cache.finish_run(run, "finished", {})
    return {"rows": len(candidates), "keys": len(keys), "answers": written}


def measure(path: Path, out_dir: Path) -> dict[str, Any]:
    """The report, phase by phase, in this (fresh) process."""
    from artwork_backfill.review.matches import match_table
    from artwork_backfill.review.report import cache_info, compute_stats, export_matches, write_html

    timings: dict[str, float] = {}
    started = time.perf_counter()
    with Cache(path, read_only=True) as cache:
        t = time.perf_counter()
        table = match_table(cache)
        timings["match_table"] = time.perf_counter() - t
        t = time.perf_counter()
        stats = compute_stats(table, sample=5, cache_info=cache_info(cache))
        timings["stats"] = time.perf_counter() - t
    t = time.perf_counter()
    export_matches(table, out_dir / "matches.csv")
    timings["export_csv"] = time.perf_counter() - t
    t = time.perf_counter()
    write_html(table, stats, out_dir / "review.html")
    timings["html"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - started
    return {
        "rows": table.height,
        "bands": stats.bands,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "html_mb": round((out_dir / "review.html").stat().st_size / 1e6, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=64_000, help="library rows (default 64000)")
    parser.add_argument(
        "--answers",
        type=int,
        default=0,
        help="cached answers in all (default: one per asked key); extra ones are retries",
    )
    parser.add_argument("--cache", type=Path, help="keep the cache here (reused when it exists)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure N times in fresh processes, keep the fastest"
    )
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.measure:
        with tempfile.TemporaryDirectory() as out:
            print(json.dumps(measure(args.measure, Path(out))))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        path = args.cache or Path(tmp) / "bench.duckdb"
        if not path.exists():
            t = time.perf_counter()
            built = build(path, args.rows, args.answers)
            print(
                f"built {built['rows']} rows, {built['keys']} keys, {built['answers']} answers "
                f"in {time.perf_counter() - t:.1f}s ({path})",
                flush=True,
            )
        runs = []
        for _ in range(max(1, args.repeat)):
            proc = subprocess.run(
                [sys.executable, __file__, "--measure", str(path)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return proc.returncode
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        result = min(runs, key=lambda r: r["seconds"]["total"])
    s = result["seconds"]
    print(
        f"report over {result['rows']} rows: {s['total']:.2f}s "
        f"(match_table {s['match_table']:.2f}s, stats {s['stats']:.2f}s, "
        f"export {s['export_csv']:.2f}s, html {s['html']:.2f}s, page {result['html_mb']} MB)"
    )
    print(f"peak memory (ru_maxrss): {result['peak_rss_mb']} MB")
    print(f"bands: {result['bands']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
