"""Phase one: export the candidates, ask LML about every unanswered key once, keep every answer."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from artwork_backfill.cache.store import Cache
from artwork_backfill.config import DEFAULT_PARK_AFTER_RUNS, DbSettings, LmlSettings
from artwork_backfill.db import source_identity
from artwork_backfill.errors import LmlAuthError, LmlUnavailableError, UserError
from artwork_backfill.judge.score import ShelfRow, score_key
from artwork_backfill.model import Answer, CandidateRow
from artwork_backfill.resolve.candidates import export_candidates, keys_of
from artwork_backfill.resolve.lml import LmlClient
from artwork_backfill.stopping import StopFlag, stop_on_signals

ProgressCallback = Callable[[int, int, int, dict[str, int]], None]
"""(keys finished this run, keys to ask this run, HTTP requests so far, rows per band of the
keys finished this run, as scored so far: provisional, see `FoundSoFar`)."""


@dataclass
class ResolveResult:
    run_id: str
    status: str  # "completed" | "interrupted"
    candidates: int
    keys: int
    asked: int  # keys this run asked about
    requests: int  # HTTP requests this run sent (retries included)
    final: int  # keys of the snapshot with a final answer after this run
    transient: int  # keys asked but still without a final answer (transient or error)
    not_asked: int  # keys never asked yet (e.g. held back by --limit)
    answers: int  # answers stored this run
    answer_batches: int = 0  # transactions that stored them (group commit: several requests each)
    bulk_unavailable: bool = False
    elapsed_s: float = 0.0
    requests_per_min: float = 0.0
    transient_reasons: dict[str, int] = field(default_factory=dict)
    parked: int = 0  # keys parked after --park-after-runs runs without a final answer
    parked_reasons: dict[str, int] = field(default_factory=dict)
    found: dict[str, int] = field(
        default_factory=dict
    )  # rows per band of the keys finished this run
    live_publishes: int = 0  # copies published for readers (see LivePublisher)
    live_publish_s: float = 0.0  # writer time they took
    slowdowns: int = 0  # times LML's pushback (429, 5xx, failures) slowed the whole pace
    max_interval_s: float = 0.0  # the slowest pace reached, seconds between requests
    command: str = "resolve"  # or "audit": the run asked about the audit's filled rows

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary_line(self) -> str:
        """The run in one line, for the end of a long run's output."""
        found = " ".join(f"{b} {n}" for b, n in self.found.items() if n)
        minutes, seconds = divmod(int(self.elapsed_s), 60)
        hours, minutes = divmod(minutes, 60)
        took = f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
        return (
            f"{self.command} {self.status}: asked {self.asked} keys with {self.requests} requests in "
            f"{took}; {self.final} of {self.keys} keys answered for good, {self.transient} "
            f"pending, {self.not_asked} not asked, {self.parked} parked"
            + (f"; this run found (rows) {found}" if found else "")
        )


def run_resolve(
    cache: Cache,
    db: DbSettings,
    lml: LmlSettings,
    *,
    only_discogs_artists: bool = False,
    limit: int | None = None,
    recheck_no_match_days: float | None = None,
    park_after_runs: int | None = DEFAULT_PARK_AFTER_RUNS,
    retry_parked: bool = False,
    progress: ProgressCallback | None = None,
    on_start: Callable[[int, int, int], None] | None = None,
    stop: StopFlag | None = None,
    audit: bool = False,
    lookup: bool = True,
) -> ResolveResult:
    """Ask about every key without a final answer; SIGINT/SIGTERM stop it cleanly.

    With `audit`, the rows are the catalog's filled ones (their current `artwork_url`), kept
    as the audit snapshot; their keys are asked the same way, and a key already answered
    (by resolve or an earlier audit) is never asked again. `lookup=False` asks nothing: the
    snapshot is taken, and the audit judges what the URLs and the cache already say.

    While LML is being asked, SIGINT and SIGTERM set `stop` (see `artwork_backfill.stopping`):
    the answers received so far are stored, the run is recorded as `interrupted`, and a re-run
    asks only what has no final answer yet.

    A key that `park_after_runs` completed runs asked without a final answer (errors,
    timeouts) is parked: not asked again unless `retry_parked` (None: never parked).
    """
    identity = source_identity(db)
    cache.check_source(identity, legacy=db.identity)
    rows = export_candidates(db, only_discogs_artists=only_discogs_artists, filled=audit)
    snapshot = "audit_rows" if audit else "candidates"
    command = "audit" if audit else "resolve"
    keys = keys_of(rows)
    cache.bind_source(identity, legacy=db.identity)
    settings = {
        "lml": lml.display,
        "rate_per_min": lml.rate_per_min,
        "concurrency": lml.concurrency,
        "only_discogs_artists": only_discogs_artists,
        "limit": limit,
        "recheck_no_match_days": recheck_no_match_days,
        "park_after_runs": park_after_runs,
        "retry_parked": retry_parked,
        "lookup": lookup,
        "database": db.display,
    }
    run_id = cache.start_run(command, settings)
    # a subset's export adds to the snapshot and never shrinks it (apply plans from it)
    cache.replace_candidates(run_id, rows, keys, partial=only_discogs_artists, snapshot=snapshot)
    cutoff = (
        datetime.now(UTC) - timedelta(days=recheck_no_match_days)
        if recheck_no_match_days is not None
        else None
    )
    to_ask = cache.keys_to_ask(
        single_followup=lml.single_followup,
        limit=0 if not lookup else limit,
        no_match_asked_before=cutoff,
        park_after_runs=park_after_runs,
        retry_parked=retry_parked,
        snapshot=snapshot,
    )
    single_only = cache.bulk_final_keys() & {k.key_id for k in to_ask}
    if on_start:
        on_start(len(rows), len(keys), len(to_ask))

    # an answer LML echoes our DB password in (an error page) is stored redacted
    lml = replace(lml, other_secrets=(*lml.other_secrets, *([db.password] if db.password else [])))
    client = LmlClient(lml)
    finished = 0
    stored = 0
    batches = 0
    writer = cache.cursor()  # the writer thread's own DuckDB cursor
    live = LivePublisher(writer)
    live.publish(force=True)  # readers see the snapshot from the start

    found = FoundSoFar(rows)

    def sink(answers: list[Answer], done: list[str]) -> None:
        nonlocal finished, stored, batches
        writer.append_answers(run_id, answers)
        live.publish()
        stored += len(answers)
        batches += 1
        finished += len(done)
        found.add(answers, done)
        if progress:
            progress(finished, len(to_ask), client.stats.requests, found.bands())

    started = time.monotonic()
    flag = stop if stop is not None else StopFlag()
    try:
        with stop_on_signals(flag):
            asyncio.run(client.resolve(to_ask, sink, single_only=single_only, stop=flag))
    except LmlAuthError:
        _record_end(cache, run_id, "auth_failed", client)
        raise
    except LmlUnavailableError:
        _record_end(cache, run_id, "lml_unavailable", client)
        raise
    except BaseException:
        _record_end(cache, run_id, "failed", client)
        raise
    finally:
        live.close()
        writer.close()
    elapsed = time.monotonic() - started
    status = "interrupted" if flag.is_set else "completed"
    result = summarize(
        cache, run_id, status, asked=len(to_ask), requests=client.stats.requests, snapshot=snapshot
    )
    result.command = command
    result.answers = stored
    result.answer_batches = batches
    result.bulk_unavailable = client.stats.bulk_unavailable
    result.elapsed_s = round(elapsed, 3)
    result.requests_per_min = round(client.stats.requests / elapsed * 60, 2) if elapsed > 0 else 0.0
    result.found = found.bands()
    result.live_publishes = live.publishes
    result.live_publish_s = round(live.seconds, 3)
    result.slowdowns = client.stats.slowdowns
    result.max_interval_s = client.stats.max_interval_s
    cache.finish_run(run_id, status, result.to_json())
    if park_after_runs is not None:  # counted after this run is recorded: it may park keys
        parked = cache.parked(park_after_runs)
        result.parked = parked.height
        result.parked_reasons = _count(parked["reason"].to_list())
    return result


class FoundSoFar:
    """What the keys finished this run found, in rows per band, for the progress line.

    Each finished key's answer is scored as `report` scores it, without the evidence only
    the whole cache gives (covers shared across keys): a provisional count, which `report`
    settles. Scoring one key takes well under a millisecond, beside seconds between requests.
    """

    def __init__(self, rows: Sequence[CandidateRow]) -> None:
        self._shelf: dict[str, list[ShelfRow]] = {}
        for r in rows:
            self._shelf.setdefault(r.key_id, []).append(
                ShelfRow(
                    library_id=r.library_id,
                    legacy_release_id=r.legacy_release_id,
                    artist_name=r.artist_name,
                    album_title=r.album_title,
                    format_name=r.format_name,
                    discogs_artist_id=r.discogs_artist_id,
                )
            )
        self._bands: dict[str, list[str]] = {}

    def add(self, answers: Sequence[Answer], done: Sequence[str]) -> None:
        finished = set(done)
        for a in answers:  # the last answer of a finished key is the one it finished with
            if a.key_id in finished:
                verdicts = score_key(self._shelf.get(a.key_id, []), a)
                self._bands[a.key_id] = [str(v.band) for v in verdicts]

    def bands(self) -> dict[str, int]:
        counts = dict.fromkeys(("high", "review", "reject", "no_match", "pending"), 0)
        for bands in self._bands.values():
            for band in bands:
                counts[band] = counts.get(band, 0) + 1
        return counts


class LivePublisher:
    """Publishes the answers so far for readers while resolve holds the cache
    (`Cache.publish_live`): at most every `ARTWORK_BACKFILL_LIVE_PUBLISH_S` seconds (default
    10), and never more often than 20 times the last publish took, so it costs the writer
    at most about 5% of its time. A publish that fails (a full disk) turns publishing off
    for the run and never fails the run: the cache itself is what matters."""

    def __init__(self, cache: Cache) -> None:
        self._cache = cache
        self.interval = _live_interval()
        self._next = 0.0
        self.publishes = 0
        self.seconds = 0.0  # spent publishing (for the benchmarks)
        self._broken = self.interval <= 0

    def publish(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._broken or (not force and now < self._next):
            return
        try:
            done = self._cache.publish_live()
        except UserError:
            self._broken = True
            with suppress(Exception):
                self._cache.remove_live()
            return
        took = time.monotonic() - now
        self.seconds += took
        self.publishes += int(done)
        self._next = time.monotonic() + max(self.interval, 20 * took)

    def close(self) -> None:
        with suppress(Exception):
            self._cache.remove_live()


def _live_interval() -> float:
    raw = os.environ.get("ARTWORK_BACKFILL_LIVE_PUBLISH_S", "10")
    try:
        return float(raw)
    except ValueError:
        raise UserError(
            f"ARTWORK_BACKFILL_LIVE_PUBLISH_S={raw!r} is not a number of seconds "
            "(0 turns publishing off)"
        ) from None


def _record_end(cache: Cache, run_id: str, status: str, client: LmlClient) -> None:
    """Record how a failed run ended; never hide the failure (a full disk fails this too)."""
    with suppress(Exception):
        cache.finish_run(run_id, status, {"requests": client.stats.requests})


def _count(values: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[str(v)] = counts.get(str(v), 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def summarize(
    cache: Cache,
    run_id: str,
    status: str,
    *,
    asked: int,
    requests: int,
    snapshot: str = "candidates",
) -> ResolveResult:
    states = cache.key_states(snapshot)
    candidates, keys = states.height, states.height
    if snapshot == "candidates":
        candidates, keys = cache.candidate_count()
    else:
        rows = cache.audit_rows()
        candidates, keys = rows.height, rows["key_id"].n_unique()
    classes = states["classification"].to_list()
    reasons = states["reason"].to_list()
    final = sum(1 for c in classes if c in ("match", "no_match"))
    pending = [(c, r) for c, r in zip(classes, reasons, strict=True) if c in ("transient", "error")]
    transient_reasons: dict[str, int] = {}
    for _c, r in pending:
        transient_reasons[r] = transient_reasons.get(r, 0) + 1
    return ResolveResult(
        run_id=run_id,
        status=status,
        candidates=candidates,
        keys=keys,
        asked=asked,
        requests=requests,
        final=final,
        transient=len(pending),
        not_asked=sum(1 for c in classes if c is None),
        answers=0,
        transient_reasons=transient_reasons,
    )
