"""Precision and recall of the scorer vs WXYC's rules on the labelled cases, and its speed.

    uv run python bench/labelled_recall.py [--rows 64000] [--repeat 3]

Part 1 scores every labelled case (tests/cases) three ways: this tool's HIGH band, WXYC's
album-context rule (`results[0]` when `search_type == "direct"`, spacer.gif filtered) and
the production job's rule (`results[0]`, spacer.gif filtered, no gate). The case set is
trap-heavy by design, so its recall is not the catalogue's; its precision is the point.

Part 2 times `score_key` over a synthetic catalogue shaped like WXYC's (distinct keys, 1.3%
of them with a second format row, 8% V/A credits, 7% "The ...", bracketed notes, format
suffixes, a little mojibake) with LML answers of every kind, cold (empty caches) and warm.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from artwork_backfill.judge.score import Band, ShelfRow, clear_caches, score_key
from artwork_backfill.model import Answer, Classification
from tests.cases import art, aug_body, feb_body, format_tallies, item, res
from tests.cases.labelled import CASES

WORDS = (
    "blue", "moon", "night", "sound", "silver", "dream", "city", "fire", "river", "glass",
    "ghost", "garden", "machine", "heart", "light", "echo", "paper", "summer", "winter",
    "radio", "tiger", "velvet", "electric", "golden", "secret", "ocean", "shadow", "mirror",
    "season", "island", "tokyo", "desert", "forest", "crystal", "stone", "empire",
)  # fmt: skip
VA = ["Various Artists - Rock - R", "Various Artists - Hiphop", "Various Artists - OCS", "various"]
NOTES = ["", "", "", "", "", "", "", "", " (Deluxe Edition)", " [Remastered]", ' 12"', " LP"]
MOJIBAKE = {"é": "√©", "á": "√°", "ê": "√™", "ü": "√º"}


def _title(rng: random.Random, i: int) -> str:
    words = " ".join(rng.choice(WORDS).title() for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.05:
        words += f" Vol. {rng.randint(1, 4)}"
    if rng.random() < 0.01:
        words += " Café"
    return f"{words} {i}{rng.choice(NOTES)}"


def _artist(rng: random.Random, i: int) -> str:
    if rng.random() < 0.08:
        return rng.choice(VA)
    name = " ".join(rng.choice(WORDS).title() for _ in range(rng.randint(1, 3))) + f" {i % 997}"
    return f"The {name}" if rng.random() < 0.07 else name


def _answer(body: dict | None, classification: Classification, reason: str) -> Answer:
    return Answer("k", "bulk", 200, classification, reason, body, 1, 50.0, 0.0, 0.05)


def synthetic_catalogue(n_rows: int, seed: int = 7) -> list[tuple[list[ShelfRow], Answer]]:
    rng = random.Random(seed)
    keys: list[tuple[list[ShelfRow], Answer]] = []
    library_id, legacy = 1, 100_000
    release = 6_000_000
    while library_id <= n_rows:
        artist, album = _artist(rng, library_id), _title(rng, library_id)
        shelf_album = album
        if "é" in album and rng.random() < 0.5:
            shelf_album = "".join(MOJIBAKE.get(ch, ch) for ch in album)
        rows = [ShelfRow(library_id, legacy, artist, shelf_album, "CD")]
        library_id, legacy = library_id + 1, legacy + 1
        if rng.random() < 0.013:
            rows.append(ShelfRow(library_id, legacy, artist, shelf_album, "Vinyl"))
            library_id, legacy = library_id + 1, legacy + 1
        discogs_artist = "Various" if artist in VA else artist
        discogs_album = album.replace(' 12"', "").replace(" LP", "")
        gen = "aug" if rng.random() < 0.8 else "feb"
        make_body = aug_body if gen == "aug" else feb_body
        own = item(rows[0].legacy_release_id, shelf_album, artist, gen=gen)
        others = [
            res(item(legacy + 50_000 + k, f"Other {k}", artist, gen=gen),
                art(release + 500_000 + k, f"Other {k}", discogs_artist, gen=gen))
            for k in range(rng.randint(0, 3))
        ]  # fmt: skip
        release += 1
        roll = rng.random()
        if roll < 0.55:  # direct, our row, right cover (sometimes behind another album)
            ours = res(own, art(release, discogs_album, discogs_artist, gen=gen))
            answer = _answer(
                make_body([*others[:1], ours, *others[1:]]), Classification.MATCH, "results"
            )
        elif roll < 0.65:  # feb: our row, the artist's other album's cover
            ours = res(
                own, art(release, "Something Else", discogs_artist, confidence=0.4, gen="feb")
            )
            answer = _answer(feb_body([ours, *others]), Classification.MATCH, "results")
        elif roll < 0.72:  # alternative substitution
            answer = _answer(
                make_body(
                    others or [res(item(legacy + 90_000, "X", artist), art(release, "X", artist))],
                    "alternative",
                ),
                Classification.MATCH,
                "results",
            )
        elif roll < 0.75:  # row-less library miss
            rowless = res(item(0, album, artist), art(release, discogs_album, discogs_artist))
            answer = _answer(aug_body([rowless], "alternative"), Classification.MATCH, "results")
        elif roll < 0.78:  # spacer
            ours = res(
                own,
                art(
                    release,
                    discogs_album,
                    discogs_artist,
                    url="https://s.discogs.com/images/spacer.gif",
                    gen=gen,
                ),
            )
            answer = _answer(make_body([ours]), Classification.MATCH, "results")
        elif roll < 0.90:
            answer = _answer(make_body([], "alternative"), Classification.NO_MATCH, "empty")
        else:
            answer = _answer(None, Classification.TRANSIENT, "http_503")
        keys.append((rows, answer))
    return keys


def time_scoring(keys: list[tuple[list[ShelfRow], Answer]], repeat: int) -> None:
    n_rows = sum(len(rows) for rows, _ in keys)
    # The answers are loaded once and live for the whole pass: take them out of the cyclic
    # collector's generations, as a caller scoring a whole cache should (gc.freeze), so the
    # timing is the scorer's and not the collector rescanning 64K answer bodies.
    gc.collect()
    gc.freeze()
    clear_caches()
    started = time.perf_counter()
    verdicts = [v for rows, answer in keys for v in score_key(rows, answer)]
    cold = time.perf_counter() - started
    warm = []
    for _ in range(repeat):
        started = time.perf_counter()
        for rows, answer in keys:
            score_key(rows, answer)
        warm.append(time.perf_counter() - started)
    bands = Counter(v.band.value for v in verdicts)
    print(f"\nscore_key over {n_rows:,} rows ({len(keys):,} keys)")
    gc.unfreeze()
    print(f"  cold (empty caches): {cold:6.2f} s  = {cold / n_rows * 1e6:5.1f} us/row")
    print(
        f"  warm (best of {repeat}):   {min(warm):6.2f} s  = {min(warm) / n_rows * 1e6:5.1f} us/row"
    )
    print("  bands: " + ", ".join(f"{b.value} {bands.get(b.value, 0):,}" for b in Band))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("Labelled cases (tests/cases): precision = right / (right + wrong) among covers written;")
    print("recall = right covers written / rows whose answer offers a right cover\n")
    print(format_tallies(CASES))
    time_scoring(synthetic_catalogue(args.rows), args.repeat)


if __name__ == "__main__":
    main()
