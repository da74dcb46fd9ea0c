"""What the simulated LML is told and what it counts: its settings (`SimulatorConfig`,
`FaultConfig`), the counters every request updates and their snapshot (`SimStats`), and the
state the HTTP handler threads share (`SimState`: the in-flight cap, fault and latency draws,
per-key ask counts)."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from artwork_backfill.demo.simulator.catalog import Catalog
from artwork_backfill.demo.simulator.render import Generation


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


class Drop(Exception):
    """Raised to drop the connection without an answer (an injected reset)."""


class SimState:
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
                    raise Drop
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
