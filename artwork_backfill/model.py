"""Small shared value types (no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Classification(enum.StrEnum):
    """What one LML answer means for its key.

    `match` and `no_match` are final: the key is never asked again. `transient` (a timeout,
    a shed enrichment tail, an HTTP failure) and `error` (a 4xx other than auth) leave the
    key pending; transient keys are retried in the same run's later passes and in later runs.
    """

    MATCH = "match"
    NO_MATCH = "no_match"
    TRANSIENT = "transient"
    ERROR = "error"

    @property
    def is_final(self) -> bool:
        return self in (Classification.MATCH, Classification.NO_MATCH)


@dataclass(frozen=True, slots=True)
class LookupKey:
    """One distinct (artist, album) question for LML, shared by every row with that key."""

    key_id: str
    artist: str  # what is sent to LML (a representative row's text, whitespace-cleaned)
    album: str


@dataclass(frozen=True, slots=True)
class Answer:
    """One LML answer for one key, as it is stored in the cache."""

    key_id: str
    endpoint: str  # "single" | "bulk"
    http_status: int | None  # None when no HTTP response arrived (connection error, timeout)
    classification: Classification
    reason: str  # short code: "results", "empty", "timeout_flag", "http_503", "client_timeout" ...
    body: dict[str, Any] | None  # the LookupResponse JSON (for bulk, the item's `lookup`)
    attempt: int  # 1 for the first try of this key in this run, 2 for the first retry ...
    latency_ms: float
    requested_at: float  # epoch seconds
    received_at: float


def body_has_artwork(body: dict[str, Any] | None) -> bool:
    """Whether any result in an LML LookupResponse carries a non-empty artwork_url."""
    if not isinstance(body, dict):
        return False
    for item in body.get("results") or []:
        artwork = (item or {}).get("artwork") if isinstance(item, dict) else None
        if isinstance(artwork, dict) and artwork.get("artwork_url"):
            return True
    return False
