"""An LML stand-in: a real HTTP server on 127.0.0.1 that answers from a generated catalog.

It speaks both LML generations (`aug`: bulk endpoint, bearer auth, `timeout`/`degraded`;
`feb`: single lookups only, no auth, none of the newer fields), queues requests behind a
server-side in-flight cap like LML (never a 429), and injects faults on demand: HTTP 500/502/503,
connection resets, malformed JSON, hangs, per-item bulk errors, or one forced status for every
request. Everything it sees is counted (`stats()`, `GET /_sim/stats`; a status is counted
before its answer is sent, so a snapshot taken after a response includes it).

Some keys' first asks are not answers (scenario-driven, per key, counted across single and
bulk asks): a `timeout`, a shed artwork tail, a `degraded` answer whose own row lost its
artwork while a sibling row kept one (aug only; feb sheds nothing), or an HTTP 200 whose body
has no `results` at all (a bulk item carrying such a body is marked `no_match`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import random
import socket
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, quote_plus, urlsplit

from artwork_backfill.judge.normalize import grouping_key
from artwork_backfill.simulator.catalog import (
    FORMAT_DISPLAY,
    AnswerPlan,
    Catalog,
    CatalogRow,
    DiscogsRelease,
    KeyTruth,
    ResultPlan,
)

Generation = Literal["aug", "feb"]
BULK_MAX_ITEMS = 100
_STRING_FIELDS = ("artist", "album", "song", "raw_message")
_BOOL_FIELDS = ("extended", "warm_cache", "include_identity", "include_external_caches")
_TRUE_VALUES = ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Fault injection for `/api/v1/*`. Rates are probabilities per request (per item for bulk errors)."""

    rate_500: float = 0.0
    rate_502: float = 0.0
    rate_503: float = 0.0
    rate_reset: float = 0.0  # close the socket (RST) without answering
    rate_malformed: float = 0.0  # 200 with a truncated JSON body
    rate_hang: float = 0.0  # sleep `hang_seconds`, then answer normally
    hang_seconds: float = 5.0
    rate_bulk_item_error: float = 0.0  # a bulk item answers status "error"
    seed: int = 0


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    generation: Generation = "aug"
    latency_ms: float = 0.0  # added to every /api/v1 answer (bulk: per wave of items)
    jitter_ms: float = 0.0  # uniform extra latency in [0, jitter_ms]
    inflight_cap: int = 8  # requests handled at once; the rest queue (LML sends no 429)
    bulk_concurrency: int = 10  # bulk items worked on at once (LML_BULK_MAX_CONCURRENT)
    api_key: str | None = None  # aug only: when set, /api/v1/* requires `Authorization: Bearer`
    faults: FaultConfig = field(default_factory=FaultConfig)
    force_status: int | None = None  # every /api/v1 request answers this status
    health_status: int = 200
    header_log_size: int = 200  # how many recent requests keep their headers
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if self.generation not in ("aug", "feb"):
            raise ValueError(f"generation must be 'aug' or 'feb', not {self.generation!r}")
        if self.inflight_cap < 1:
            raise ValueError("inflight_cap must be at least 1")


@dataclass(frozen=True)
class SimStats:
    """A snapshot of what the simulator has seen since the last reset."""

    requests: dict[str, int]  # endpoint ("lookup", "bulk", "health", "sim", "other") -> count
    status_counts: dict[str, int]  # "200", "503", ... and "reset" for dropped connections
    faults: dict[str, int]  # injected faults by kind
    asks_single: dict[str, int]  # grouping key -> single /lookup asks
    asks_bulk: dict[str, int]  # grouping key -> bulk items
    unknown_asks: int  # asks whose key is not in the catalog
    bulk_items: int
    flags: dict[str, int]  # requests/items that set skip_cache, warm_cache, extended, ...
    arrivals: list[tuple[float, str]]  # (time.monotonic() at arrival, endpoint), in order
    max_in_flight: int  # most requests handled at once (never above the cap)
    max_concurrent: int  # most requests open at once, queued ones included
    recent_requests: list[dict[str, Any]]  # the last N requests: t, method, path, headers

    def asks(self, key_id: str) -> int:
        """All asks of a key, single and bulk."""
        return self.asks_single.get(key_id, 0) + self.asks_bulk.get(key_id, 0)

    @property
    def total_asks(self) -> int:
        return sum(self.asks_single.values()) + sum(self.asks_bulk.values())

    def arrival_times(self, endpoint: str | None = None) -> list[float]:
        return [t for t, ep in self.arrivals if endpoint is None or ep == endpoint]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["arrivals"] = [[t, ep] for t, ep in self.arrivals]
        return d


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


def _validation_error(loc: list[str | int], kind: str, msg: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "loc": ["body", *loc], "msg": msg, "input": value}


def _validate_request(
    item: Any, generation: Generation, loc: list[str | int]
) -> list[dict[str, Any]]:
    if not isinstance(item, dict):
        return [
            _validation_error(
                loc, "model_attributes_type", "Input should be a valid dictionary", item
            )
        ]
    errors = []
    for name in _STRING_FIELDS:
        value = item.get(name)
        if value is not None and not isinstance(value, str):
            errors.append(
                _validation_error(
                    [*loc, name], "string_type", "Input should be a valid string", value
                )
            )
    for name in _BOOL_FIELDS:
        value = item.get(name)
        if value is not None and not isinstance(value, bool):
            errors.append(
                _validation_error(
                    [*loc, name], "bool_type", "Input should be a valid boolean", value
                )
            )
    if generation == "feb" and item.get("raw_message") is None:
        errors.append(_validation_error([*loc, "raw_message"], "missing", "Field required", item))
    elif not any(item.get(name) for name in _STRING_FIELDS):
        errors.append(
            _validation_error(
                loc,
                "value_error",
                "Value error, one of artist, album, song or raw_message is required",
                item,
            )
        )
    return errors


# ---------------------------------------------------------------------------------------------
# Shared server state
# ---------------------------------------------------------------------------------------------


class _Drop(Exception):
    """Raised to drop the connection without an answer (an injected reset)."""


class _State:
    def __init__(self, catalog: Catalog, config: SimulatorConfig) -> None:
        self.catalog = catalog
        self.lock = threading.Lock()
        self.slots = threading.Condition(threading.Lock())
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.config = config
        self.fault_rng = random.Random(config.faults.seed)
        self.latency_rng = random.Random(config.faults.seed + 1)
        self.key_asks: Counter[str] = Counter()  # drives flaky/transient scenarios
        self.in_flight = 0
        self.open_requests = 0
        self._reset_stats()

    def _reset_stats(self) -> None:
        self.requests: Counter[str] = Counter()
        self.status_counts: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.asks_single: Counter[str] = Counter()
        self.asks_bulk: Counter[str] = Counter()
        self.unknown_asks = 0
        self.bulk_items = 0
        self.flags: Counter[str] = Counter()
        self.arrivals: list[tuple[float, str]] = []
        self.max_in_flight = self.in_flight
        self.max_concurrent = self.open_requests
        self.recent: deque[dict[str, Any]] = deque(maxlen=max(1, self.config.header_log_size))

    def reset(self, *, scenario_state: bool = False) -> None:
        with self.lock:
            self._reset_stats()
            if scenario_state:
                self.key_asks.clear()

    def reconfigure(self, **changes: Any) -> SimulatorConfig:
        with self.lock:
            faults = changes.pop("faults", None)
            if isinstance(faults, dict):
                faults = dataclasses.replace(self.config.faults, **faults)
            if faults is not None:
                changes["faults"] = faults
            new = dataclasses.replace(self.config, **changes)
            if new.faults != self.config.faults:
                self.fault_rng = random.Random(new.faults.seed)
            if new.header_log_size != self.config.header_log_size:
                self.recent = deque(self.recent, maxlen=max(1, new.header_log_size))
            self.config = new
        with self.slots:
            self.slots.notify_all()  # a raised cap lets queued requests in
        return new

    def snapshot(self) -> SimStats:
        with self.lock:
            return SimStats(
                requests=dict(self.requests),
                status_counts=dict(self.status_counts),
                faults=dict(self.faults),
                asks_single=dict(self.asks_single),
                asks_bulk=dict(self.asks_bulk),
                unknown_asks=self.unknown_asks,
                bulk_items=self.bulk_items,
                flags=dict(self.flags),
                arrivals=list(self.arrivals),
                max_in_flight=self.max_in_flight,
                max_concurrent=self.max_concurrent,
                recent_requests=list(self.recent),
            )

    # -- per-request bookkeeping -----------------------------------------------------------------

    def arrive(self, endpoint: str, method: str, path: str, headers: dict[str, str]) -> None:
        now = time.monotonic()
        with self.lock:
            self.requests[endpoint] += 1
            self.arrivals.append((now, endpoint))
            self.open_requests += 1
            self.max_concurrent = max(self.max_concurrent, self.open_requests)
            self.recent.append({"t": now, "method": method, "path": path, "headers": headers})

    def count_status(self, status: str) -> None:
        with self.lock:
            self.status_counts[status] += 1

    def depart(self, status: str | None) -> None:
        """A request is done; `status` is counted unless it was already (None)."""
        with self.lock:
            self.open_requests -= 1
            if status is not None:
                self.status_counts[status] += 1

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the `inflight_cap` slots; wait (queue) while all are taken."""
        with self.slots:
            while self.in_flight >= self.config.inflight_cap:
                if self.stopping.is_set():
                    raise _Drop
                self.slots.wait(0.05)
            self.in_flight += 1
            with self.lock:
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self.slots:
                self.in_flight -= 1
                self.slots.notify()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.stopping.wait(seconds)

    def latency(self, waves: int = 1) -> float:
        cfg = self.config
        with self.lock:
            jitter = self.latency_rng.uniform(0, cfg.jitter_ms) if cfg.jitter_ms > 0 else 0.0
        return (cfg.latency_ms * waves + jitter) / 1000.0

    def draw_fault(self) -> str | None:
        f = self.config.faults
        with self.lock:
            roll = self.fault_rng.random()
            edge = 0.0
            for kind, rate in (
                ("http_500", f.rate_500),
                ("http_502", f.rate_502),
                ("http_503", f.rate_503),
                ("reset", f.rate_reset),
                ("malformed", f.rate_malformed),
                ("hang", f.rate_hang),
            ):
                edge += rate
                if roll < edge:
                    self.faults[kind] += 1
                    return kind
        return None

    def draw_item_error(self) -> bool:
        rate = self.config.faults.rate_bulk_item_error
        if rate <= 0:
            return False
        with self.lock:
            hit = self.fault_rng.random() < rate
            if hit:
                self.faults["bulk_item_error"] += 1
            return hit

    def ask(self, key_id: str, *, bulk: bool, known: bool) -> int:
        """Count an ask of a key; the number of earlier asks of it (for transient scenarios)."""
        with self.lock:
            (self.asks_bulk if bulk else self.asks_single)[key_id] += 1
            if not known:
                self.unknown_asks += 1
            index = self.key_asks[key_id]
            self.key_asks[key_id] += 1
            return index

    def flag(self, name: str) -> None:
        with self.lock:
            self.flags[name] += 1

    def count_bulk_item(self) -> None:
        with self.lock:
            self.bulk_items += 1


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    state: _State


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lml-simulator"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are closed after this
    server: _Server
    _count_status = False  # this request's status goes into the stats
    _status_counted = False

    # -- plumbing --------------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle plus delayed ACKs add
        # ~40 ms to every keep-alive exchange.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.state.lock:
            self.server.state.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.state.lock:
            self.server.state.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> str:
        if self._count_status and not self._status_counted:
            # counted before the client can read the answer, so stats() right after a
            # response already includes it
            self.server.state.count_status(str(status))
            self._status_counted = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", "Bearer")
        self.end_headers()
        self.wfile.write(body)
        return str(status)

    def _json(self, status: int, payload: Any) -> str:
        return self._send(status, json.dumps(payload, separators=(",", ":")).encode())

    def _reset_connection(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        self.close_connection = True

    def _dispatch(self, method: str) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        endpoint = {
            "/api/v1/lookup": "lookup",
            "/api/v1/lookup/bulk": "bulk",
            "/health": "health",
        }.get(path, "sim" if path.startswith("/_sim/") else "other")
        body = self._read_body()
        self._count_status = endpoint != "sim"
        self._status_counted = False
        if endpoint != "sim":
            state.arrive(
                endpoint, method, self.path, {k.lower(): v for k, v in self.headers.items()}
            )
        status = "reset"
        try:
            status = self._route(endpoint, method, path, query, body)
        except _Drop:
            self._reset_connection()
        except Exception as exc:  # a simulator bug must still look like an HTTP answer
            status = self._json(500, {"detail": type(exc).__name__})
        finally:
            if endpoint != "sim":
                state.depart(None if self._status_counted else status)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- routes ----------------------------------------------------------------------------------

    def _route(
        self, endpoint: str, method: str, path: str, query: dict[str, str], body: bytes
    ) -> str:
        state = self.server.state
        cfg = state.config
        if endpoint == "sim":
            return self._sim_route(method, path, query, body)
        if endpoint == "health":
            if method != "GET":
                return self._json(405, {"detail": "Method Not Allowed"})
            ok = cfg.health_status < 400
            payload: dict[str, Any] = {"status": "healthy" if ok else "unhealthy"}
            if cfg.generation == "aug":
                payload.update(discogs_breaker_state="closed", discogs_live_requests_total=0)
            return self._json(cfg.health_status, payload)
        if endpoint == "other" or (endpoint == "bulk" and cfg.generation == "feb"):
            return self._json(404, {"detail": "Not Found"})
        if method != "POST":
            return self._json(405, {"detail": "Method Not Allowed"})
        if cfg.force_status is not None:
            with state.lock:
                state.faults["forced"] += 1
            return self._json(cfg.force_status, {"detail": f"simulated HTTP {cfg.force_status}"})
        if cfg.generation == "aug" and cfg.api_key is not None:
            denied = self._check_auth(cfg.api_key)
            if denied is not None:
                return denied
        with state.slot():
            payload_or_error = self._parse(endpoint, body)
            waves = 1
            if endpoint == "bulk" and isinstance(payload_or_error, list):
                waves = max(1, math.ceil(len(payload_or_error) / max(1, cfg.bulk_concurrency)))
            state.sleep(state.latency(waves))
            fault = state.draw_fault()
            if fault == "reset":
                raise _Drop
            if fault in ("http_500", "http_502", "http_503"):
                code = int(fault[-3:])
                detail = "Internal Server Error" if code == 500 else "upstream unavailable"
                return self._json(code, {"detail": detail})
            if fault == "hang":
                state.sleep(cfg.faults.hang_seconds)
                if state.stopping.is_set():
                    raise _Drop
            if isinstance(payload_or_error, tuple):
                code, detail = payload_or_error
                return self._json(code, detail)
            if endpoint == "lookup":
                answer: Any = self._lookup(payload_or_error[0], bulk=False, query=query)
            else:
                answer = {
                    "results": [
                        self._bulk_item(i, item, query) for i, item in enumerate(payload_or_error)
                    ]
                }
            if fault == "malformed":
                text = json.dumps(answer)
                return self._send(200, text[: max(1, len(text) // 2)].encode())
            return self._json(200, answer)

    def _check_auth(self, api_key: str) -> str | None:
        header = self.headers.get("Authorization")
        if not header:
            return self._json(401, {"detail": "Not authenticated"})
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or token.strip() != api_key:
            return self._json(403, {"detail": "Invalid authentication credentials"})
        return None

    def _parse(self, endpoint: str, body: bytes) -> list[dict[str, Any]] | tuple[int, Any]:
        """The request items, or (status, error payload)."""
        generation = self.server.state.config.generation
        try:
            data = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            if endpoint == "bulk":
                return 400, {"detail": "Malformed JSON body"}
            return 422, {
                "detail": [_validation_error([], "json_invalid", "JSON decode error", None)]
            }
        if endpoint == "lookup":
            if data is None:
                return 422, {"detail": [_validation_error([], "missing", "Field required", None)]}
            errors = _validate_request(data, generation, [])
            return (422, {"detail": errors}) if errors else [data]
        if not isinstance(data, dict):
            return 400, {"detail": "Request body must be a JSON object"}
        items = data.get("items")
        if not isinstance(items, list):
            return 422, {
                "detail": [
                    _validation_error(["items"], "list_type", "Input should be a valid list", items)
                ]
            }
        if len(items) > BULK_MAX_ITEMS:
            return 400, {"detail": f"Too many items: {len(items)} > {BULK_MAX_ITEMS}"}
        if not items:
            return 422, {
                "detail": [
                    _validation_error(
                        ["items"],
                        "too_short",
                        "List should have at least 1 item after validation, not 0",
                        items,
                    )
                ]
            }
        errors = [
            e for i, item in enumerate(items) for e in _validate_request(item, "aug", ["items", i])
        ]
        return (422, {"detail": errors}) if errors else items

    def _lookup(
        self, request: dict[str, Any], *, bulk: bool, query: dict[str, str]
    ) -> dict[str, Any]:
        state = self.server.state
        cfg = state.config
        key_id = grouping_key(request.get("artist"), request.get("album"))
        key_id = state.catalog.aliases.get(key_id, key_id)
        truth = state.catalog.keys.get(key_id)
        index = state.ask(key_id, bulk=bulk, known=truth is not None)
        skip_cache = query.get("skip_cache", "").lower() in _TRUE_VALUES
        allow_fallback = query.get("allow_release_resolution_fallback", "").lower() in _TRUE_VALUES
        for name, on in (
            ("skip_cache", skip_cache),
            ("allow_release_resolution_fallback", allow_fallback and bulk),
            ("warm_cache", bool(request.get("warm_cache"))),
            ("extended", bool(request.get("extended"))),
            ("song", bool(request.get("song"))),
            ("include_external_caches", bool(request.get("include_external_caches"))),
        ):
            if on:
                state.flag(name)
        ctx = LookupContext(
            generation=cfg.generation,
            bulk=bulk,
            extended=bool(request.get("extended")),
            allow_fallback=allow_fallback,
            skip_cache=skip_cache,
            separator=" - " in (request.get("raw_message") or ""),
        )
        return render_lookup(state.catalog, truth, ctx, index)

    def _bulk_item(self, index: int, item: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        state = self.server.state
        state.count_bulk_item()
        if state.draw_item_error():
            key_id = grouping_key(item.get("artist"), item.get("album"))
            with state.lock:
                state.asks_bulk[key_id] += 1
            return {
                "index": index,
                "status": "error",
                "lookup": None,
                "message": "CacheUnavailableError",
            }
        lookup = self._lookup(item, bulk=True, query=query)
        # (the status follows `results`: a lookup body without it is marked no_match)
        status = "match" if lookup.get("results") else "no_match"
        return {"index": index, "status": status, "lookup": lookup}

    def _sim_route(self, method: str, path: str, query: dict[str, str], body: bytes) -> str:
        state = self.server.state
        if path == "/_sim/stats" and method == "GET":
            return self._json(200, state.snapshot().to_dict())
        if path == "/_sim/reset" and method == "POST":
            state.reset(scenario_state=query.get("state", "").lower() in _TRUE_VALUES)
            return self._json(200, {"ok": True})
        if path == "/_sim/config" and method == "GET":
            return self._json(200, dataclasses.asdict(state.config))
        if path == "/_sim/config" and method == "POST":
            try:
                changes = json.loads(body or b"{}")
                new = state.reconfigure(**changes)
            except (ValueError, TypeError) as exc:
                return self._json(400, {"detail": str(exc)})
            return self._json(200, dataclasses.asdict(new))
        return self._json(404, {"detail": "Not Found"})


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


class RunningSimulator:
    """A simulator serving in a background thread. Stop it with `stop()` or a `with` block."""

    def __init__(self, catalog: Catalog, config: SimulatorConfig) -> None:
        self.catalog = catalog
        self._state = _State(catalog, config)
        self._server = _Server((config.host, config.port), _Handler)
        self._server.state = self._state
        self.url = f"http://{config.host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="lml-simulator",
            daemon=True,
        )
        self._thread.start()
        self._stopped = False

    @property
    def config(self) -> SimulatorConfig:
        return self._state.config

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def stats(self) -> SimStats:
        return self._state.snapshot()

    def reset_stats(self, *, scenario_state: bool = False) -> None:
        """Zero the counters; with `scenario_state`, flaky keys also start failing again."""
        self._state.reset(scenario_state=scenario_state)

    def configure(self, **changes: Any) -> SimulatorConfig:
        """Change the running config (latency, cap, api_key, force_status, generation ...)."""
        return self._state.reconfigure(**changes)

    def set_faults(self, **rates: Any) -> SimulatorConfig:
        """Change fault rates while running, e.g. `set_faults(rate_503=0.2)`; others are kept."""
        return self._state.reconfigure(faults=rates)

    def clear_faults(self) -> SimulatorConfig:
        return self._state.reconfigure(faults=FaultConfig(), force_status=None)

    def stop(self) -> None:
        """Stop quickly: hung and queued handlers are released, open connections closed."""
        if self._stopped:
            return
        self._stopped = True
        self._state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._state.lock:
            connections = list(self._state.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=2)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_simulator(catalog: Catalog, config: SimulatorConfig | None = None) -> RunningSimulator:
    """Start serving `catalog` on 127.0.0.1 (a free port unless `config.port` is set)."""
    return RunningSimulator(catalog, config or SimulatorConfig())
