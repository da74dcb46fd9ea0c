"""A small programmable LML of the fault suite's own: it answers what a test tells it to.

It serves `POST /api/v1/lookup` and `POST /api/v1/lookup/bulk` (and records anything else it
is sent, e.g. where a redirect pointed) on 127.0.0.1, on a free port. A test hands it a
*policy*: a callable given each `Request` that returns a `Reply` (or None: the well-formed,
right answer). A `Reply` is a status, headers and body bytes, or an action:

- `reset`: the connection is closed with an RST (SO_LINGER 0) after the request is read;
- `hang`: the request is read and never answered (released when the server stops);
- `drip`: the body is sent one byte every `drip_interval` seconds (0.5 s), forever when the
  body runs out (the declared Content-Length is larger), until the client goes or the server
  stops;
- `truncate`: a Content-Length larger than what is sent, then the connection is closed;
- `redirect`: `status` (301/302/307/308) with a `Location` header.

Every request is recorded (`requests()`: path, lowercased headers, parsed JSON body) and
counted, before the policy runs. The server stops by itself: daemon threads, `stop()` (or the
context manager) shuts it down and releases every hanging or dripping handler.

Well-formed answers are LML-shaped (contract §2/§3) and *right*: for each asked (artist,
album) the server finds the key in its catalog and answers with one result per own row of
the key (`library_item.id` = the row's `legacy_release_id`), a `direct` match whose Discogs
album and artist are the shelf's, and a Discogs `R-<release>` cover URL built with the
simulator's own `image_file_tail` (one release per key, so no cover is shared by two keys).

    with FaultServer(catalog, policy=script(Reply(503), Reply(503))) as lml:
        env["LIBRARY_METADATA_URL"] = lml.url
        ...
        assert lml.count("single") == 3
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from artwork_backfill.demo.simulator import Catalog
from artwork_backfill.demo.simulator.catalog import FORM_SEGMENTED, image_file_tail
from artwork_backfill.judge.normalize import grouping_key

LOOKUP = "/api/v1/lookup"
BULK = "/api/v1/lookup/bulk"
MAX_HOLD_S = 120.0  # a hanging or dripping handler never outlives this, even without stop()


# -- what a request was, what to answer ----------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request the server received (recorded before the policy ran)."""

    n: int  # 1-based, in arrival order over the whole server
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # names lowercased
    raw: bytes
    body: Any  # the parsed JSON body, or None when it is not JSON

    @property
    def endpoint(self) -> str:
        """ "single", "bulk" or "other"."""
        return {LOOKUP: "single", BULK: "bulk"}.get(self.path, "other")

    @property
    def items(self) -> list[dict[str, Any]]:
        """The lookup requests it carries: one for single, each of `items` for bulk."""
        if self.endpoint == "single" and isinstance(self.body, dict):
            return [self.body]
        if self.endpoint == "bulk" and isinstance(self.body, dict):
            items = self.body.get("items")
            return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
        return []

    @property
    def key_ids(self) -> list[str]:
        """The grouping keys (the cache's key_id) of the (artist, album)s it asks about."""
        return [grouping_key(i.get("artist"), i.get("album")) for i in self.items]


@dataclass
class Reply:
    """What to answer one request with. `body`: bytes as they are, str encoded as UTF-8,
    anything else JSON-encoded; None with status 200 means the right answer."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    action: str | None = None  # None | "reset" | "hang" | "drip" | "truncate" | "redirect"
    location: str | None = None  # for "redirect"
    drip_interval: float = 0.5
    declared_length: int | None = None  # Content-Length sent for "truncate"/"drip"

    def body_bytes(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()


def json_reply(body: Any, status: int = 200, **headers: str) -> Reply:
    return Reply(status=status, body=body if body is not None else "null", headers=headers)


def status_reply(status: int, text: str = "", **headers: str) -> Reply:
    return Reply(status=status, body={"detail": text or f"HTTP {status}"}, headers=headers)


RESET = Reply(action="reset")
HANG = Reply(action="hang")


Policy = Callable[[Request], "Reply | None"]


def good(_: Request) -> Reply | None:
    """The policy of a healthy LML: every request gets its right answer."""
    return None


def script(*replies: Reply | None, then: Policy = good) -> Policy:
    """The n-th lookup request (single or bulk, over the whole server) gets `replies[n-1]`;
    after them, `then` decides. Requests to other paths do not advance the script."""
    lock = threading.Lock()
    seen = [0]

    def policy(req: Request) -> Reply | None:
        if req.endpoint == "other":
            return then(req)
        with lock:
            seen[0] += 1
            n = seen[0]
        return replies[n - 1] if n <= len(replies) else then(req)

    return policy


def always(reply: Reply) -> Policy:
    return lambda _req: reply


def on(endpoint: str, policy: Policy, otherwise: Policy = good) -> Policy:
    """`policy` for requests to `endpoint` ("single"/"bulk"), `otherwise` for the rest."""
    return lambda req: policy(req) if req.endpoint == endpoint else otherwise(req)


def per_key(replies: dict[str, Any], otherwise: Policy = good) -> Policy:
    """For a single /lookup of a key in `replies`: its reply (a `Reply`, or a policy called
    with the request); every other request (bulk included): `otherwise`."""

    def policy(req: Request) -> Reply | None:
        if req.endpoint == "single" and req.key_ids and req.key_ids[0] in replies:
            reply = replies[req.key_ids[0]]
            return reply(req) if callable(reply) else reply
        return otherwise(req)

    return policy


# -- LML-shaped bodies ---------------------------------------------------------------------


def release_id_for(key_id: str) -> int:
    """A Discogs release id of the key's own (stable, distinct per key in practice)."""
    return 1_000_000 + zlib.crc32(key_id.encode()) % 30_000_000


def cover_url(release_id: int) -> str:
    """A Discogs 600 px cover URL of `R-<release_id>` in today's segmented form."""
    digest = hashlib.sha256(str(release_id).encode()).digest()
    stamp = 1_200_000_000 + int.from_bytes(digest[:4], "big") % 500_000_000
    counter = 1000 + int.from_bytes(digest[4:6], "big") % 9000
    tail = image_file_tail("R", release_id, stamp, counter, FORM_SEGMENTED)
    sig = hashlib.sha256(tail.encode()).hexdigest()[:43]
    return f"https://i.discogs.com/{sig}/rs:fit/g:sm/q:90/h:600/w:600/{tail}"


def result_item(
    legacy_id: int, title: str, artist: str, release_id: int, *, confidence: float = 1.0
) -> dict[str, Any]:
    """One LookupResultItem: the library row and a Discogs release with its cover."""
    return {
        "library_item": {"id": legacy_id, "title": title, "artist": artist},
        "artwork": {
            "release_id": release_id,
            "release_url": f"https://www.discogs.com/release/{release_id}",
            "album": title,
            "artist": artist,
            "artwork_url": cover_url(release_id),
            "confidence": confidence,
        },
    }


def lookup_response(results: list[Any], **extra: Any) -> dict[str, Any]:
    """A LookupResponse (aug shape) around `results`."""
    body: dict[str, Any] = {
        "results": results,
        "search_type": "direct" if results else "alternative",
        "song_not_found": False,
        "found_on_compilation": False,
        "context_message": None,
        "timeout": False,
        "degraded": False,
    }
    body.update(extra)
    return body


def bulk_response(lookups: Iterable[dict[str, Any] | None]) -> dict[str, Any]:
    """A bulk reply: one item per lookup, in order (None: a `no_match` with no lookup)."""
    out = []
    for i, lookup in enumerate(lookups):
        if lookup is None:
            out.append({"index": i, "status": "error", "lookup": None, "message": "Error"})
        else:
            status = "match" if lookup.get("results") else "no_match"
            out.append({"index": i, "status": status, "lookup": lookup})
    return {"results": out}


# -- the server ----------------------------------------------------------------------------


class _Http(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FaultServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Http

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path, _, query = self.path.partition("?")
        req = owner._record(
            method,
            path.rstrip("/") or "/",
            query,
            {k.lower(): v for k, v in self.headers.items()},
            raw,
            body,
        )
        try:
            reply = owner.policy(req)
        except Exception as exc:  # a bug in a test's policy: say so on the wire, loudly
            owner.policy_errors.append(repr(exc))
            reply = Reply(status=599, body=f"policy error: {exc!r}")
        if reply is None:
            reply = owner.right_reply(req)
        self._answer(reply)

    def _answer(self, reply: Reply) -> None:
        owner = self.server.owner
        body = reply.body_bytes()
        if reply.action == "reset":
            with contextlib.suppress(OSError):
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
            self.close_connection = True
            return
        if reply.action == "hang":
            owner._stopping.wait(MAX_HOLD_S)
            self.close_connection = True
            return
        if reply.action == "redirect":
            self.send_response(reply.status if reply.status in (301, 302, 303, 307, 308) else 302)
            self.send_header("Location", reply.location or f"{owner.url}/elsewhere")
            self.send_header("Content-Length", str(len(body)))
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.headers.get("Content-Type", "application/json"))
        if reply.action in ("truncate", "drip"):
            declared = reply.declared_length or (len(body) + 1000)
            self.send_header("Content-Length", str(max(declared, len(body) + 1)))
        else:
            self.send_header("Content-Length", str(len(body)))
        for k, v in reply.headers.items():
            if k.lower() != "content-type":
                self.send_header(k, v)
        self.end_headers()
        if reply.action == "truncate":
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if reply.action == "drip":
            self.close_connection = True
            self.wfile.flush()
            sent = 0
            # after the body, spaces (valid JSON whitespace) keep the connection busy forever
            while not owner._stopping.is_set() and sent < MAX_HOLD_S / reply.drip_interval:
                byte = body[sent : sent + 1] or b" "
                try:
                    self.wfile.write(byte)
                    self.wfile.flush()
                except OSError:  # the client went away
                    return
                sent += 1
                owner._stopping.wait(reply.drip_interval)
            return
        self.wfile.write(body)


class FaultServer:
    """The programmable LML. `policy` can be changed while it runs (`server.policy = ...`)."""

    def __init__(self, catalog: Catalog | None = None, policy: Policy = good) -> None:
        self.catalog = catalog
        self.policy: Policy = policy
        self.policy_errors: list[str] = []
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._stopping = threading.Event()
        self._http = _Http(("127.0.0.1", 0), _Handler)
        self._http.owner = self
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # -- lifecycle

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()  # releases hanging and dripping handlers
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the log

    def _record(
        self, method: str, path: str, query: str, headers: dict[str, str], raw: bytes, body: Any
    ) -> Request:
        with self._lock:
            req = Request(len(self._requests) + 1, method, path, query, headers, raw, body)
            self._requests.append(req)
        return req

    def requests(self, endpoint: str | None = None) -> list[Request]:
        """Every request so far (of `endpoint` only, when given), in arrival order."""
        with self._lock:
            reqs = list(self._requests)
        return [r for r in reqs if endpoint is None or r.endpoint == endpoint]

    def count(self, endpoint: str | None = None) -> int:
        """Requests so far; `endpoint` "single", "bulk", "other", or None: the two lookups."""
        if endpoint is None:
            return sum(1 for r in self.requests() if r.endpoint != "other")
        return len(self.requests(endpoint))

    def asks(self, endpoint: str | None = None) -> Counter[str]:
        """How often each key_id was asked (in single and bulk requests, or one of them)."""
        counted: Counter[str] = Counter()
        for r in self.requests():
            if r.endpoint != "other" and (endpoint is None or r.endpoint == endpoint):
                counted.update(r.key_ids)
        return counted

    def reset_log(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- right answers

    def right_lookup(self, item: dict[str, Any]) -> dict[str, Any]:
        """The right LookupResponse for one asked (artist, album): a direct match of every own
        row of the key with the key's cover; empty results for a key it does not know."""
        artist, album = item.get("artist"), item.get("album")
        key_id = grouping_key(artist, album)
        rows = []
        if self.catalog is not None:
            truth = self.catalog.key_for(artist, album)
            if truth is not None:
                key_id = truth.key_id
                rows = [
                    self.catalog.row(i)
                    for i in truth.library_ids
                    if self.catalog.row(i).artwork_url is None
                ]
        if not rows:
            return lookup_response([])
        release = release_id_for(key_id)
        seen: set[int] = set()
        results = []
        for row in rows:
            if row.legacy_release_id in seen:
                continue
            seen.add(row.legacy_release_id)
            results.append(result_item(row.legacy_release_id, str(album), str(artist), release))
        return lookup_response(results[:5])

    def right_reply(self, req: Request) -> Reply:
        if req.endpoint == "single":
            return json_reply(self.right_lookup(req.body if isinstance(req.body, dict) else {}))
        if req.endpoint == "bulk":
            return json_reply(bulk_response(self.right_lookup(i) for i in req.items))
        return Reply(status=404, body={"detail": "Not Found"})


@contextlib.contextmanager
def fault_server(catalog: Catalog | None = None, policy: Policy = good) -> Iterator[FaultServer]:
    server = FaultServer(catalog, policy)
    try:
        yield server
    finally:
        server.stop()
