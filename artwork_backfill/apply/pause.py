"""WXYC's cooperative live-DJ pause (`LiveActivity`): before each batch, probe the flowsheet
and wait while a DJ is logging tracks, up to a ceiling (`LiveActivityCeilingExceeded`)."""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from artwork_backfill.apply.session import table_names
from artwork_backfill.apply.settings import ApplySettings
from artwork_backfill.config import DbSettings
from artwork_backfill.errors import UserError, first_line
from artwork_backfill.logs import RunLog
from artwork_backfill.stopping import StopFlag


class LiveActivityCeilingExceeded(UserError):
    """A DJ stayed on air longer than LIVE_ACTIVITY_MAX_PAUSE_MS: the run aborts loudly."""


class LiveActivity:
    """WXYC's cooperative pause: while a DJ is logging tracks, wait before the next batch.

    The probe reads the flowsheet on the autocommit connection (so `now()` is not frozen at a
    transaction's start, BS#1636). Probe errors fail open (step `probe_error`): a missing
    flowsheet must not block the backfill.
    """

    def __init__(
        self,
        conn: psycopg.Connection,
        db: DbSettings,
        settings: ApplySettings,
        log: RunLog,
        stop: StopFlag,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.log = log
        self.stop = stop
        self.enabled = settings.live_pause and settings.lookback_s > 0
        self.query = sql.SQL(
            "SELECT 1 FROM {flowsheet} WHERE entry_type = 'track' "
            "AND add_time > now() - interval '1 second' * %s LIMIT 1"
        ).format(**table_names(db))

    def active(self) -> bool:
        try:
            return self.conn.execute(self.query, [self.settings.lookback_s]).fetchone() is not None
        except psycopg.Error as exc:
            self.log.warning(
                "probe_error", f"live-activity probe failed, carrying on: {first_line(exc)}"
            )
            return False

    def wait_until_quiet(self) -> bool:
        """True when clear to write; False when stopped while waiting. Raises past the ceiling."""
        if not self.enabled:
            return True
        started = time.monotonic()
        while self.active():
            waited_ms = (time.monotonic() - started) * 1000
            ceiling = self.settings.max_pause_ms
            if ceiling and waited_ms >= ceiling:
                raise LiveActivityCeilingExceeded(
                    f"a DJ has been logging tracks for {waited_ms / 1000:.0f} s, past "
                    f"LIVE_ACTIVITY_MAX_PAUSE_MS={ceiling}: stopped before writing; run again off-air"
                )
            pause_ms = (
                self.settings.pause_ms
                if not ceiling
                else min(self.settings.pause_ms, ceiling - waited_ms)
            )
            self.log.info(
                "live_activity_pause",
                f"a DJ is on air: pausing {pause_ms / 1000:g} s",
                pause_ms=round(pause_ms),
                waited_ms=round(waited_ms),
                lookback_s=self.settings.lookback_s,
            )
            if not self.stop.sleep(max(pause_ms, 0) / 1000):
                return False
        return True


__all__ = ["LiveActivity", "LiveActivityCeilingExceeded"]
