"""Run logs for the commands that write Postgres: one line per event, WXYC's tags on each.

`--log-format json` prints one JSON object per line with WXYC's Phase A tag contract
(Backend-Service issue #538): `timestamp` (ISO-8601, UTC), `level` (info|warning|error),
`step`, `message`, `repo`, `tool`, `run_id`, plus the event's own fields. `--log-format text`
prints the same events for a person. Error lines go to stderr and the others to stdout, as in
WXYC's jobs, except when the command prints its result as JSON on stdout (`--json`): then every
log line goes to stderr, so stdout stays one parseable document.

Every line passes through a redactor, so no secret (DB password, LML key) reaches a log.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

REPO = "artwork-backfill"
LogFormat = Literal["text", "json"]
Level = Literal["info", "warning", "error"]
LOG_FORMATS: tuple[str, ...] = ("text", "json")


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RunLog:
    """Tagged log lines for one run of one tool (e.g. `artwork-backfill apply`)."""

    def __init__(
        self,
        *,
        tool: str,
        run_id: str,
        fmt: str = "text",
        out: TextIO | None = None,
        err: TextIO | None = None,
        redact: Callable[[str], str] = lambda text: text,
        clock: Callable[[], str] = _utc_now,
    ) -> None:
        if fmt not in LOG_FORMATS:
            raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
        self.tool = tool
        self.run_id = run_id
        self.fmt = fmt
        self._out = out
        self._err = err
        self._redact = redact
        self._clock = clock

    def info(self, step: str, message: str, **fields: Any) -> None:
        self.log("info", step, message, **fields)

    def warning(self, step: str, message: str, **fields: Any) -> None:
        self.log("warning", step, message, **fields)

    def error(self, step: str, message: str, **fields: Any) -> None:
        self.log("error", step, message, **fields)

    def log(self, level: Level, step: str, message: str, **fields: Any) -> None:
        timestamp = self._clock()
        if self.fmt == "json":
            record = {
                "timestamp": timestamp,
                "level": level,
                "step": step,
                "message": message,
                "repo": REPO,
                "tool": self.tool,
                "run_id": self.run_id,
            }
            record.update({k: v for k, v in fields.items() if k not in record})
            line = json.dumps(record, default=str, ensure_ascii=False)
        else:
            extra = " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
            line = f"{timestamp} {level:<7} {step}: {message}" + (f" ({extra})" if extra else "")
        stream = (self._err or sys.stderr) if level == "error" else (self._out or sys.stdout)
        stream.write(self._redact(line) + "\n")
        stream.flush()


def _text_value(value: Any) -> str:
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)
