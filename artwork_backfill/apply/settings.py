"""The knobs of a write run (`ApplySettings`, read from WXYC's variable names) and the strict
whole-number parser they are validated with (`parse_int`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from artwork_backfill.errors import ConfigError

MAX_BATCH_PAUSE_MS = 60_000


@dataclass(frozen=True)
class ApplySettings:
    """Knobs of a write run. `from_env` reads WXYC's variable names."""

    batch_size: int = 5000  # BACKFILL_BATCH_SIZE
    statement_timeout_ms: int = 300_000  # DB_STATEMENT_TIMEOUT_MS; 0 disables
    lock_timeout_ms: int = 5_000  # BACKFILL_LOCK_TIMEOUT_MS; fail fast behind a row lock
    live_pause: bool = True  # --live-pause/--no-live-pause
    lookback_s: int = 60  # LIVE_ACTIVITY_LOOKBACK_SECONDS; 0 disables the pause
    pause_ms: int = 30_000  # LIVE_ACTIVITY_PAUSE_MS, >= 1000
    max_pause_ms: int = 1_800_000  # LIVE_ACTIVITY_MAX_PAUSE_MS; 0 = no ceiling
    sample_size: int = 20
    # Pause after each batch that committed, before the next (BACKFILL_BATCH_PAUSE_MS, 0..60000):
    # a batch's COMMIT fires one CDC notification per row at once (the `cdc_library` trigger)
    # and ships its WAL to the standby; the pause gives the listener and replication room.
    batch_pause_ms: int = 100
    # The write session (see `apply.session`): a client that stops mid-transaction must not
    # hold row locks and the catalog watermark (DB_IDLE_IN_TRANSACTION_TIMEOUT_MS; 0 disables),
    # and a dead network path must be noticed (libpq TCP keepalives, DB_KEEPALIVES_*).
    idle_in_transaction_timeout_ms: int = 60_000
    keepalives_idle_s: int = 30  # DB_KEEPALIVES_IDLE_S: idle seconds before the first probe
    keepalives_interval_s: int = 10  # DB_KEEPALIVES_INTERVAL_S: seconds between probes
    keepalives_count: int = 3  # DB_KEEPALIVES_COUNT: unanswered probes that end the connection

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        batch_size: str | int | None = None,
        live_pause: bool = True,
        sample_size: int = 20,
    ) -> ApplySettings:
        """Validated settings; an explicit `batch_size` wins over BACKFILL_BATCH_SIZE."""
        if batch_size is None:
            batch_size = env.get("BACKFILL_BATCH_SIZE")
        return cls(
            batch_size=parse_int("BACKFILL_BATCH_SIZE (--batch-size)", batch_size, 5000, minimum=1),
            statement_timeout_ms=parse_int(
                "DB_STATEMENT_TIMEOUT_MS", env.get("DB_STATEMENT_TIMEOUT_MS"), 300_000, minimum=0
            ),
            lock_timeout_ms=parse_int(
                "BACKFILL_LOCK_TIMEOUT_MS", env.get("BACKFILL_LOCK_TIMEOUT_MS"), 5_000, minimum=0
            ),
            live_pause=live_pause,
            lookback_s=parse_int(
                "LIVE_ACTIVITY_LOOKBACK_SECONDS",
                env.get("LIVE_ACTIVITY_LOOKBACK_SECONDS"),
                60,
                minimum=0,
            ),
            pause_ms=parse_int(
                "LIVE_ACTIVITY_PAUSE_MS", env.get("LIVE_ACTIVITY_PAUSE_MS"), 30_000, minimum=1000
            ),
            max_pause_ms=parse_int(
                "LIVE_ACTIVITY_MAX_PAUSE_MS",
                env.get("LIVE_ACTIVITY_MAX_PAUSE_MS"),
                1_800_000,
                minimum=0,
            ),
            sample_size=parse_int("--sample", sample_size, 20, minimum=0),
            batch_pause_ms=parse_int(
                "BACKFILL_BATCH_PAUSE_MS",
                env.get("BACKFILL_BATCH_PAUSE_MS"),
                100,
                minimum=0,
                maximum=MAX_BATCH_PAUSE_MS,
            ),
            idle_in_transaction_timeout_ms=parse_int(
                "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
                env.get("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS"),
                60_000,
                minimum=0,
            ),
            keepalives_idle_s=parse_int(
                "DB_KEEPALIVES_IDLE_S", env.get("DB_KEEPALIVES_IDLE_S"), 30, minimum=1
            ),
            keepalives_interval_s=parse_int(
                "DB_KEEPALIVES_INTERVAL_S", env.get("DB_KEEPALIVES_INTERVAL_S"), 10, minimum=1
            ),
            keepalives_count=parse_int(
                "DB_KEEPALIVES_COUNT", env.get("DB_KEEPALIVES_COUNT"), 3, minimum=1
            ),
        )

    def keepalive_params(self) -> dict[str, str]:
        """libpq's TCP keepalive connection parameters for the write session."""
        return {
            "keepalives": "1",
            "keepalives_idle": str(self.keepalives_idle_s),
            "keepalives_interval": str(self.keepalives_interval_s),
            "keepalives_count": str(self.keepalives_count),
        }


def parse_int(
    name: str, raw: str | int | None, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    """A whole number >= minimum (and <= maximum); unset or blank means the default.
    "20banana", "1.5" are refused."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    if isinstance(raw, bool):
        raise ConfigError(f"{name} must be a whole number, not {raw!r}")
    if isinstance(raw, int):
        value = raw
    else:
        text = raw.strip()
        if not (text.isdigit() or (text.startswith("-") and text[1:].isdigit())):
            raise ConfigError(f"{name} must be a whole number, not {raw!r}")
        value = int(text)
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, not {value}")
    return value


__all__ = ["MAX_BATCH_PAUSE_MS", "ApplySettings", "parse_int"]
