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

This module owns the HTTP side: routing, auth, the in-flight queue, fault injection, the
`/_sim/*` control endpoints, and `start_simulator`. The JSON it answers with comes from
`simulator.render`; its settings and counters are `simulator.state`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from artwork_backfill.demo.simulator.catalog import Catalog
from artwork_backfill.demo.simulator.render import (
    LookupContext,
    render_lookup,
    validate_request,
    validation_error,
)
from artwork_backfill.demo.simulator.state import (
    Drop,
    FaultConfig,
    SimState,
    SimStats,
    SimulatorConfig,
)
from artwork_backfill.judge.normalize import grouping_key

BULK_MAX_ITEMS = 100
_TRUE_VALUES = ("1", "true", "yes", "on")


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    state: SimState


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
        except Drop:
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
                raise Drop
            if fault in ("http_500", "http_502", "http_503"):
                code = int(fault[-3:])
                detail = "Internal Server Error" if code == 500 else "upstream unavailable"
                return self._json(code, {"detail": detail})
            if fault == "hang":
                state.sleep(cfg.faults.hang_seconds)
                if state.stopping.is_set():
                    raise Drop
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
                "detail": [validation_error([], "json_invalid", "JSON decode error", None)]
            }
        if endpoint == "lookup":
            if data is None:
                return 422, {"detail": [validation_error([], "missing", "Field required", None)]}
            errors = validate_request(data, generation, [])
            return (422, {"detail": errors}) if errors else [data]
        if not isinstance(data, dict):
            return 400, {"detail": "Request body must be a JSON object"}
        items = data.get("items")
        if not isinstance(items, list):
            return 422, {
                "detail": [
                    validation_error(["items"], "list_type", "Input should be a valid list", items)
                ]
            }
        if len(items) > BULK_MAX_ITEMS:
            return 400, {"detail": f"Too many items: {len(items)} > {BULK_MAX_ITEMS}"}
        if not items:
            return 422, {
                "detail": [
                    validation_error(
                        ["items"],
                        "too_short",
                        "List should have at least 1 item after validation, not 0",
                        items,
                    )
                ]
            }
        errors = [
            e for i, item in enumerate(items) for e in validate_request(item, "aug", ["items", i])
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
        self._state = SimState(catalog, config)
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
