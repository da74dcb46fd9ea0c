"""Test-side entry: the product's CLI with crash-test hooks injected (never used in production).

    python tests/_apply_with_hooks.py [--delay-ms N] [--kill-at POINT:BATCH] -- <CLI arguments>

`--delay-ms N` sleeps N ms in each batch, half between the intent and COMMIT and half between
COMMIT and the journal write, so a test's external `kill -9` lands in the windows that matter.
`--kill-at POINT:BATCH` SIGKILLs this process at `after_update`, `after_intent`,
`after_commit` or `after_journal` of batch BATCH. The hooks are injected with
`artwork_backfill.apply.hooks.inject`, then `artwork_backfill.cli.app.run` runs the command.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from artwork_backfill.apply.hooks import BatchHooks, inject

POINTS = ("after_update", "after_intent", "after_commit", "after_journal")


class CrashHooks(BatchHooks):
    def __init__(self, delay_s: float, kill_point: str | None, kill_batch: int | None) -> None:
        self.delay_s = delay_s
        self.kill_point = kill_point
        self.kill_batch = kill_batch

    def _at(self, point: str, batch: int) -> None:
        if point in ("after_intent", "after_commit") and self.delay_s:
            time.sleep(self.delay_s / 2)
        if self.kill_point == point and self.kill_batch == batch:
            os.kill(os.getpid(), signal.SIGKILL)

    def after_update(self, batch: int) -> None:
        self._at("after_update", batch)

    def after_intent(self, batch: int) -> None:
        self._at("after_intent", batch)

    def after_commit(self, batch: int) -> None:
        self._at("after_commit", batch)

    def after_journal(self, batch: int) -> None:
        self._at("after_journal", batch)


def parse(argv: list[str]) -> tuple[CrashHooks, list[str]]:
    delay_ms, point, batch = 0, None, None
    rest = list(argv)
    while rest and rest[0] != "--":
        option = rest.pop(0)
        if option == "--delay-ms":
            delay_ms = int(rest.pop(0))
        elif option == "--kill-at":
            point, _, number = rest.pop(0).partition(":")
            if point not in POINTS:
                raise SystemExit(f"--kill-at: unknown point {point!r} (one of {', '.join(POINTS)})")
            batch = int(number or "1")
        else:
            raise SystemExit(f"unknown option {option!r}; put the CLI's arguments after --")
    if rest:
        rest.pop(0)  # the "--"
    return CrashHooks(delay_ms / 1000, point, batch), rest


def main(argv: list[str]) -> int:
    hooks, cli_args = parse(argv)
    from artwork_backfill.cli.app import run

    with inject(hooks):
        return run(cli_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
