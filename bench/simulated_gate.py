"""The trust gate on the simulator's real-format catalogs: wrong covers in HIGH, recall, and
what happens to every trap.

    uv run python bench/simulated_gate.py [--rows 30000] [--seed 0] [--generation aug feb]

For each LML generation it generates a catalog (ground truth per key), renders each key's
answer the way `resolve` would end up with it (single `/lookup`, `extended: true`, asked
again while the answer is transient, up to --asks times), classifies it with the client's
own rules, scores every row and applies the cross-key evidence, exactly as `report` does,
but in-process: no HTTP, no database, so a 30K catalog takes seconds.

It prints, per generation: rows per band, wrong covers in HIGH (the number that must be 0),
recall = right covers in HIGH / rows whose final answer offers their right cover, and the
outcome (high / review / reject / no_match / pending) per scenario.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from artwork_backfill.demo.simulator.catalog import Catalog, CatalogRow, generate_catalog
from artwork_backfill.demo.simulator.render import LookupContext, render_lookup
from artwork_backfill.judge.answers import classify_body
from artwork_backfill.judge.crosskey import KeyVerdicts, apply_cross_key_evidence
from artwork_backfill.judge.score import Band, ShelfRow, score_key
from artwork_backfill.model import Answer, Classification

BANDS = (Band.HIGH, Band.REVIEW, Band.REJECT, Band.NO_MATCH, Band.PENDING)


def _is_candidate(row: CatalogRow) -> bool:
    """The tool's own export filter (not the production job's: no Discogs id needed)."""
    return row.artwork_url is None and not row.discogs_unavailable and not row.is_blank


def final_answer(catalog: Catalog, key_id: str, generation: str, asks: int) -> Answer:
    truth = catalog.keys[key_id]
    ctx = LookupContext(generation=generation, bulk=False, extended=True)  # type: ignore[arg-type]
    legacy_ids = tuple(truth.legacy_release_ids)
    body: dict = {}
    cls, reason = Classification.TRANSIENT, "not_asked"
    for ask in range(asks):
        body = render_lookup(catalog, truth, ctx, ask)
        cls, reason = classify_body(body, legacy_ids)
        if cls.is_final:
            break
    return Answer(key_id, "single", 200, cls, reason, body, 1, 0.0, 0.0, 0.0)


def run(rows: int, seed: int, generation: str, asks: int) -> dict[str, object]:
    started = time.perf_counter()
    catalog = generate_catalog(rows, seed)
    generated = time.perf_counter() - started
    by_key: dict[str, list[CatalogRow]] = defaultdict(list)
    for row in catalog.rows:
        if _is_candidate(row):
            by_key[row.key_id].append(row)
    started = time.perf_counter()
    scored: list[KeyVerdicts] = []
    answers: dict[str, Answer] = {}
    for key_id, key_rows in by_key.items():
        answer = final_answer(catalog, key_id, generation, asks)
        answers[key_id] = answer
        shelf = [
            ShelfRow(
                r.library_id,
                r.legacy_release_id,
                r.artist_name,
                r.album_title,
                r.format_name,
                r.discogs_artist_id,
            )
            for r in key_rows
        ]
        scored.append(KeyVerdicts(key_id, shelf, score_key(shelf, answer)))
    judged = apply_cross_key_evidence(scored)
    scoring = time.perf_counter() - started

    bands: Counter[str] = Counter()
    per_scenario: dict[str, Counter[str]] = defaultdict(Counter)
    wrong_high: list[tuple[int, str, str]] = []
    right_high = offered_right = 0
    moved_by_cross_key = 0
    for kv, verdicts in zip(scored, judged, strict=True):
        truth = catalog.keys[kv.key_id]
        for before, verdict in zip(kv.verdicts, verdicts, strict=True):
            bands[verdict.band.value] += 1
            per_scenario[str(truth.scenario)][verdict.band.value] += 1
            if before.band is Band.HIGH and verdict.band is not Band.HIGH:
                moved_by_cross_key += 1
            offered = {
                (res.get("artwork") or {}).get("artwork_url")
                for res in (answers[kv.key_id].body or {}).get("results") or []
                if isinstance(res, dict)
            } - {None}
            if any(catalog.is_correct_cover(verdict.library_id, url) for url in offered):
                offered_right += 1
            if verdict.band is Band.HIGH:
                assert verdict.artwork_url is not None
                if catalog.is_correct_cover(verdict.library_id, verdict.artwork_url):
                    right_high += 1
                else:
                    wrong_high.append(
                        (verdict.library_id, str(truth.scenario), verdict.artwork_url)
                    )
    return {
        "generation": generation,
        "rows": sum(bands.values()),
        "keys": len(by_key),
        "bands": bands,
        "wrong_high": wrong_high,
        "right_high": right_high,
        "offered_right": offered_right,
        "moved_by_cross_key": moved_by_cross_key,
        "per_scenario": per_scenario,
        "generated_s": generated,
        "scoring_s": scoring,
    }


def report(result: dict[str, object]) -> None:
    bands: Counter[str] = result["bands"]  # type: ignore[assignment]
    wrong: list[tuple[int, str, str]] = result["wrong_high"]  # type: ignore[assignment]
    right, offered = int(result["right_high"]), int(result["offered_right"])  # type: ignore[call-overload]
    print(
        f"\nLML-{result['generation']}: {result['rows']:,} candidate rows, {result['keys']:,} keys "
        f"(generated in {result['generated_s']:.1f} s, scored in {result['scoring_s']:.1f} s)"
    )
    print("  bands: " + ", ".join(f"{b.value} {bands.get(b.value, 0):,}" for b in BANDS))
    print(f"  HIGH: {right + len(wrong):,} rows, {len(wrong)} wrong covers")
    print(
        f"  recall of offered right covers: {right:,} / {offered:,} = "
        f"{(right / offered if offered else 0):.2%}"
    )
    print(f"  rows moved from HIGH to REVIEW by cross-key evidence: {result['moved_by_cross_key']}")
    for library_id, scenario, url in wrong[:10]:
        print(f"    WRONG library_id={library_id} scenario={scenario} url={url}")
    per: dict[str, Counter[str]] = result["per_scenario"]  # type: ignore[assignment]
    print(f"  {'scenario':<28}" + "".join(f"{b.value:>10}" for b in BANDS))
    for scenario in sorted(per):
        counts = per[scenario]
        print(f"  {scenario:<28}" + "".join(f"{counts.get(b.value, 0):>10,}" for b in BANDS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--asks", type=int, default=4, help="asks of a transient key (default 4)")
    parser.add_argument("--generation", nargs="+", default=["aug", "feb"], choices=["aug", "feb"])
    args = parser.parse_args()
    failed = False
    for generation in args.generation:
        result = run(args.rows, args.seed, generation, args.asks)
        report(result)
        failed = failed or bool(result["wrong_high"])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
