"""The LML client: the only module that imports httpx.

It asks LML about lookup keys (bulk first where the server has it), paces HTTP requests
evenly at the configured rate with a bounded number in flight, retries transient failures
with exponential backoff and jitter, and classifies every answer as final (match, no_match)
or not (transient, error) per LML's contract. The rules themselves (`classify_body`,
`classify_bulk_item`) are pure and live in `judge.answers`, so the cache can re-judge stored answers
with them. Every answer, including each failed attempt, is handed to the caller as it
arrives so it can be stored before the next one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import gc
import json
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx

from artwork_backfill import __version__
from artwork_backfill.config import CALLER_REASON, LmlSettings
from artwork_backfill.errors import LmlAuthError, LmlUnavailableError
from artwork_backfill.judge.answers import body_has_artwork, classify_body, classify_bulk_item
from artwork_backfill.model import Answer, Classification, LookupKey
from artwork_backfill.stopping import StopFlag

T = Classification
STOP_GRACE_S = 30.0  # how long a stop waits for requests already sent to LML


# -- requests ------------------------------------------------------------------------------


def request_body(key: LookupKey, *, extended: bool = True) -> dict[str, Any]:
    """An album-context lookup: artist, album, and BS's raw_message; never song/warm_cache."""
    raw = " - ".join(part for part in (key.artist, key.album) if part)
    return {"artist": key.artist, "album": key.album, "raw_message": raw, "extended": extended}


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# -- pacing --------------------------------------------------------------------------------


class Pacer:
    """Spaces sends at least `interval` seconds apart: no bursts, never above the rate.

    Each send is released only when the previous one was released at least one interval ago,
    measured when it is released. A stalled event loop (a loaded machine, a long garbage
    collection) makes the next send later, never two sends closer together, so any half-open
    60-second window holds at most `rate_per_min` sends. `wait()` returns the release time on
    `clock`, which the client records as the request's send time.

    Pushback from LML (a 429, a 5xx, a connection failure) slows the pace for every worker,
    not just the one retry: `slow_down()` doubles the interval (at most `MAX_SLOWDOWN` times
    the configured one) and holds every send until a server's Retry-After has passed;
    `recover()`, called on each good answer, halves it back towards the configured interval.
    """

    MAX_SLOWDOWN = 16.0

    def __init__(
        self,
        rate_per_min: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.base_interval = 60.0 / rate_per_min
        self.interval = self.base_interval
        self.slowdowns = 0  # times the pace slowed (for the run's summary)
        self.max_interval = self.interval
        self._clock = clock
        self._sleep = sleep
        self._last: float | None = None
        self._not_before = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> float:
        async with self._lock:  # one waiter at a time: the others queue behind it
            while True:
                due = self._not_before
                if self._last is not None:
                    due = max(due, self._last + self.interval)
                delay = due - self._clock()
                if delay <= 0:
                    break
                await self._sleep(delay)
            self._last = self._clock()
            return self._last

    def slow_down(self, retry_after: float | None = None) -> None:
        """LML pushed back: every worker's next send waits longer."""
        self.slowdowns += 1
        self.interval = min(self.base_interval * self.MAX_SLOWDOWN, self.interval * 2)
        self.max_interval = max(self.max_interval, self.interval)
        if retry_after is not None and retry_after > 0:
            self._not_before = max(self._not_before, self._clock() + min(retry_after, 600.0))

    def recover(self) -> None:
        """A good answer: back towards the configured pace."""
        if self.interval > self.base_interval:
            self.interval = max(self.base_interval, self.interval / 2)


# -- the client ----------------------------------------------------------------------------


@dataclass
class _Unit:
    keys: list[LookupKey]
    endpoint: str  # "bulk" | "single"
    attempt: int


@dataclass
class ResolveStats:
    requests: int = 0
    bulk_requests: int = 0
    single_requests: int = 0
    answers: int = 0
    bulk_unavailable: bool = False
    retries: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    slowdowns: int = 0  # times LML's pushback slowed the whole pace
    max_interval_s: float = 0.0  # the slowest pace of the run, seconds between sends


AnswerSink = Callable[[list[Answer], list[str]], None]
"""Stores answers (and counts the keys they finished); called from the writer thread."""


class GroupWriter:
    """Stores answers in one writer thread, with group commit.

    A worker hands over its request's answers and waits until they are stored before it
    takes more work, so a kill -9 loses at most the requests in flight. Answers that arrive
    while a write is running are stored together in the next one: one transaction (one
    INSERT) for all of them, never one per row, and the event loop keeps pacing meanwhile.
    """

    def __init__(self, sink: AnswerSink) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._pending: list[tuple[list[Answer], list[str], asyncio.Future[None]]] = []
        self._draining = False
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="cache-writer"
        )
        self.writes = 0  # transactions, for the benchmarks

    async def write(self, answers: list[Answer], done: list[str]) -> None:
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._pending.append((answers, done, stored))
            start = not self._draining
            self._draining = True
        if start:
            self._executor.submit(self._drain, loop)
        await stored

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            with self._lock:
                batch, self._pending = self._pending, []
                if not batch:
                    self._draining = False
                    return
            error: BaseException | None = None
            try:
                self._sink([a for b in batch for a in b[0]], [k for b in batch for k in b[1]])
                self.writes += 1
            except BaseException as exc:  # reported to every waiting worker
                error = exc
            for _, _, stored in batch:
                loop.call_soon_threadsafe(_settle, stored, error)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the worker was cancelled meanwhile
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class LmlClient:
    def __init__(
        self, settings: LmlSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self._transport = transport
        self.stats = ResolveStats()
        self._bulk_available = settings.use_bulk
        self._rng = random.Random()
        self._writer: GroupWriter | None = None
        self._consecutive_failures = 0
        self._in_flight: set[asyncio.Task[None]] = set()
        self._wall_at_start, self._mono_at_start = time.time(), time.monotonic()
        self._timed_out: set[str] = set()  # keys LML answered `timeout: true` (no budget header)
        self._secrets = tuple(
            x for x in (settings.api_key, *settings.other_secrets) if x and len(x) >= 4
        )

    def _headers(self) -> dict[str, str]:
        """Headers every request carries (single and bulk)."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"artwork-backfill/{__version__}",
            "X-Caller-Class": "5",
            "X-Caller-Reason": CALLER_REASON,
        }
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        return headers

    def _request_headers(self, unit: _Unit) -> dict[str, str]:
        """Headers of one request on top of `_headers()`.

        `X-Caller-Budget-Ms` goes on single /lookup only: on bulk it arms LML's deadline shed,
        and WXYC measured 12-25% of albums shed (`degraded`) with it, none without (§5.5).
        A key LML answered `timeout: true` before (this run or an earlier one) is asked without
        it: the budget turns on LML's early give-up, so a slow first lookup would never get
        LML's full search (contract §4, "budgetMs: null").
        """
        if unit.endpoint == "single":
            key = unit.keys[0]
            if not (key.timed_out or key.key_id in self._timed_out):
                return {"X-Caller-Budget-Ms": str(self.settings.budget_ms)}
        return {}

    def _error_excerpt(self, response: httpx.Response) -> dict[str, Any]:
        return _excerpt(response, self._secrets)

    def _redact_text(self, text: str) -> str:
        return redact_text(text, self._secrets)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with jitter; a server's Retry-After is a floor."""
        s = self.settings
        base = min(s.backoff_max_s, s.backoff_base_s * (2 ** max(0, attempt - 1)))
        delay = base * self._rng.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, 600.0))
        return delay

    async def resolve(
        self,
        keys: Sequence[LookupKey],
        sink: AnswerSink,
        *,
        single_only: set[str] | frozenset[str] = frozenset(),
        stop: StopFlag | None = None,
    ) -> ResolveStats:
        """Ask LML about every key; returns when each is final, an error, or out of attempts.

        Returns early when `stop` is set: no new request starts, the requests already sent
        get up to `STOP_GRACE_S` (at most the request timeout) to answer, and every answer is
        stored before this returns: LML's work for them is not thrown away, and a re-run asks
        them nothing again. A request still out after the grace is abandoned (a re-run asks it).
        """
        s = self.settings
        pacer = Pacer(s.rate_per_min)
        queue: asyncio.Queue[_Unit] = asyncio.Queue()
        outstanding = 0
        idle = asyncio.Event()
        fatal: list[BaseException] = []
        loop = asyncio.get_running_loop()
        timers: list[asyncio.TimerHandle] = []

        def submit(unit: _Unit, delay: float = 0.0) -> None:
            nonlocal outstanding
            outstanding += 1
            idle.clear()
            if delay > 0:
                timers.append(loop.call_later(delay, queue.put_nowait, unit))
            else:
                queue.put_nowait(unit)

        bulk_keys = [k for k in keys if k.key_id not in single_only]
        for k in keys:
            if k.key_id in single_only or not self._bulk_available:
                submit(_Unit([k], "single", 1))
        if self._bulk_available:
            for i in range(0, len(bulk_keys), s.bulk_size):
                submit(_Unit(bulk_keys[i : i + s.bulk_size], "bulk", 1))
        if outstanding == 0:
            return self.stats

        await _load_network_backend()
        self._writer = GroupWriter(sink)
        async with httpx.AsyncClient(
            base_url=s.base_url,
            headers=self._headers(),
            transport=self._transport,
            limits=httpx.Limits(
                max_connections=s.concurrency, max_keepalive_connections=s.concurrency
            ),
            follow_redirects=False,
        ) as http:
            draining = False
            in_flight: set[asyncio.Task[None]] = set()
            self._in_flight = in_flight

            async def worker() -> None:
                nonlocal outstanding
                while not draining:
                    unit = await queue.get()
                    if draining:
                        return
                    try:
                        await self._process(http, pacer, unit, submit, sink)
                    except asyncio.CancelledError:  # stopped: the request in flight is dropped
                        raise
                    except BaseException as exc:  # auth failure or a bug: stop everything
                        fatal.append(exc)
                        idle.set()
                        raise
                    finally:
                        in_flight.discard(asyncio.current_task())
                        outstanding -= 1
                        if outstanding == 0:
                            idle.set()

            # What is alive now (modules, the candidate snapshot) lives until the run ends. A
            # full pass of the cyclic collector over it stalls the event loop for tens of ms (on
            # a cold start more), long enough to send two paced requests at once: leave it out
            # of the collector's passes for the run.
            gc.collect()
            gc.freeze()
            workers = [asyncio.create_task(worker()) for _ in range(s.concurrency)]
            stopped = asyncio.Event()

            def wake() -> None:  # may run in a signal handler: only hand the news to the loop
                with suppress(RuntimeError):  # the loop is closed: nothing left to stop
                    loop.call_soon_threadsafe(stopped.set)

            waits = [asyncio.create_task(idle.wait()), asyncio.create_task(stopped.wait())]
            try:
                with stop.listening(wake) if stop is not None else nullcontext():
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
                for t in timers:
                    t.cancel()
                draining = True
                if stopped.is_set() and not fatal:
                    # Stopped: requests not yet sent are dropped, the ones LML is working on
                    # are waited for (bounded), so their answers are stored, not asked again.
                    for w in workers:
                        if w not in in_flight:
                            w.cancel()
                    if in_flight:
                        await asyncio.wait(
                            set(in_flight), timeout=min(STOP_GRACE_S, self.settings.timeout_s)
                        )
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                self._writer.close()
                gc.unfreeze()
        if fatal:
            raise fatal[0]
        return self.stats

    async def _send(
        self, http: httpx.AsyncClient, pacer: Pacer, unit: _Unit
    ) -> tuple[httpx.Response | None, str | None, float, float]:
        """One HTTP request, paced. Returns (response, transport_failure_reason, requested_at, ms)."""
        released = await pacer.wait()
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)  # sent from here on: a stop waits for its answer
        self.stats.requests += 1
        if unit.endpoint == "bulk":
            self.stats.bulk_requests += 1
            path = "/api/v1/lookup/bulk"
            payload: dict[str, Any] = {"items": [request_body(k) for k in unit.keys]}
            # BS's bulk budget (5 s an item + 5 s, under the edge's ~5 min ceiling), scaled by
            # how the configured single timeout compares with the class-5 default of 29 s.
            timeout = min(300.0, (5.0 * len(unit.keys) + 5.0) * self.settings.timeout_s / 29.0)
        else:
            self.stats.single_requests += 1
            path = "/api/v1/lookup"
            payload = request_body(unit.keys[0])
            timeout = self.settings.timeout_s
        # the send time is the pacer's release, on the wall clock
        requested_at = self._wall_at_start + (released - self._mono_at_start)
        t0 = time.perf_counter()
        try:
            # httpx's timeout bounds each read; the deadline bounds the whole exchange, so a
            # body dripped a byte at a time cannot hold a worker past it.
            async with asyncio.timeout(timeout):
                response = await http.post(
                    path,
                    content=json.dumps(payload),
                    headers=self._request_headers(unit),
                    timeout=timeout,
                )
                await response.aread()
        except (httpx.TimeoutException, TimeoutError):
            return None, "client_timeout", requested_at, (time.perf_counter() - t0) * 1000
        except httpx.TransportError as exc:
            return (
                None,
                f"connection_error:{type(exc).__name__}",
                requested_at,
                (time.perf_counter() - t0) * 1000,
            )
        ms = (time.perf_counter() - t0) * 1000
        code = str(response.status_code)
        self.stats.status_counts[code] = self.stats.status_counts.get(code, 0) + 1
        return response, None, requested_at, ms

    async def _process(
        self,
        http: httpx.AsyncClient,
        pacer: Pacer,
        unit: _Unit,
        submit: Callable[[_Unit, float], None],
        sink: AnswerSink,
    ) -> None:
        if unit.endpoint == "bulk" and not self._bulk_available:
            for k in unit.keys:
                submit(_Unit([k], "single", unit.attempt), 0.0)
            return
        response, failure, requested_at, ms = await self._send(http, pacer, unit)
        received_at = time.time()
        status = None if response is None else response.status_code
        retry_after = (
            None if response is None else retry_after_seconds(response.headers.get("Retry-After"))
        )

        def answer(
            key: LookupKey, cls: Classification, reason: str, body: dict[str, Any] | None
        ) -> Answer:
            return Answer(
                key_id=key.key_id,
                endpoint=unit.endpoint,
                http_status=status,
                classification=cls,
                reason=reason,
                body=body,
                attempt=unit.attempt,
                latency_ms=ms,
                requested_at=requested_at,
                received_at=received_at,
            )

        if response is not None and status in (401, 403):
            raise LmlAuthError(
                f"LML refused the request with HTTP {status} "
                f"({'no API key sent' if not self.settings.api_key else 'the API key was not accepted'}): "
                "check LML_API_KEY; stopped without asking anything more"
            )
        if response is not None and status == 404 and unit.endpoint == "bulk":
            # An LML without /lookup/bulk (the Feb generation): single lookups for the rest of the run.
            self._bulk_available = False
            self.stats.bulk_unavailable = True
            for k in unit.keys:
                submit(_Unit([k], "single", unit.attempt), 0.0)
            return

        answers: list[Answer] = []
        # LML pushing back (overloaded, restarting, unreachable): retried, and the whole pace slows
        pushback = failure is not None or (status is not None and (status >= 500 or status == 429))
        if pushback:
            reason = failure or f"http_{status}"
            body = None if response is None else self._error_excerpt(response)
            answers = [answer(k, T.TRANSIENT, reason, body) for k in unit.keys]
        elif response is not None and status != 200:
            # 3xx (never followed: a wrong URL or an edge redirecting http to https), 400, 404
            # on /lookup, 422: asking again the same way gets the same answer
            reason = f"http_{status}"
            if 300 <= response.status_code < 400 and response.headers.get("Location"):
                reason += f":to {str(response.headers['Location'])[:120]}"
            excerpt = self._error_excerpt(response)
            answers = [answer(k, T.ERROR, self._redact_text(reason), excerpt) for k in unit.keys]
        else:
            assert response is not None
            try:
                parsed = response.json()
            except (ValueError, UnicodeDecodeError, RecursionError):
                # not JSON, truncated, nested too deep, or an integer too long to parse
                parsed = None
            if (
                parsed is not None
                and self._secrets
                and any(x in response.text for x in self._secrets)
            ):
                parsed = _redact_json(parsed, self._secrets)
            if parsed is None:
                answers = [
                    answer(k, T.TRANSIENT, "bad_json", self._error_excerpt(response))
                    for k in unit.keys
                ]
            elif unit.endpoint == "single":
                cls, reason = classify_body(parsed, unit.keys[0].legacy_release_ids)
                answers = [
                    answer(unit.keys[0], cls, reason, parsed if isinstance(parsed, dict) else None)
                ]
            else:
                items = parsed.get("results") if isinstance(parsed, dict) else None
                by_index: dict[int, Any] = {}
                if isinstance(items, list):
                    for item in items:
                        if isinstance(item, dict) and isinstance(item.get("index"), int):
                            by_index[item["index"]] = item
                for i, k in enumerate(unit.keys):
                    if i in by_index:
                        cls, reason, body = classify_bulk_item(by_index[i], k.legacy_release_ids)
                    else:
                        cls, reason, body = T.TRANSIENT, "bulk_item_missing", None
                    answers.append(answer(k, cls, reason, body))

        for a in answers:
            if a.reason == "timeout_flag":
                self._timed_out.add(a.key_id)
        if pushback:
            pacer.slow_down(retry_after)
        elif not _request_failed(answers):
            pacer.recover()
        self.stats.slowdowns = pacer.slowdowns
        self.stats.max_interval_s = round(pacer.max_interval, 3)
        failed = pushback or _request_failed(answers)
        self._consecutive_failures = self._consecutive_failures + 1 if failed else 0
        failures = self._consecutive_failures  # read now: other workers count on meanwhile
        if failures >= self.settings.max_consecutive_failures:
            # Like WXYC's client breaker: an LML that is down, misconfigured (a redirect, a
            # wrong path) or failing every request is not helped by more requests. Keep what
            # came back, then stop the run.
            assert self._writer is not None
            await self._writer.write(answers, [])
            raise LmlUnavailableError(
                f"LML failed {failures} requests in a row "
                f"(last: {answers[0].reason}) at {self.settings.display}: stopped; every answer "
                "so far is saved, run resolve again when LML is healthy"
                + (
                    " (check --lml-url: LML never redirects)"
                    if answers[0].reason.startswith("http_3")
                    else ""
                )
            )
        self.stats.answers += len(answers)
        retry: list[LookupKey] = []
        finished: list[str] = []
        for a, k in zip(answers, unit.keys, strict=True):
            if a.classification is T.TRANSIENT and unit.attempt < self.settings.max_attempts:
                retry.append(k)
            elif a.classification is T.TRANSIENT and unit.endpoint == "bulk":
                # Bulk could not answer it (its tries are spent): single /lookup runs LML's
                # full cascade and may still answer; its own tries start afresh.
                submit(_Unit([k], "single", 1), 0.0)
            elif (
                a.classification.is_final
                and unit.endpoint == "bulk"
                and self.settings.single_followup
                and not body_has_artwork(a.body)
            ):
                # Bulk found no usable cover (a spacer, placeholder, artist photo or label logo
                # is none): single /lookup runs the full cascade and may still find one.
                submit(_Unit([k], "single", 1), 0.0)
            else:
                finished.append(k.key_id)
        # Store before this worker takes more work (a kill -9 loses only what is in flight), in
        # the writer thread so the event loop keeps pacing the other workers meanwhile.
        assert self._writer is not None
        await self._writer.write(answers, finished)
        if retry:
            self.stats.retries += len(retry)
            delay = self.backoff(unit.attempt, retry_after)
            if unit.endpoint == "bulk":
                submit(_Unit(retry, "bulk", unit.attempt + 1), delay)
            else:
                submit(_Unit(retry, "single", unit.attempt + 1), delay)


def _excerpt(response: httpx.Response, secrets: Sequence[str]) -> dict[str, Any]:
    """What an unusable response said, kept short and redacted: an error page or a debug
    proxy may echo the request, our API key with it."""
    try:
        text = response.text
    except UnicodeDecodeError:
        text = "<undecodable>"
    return {"error_text": redact_text(text[:2000], secrets)[:500]}


async def _load_network_backend() -> None:
    """Load httpx's async network backend (anyio) before the first request is paced.

    httpcore imports it on its first connection. Where that is slow (no compiled bytecode: about
    100 ms), the first request reaches LML only when the second does: two at once, the burst
    the pacer exists to prevent.
    """
    try:
        import anyio
    except ImportError:  # another backend: nothing to load ahead
        return
    await anyio.sleep(0)


# A credential in an echoed request or a debug page: `Authorization: Bearer <token>`, `Basic ...`
_CREDENTIAL_RE = re.compile(r"(?i)\b(bearer|basic|token)(\s+|=|:\s*)[A-Za-z0-9._~+/=-]{4,}")
# Reasons of answers that are no answer at all: a garbled body or a bulk reply that lost items.
GARBLED_REASONS = frozenset(
    {
        "bad_json",
        "bad_body",
        "results_missing",
        "bad_result_item",
        "bad_library_item",
        "bad_artwork",
        "int_out_of_range",
        "bulk_item_missing",
        "bulk_item_malformed",
    }
)


def _request_failed(answers: Sequence[Answer]) -> bool:
    """Whether one request got no usable answer: an HTTP error (3xx, 4xx) or only garbled
    answers. LML's own "not now" (`timeout: true`, a shed `degraded`) is an answer: LML is
    working, just busy."""
    return bool(answers) and all(
        a.classification is T.ERROR
        or (a.classification is T.TRANSIENT and a.reason.split(":")[0] in GARBLED_REASONS)
        for a in answers
    )


def redact_text(text: str, secrets: Sequence[str]) -> str:
    """`text` with our secrets and any bearer/basic credential replaced by ***."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return _CREDENTIAL_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


def _redact_json(value: Any, secrets: Sequence[str]) -> Any:
    """A parsed JSON value with our secrets replaced by *** in every string (keys included)."""
    if isinstance(value, str):
        return redact_text(value, secrets) if any(x in value for x in secrets) else value
    if isinstance(value, list):
        return [_redact_json(v, secrets) for v in value]
    if isinstance(value, dict):
        return {_redact_json(k, secrets): _redact_json(v, secrets) for k, v in value.items()}
    return value
