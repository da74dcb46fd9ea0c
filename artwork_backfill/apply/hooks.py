"""The injection seam at the moments of a batch that matter for crash consistency.

`BatchHooks` is a set of no-op callbacks the batch writer calls at each point of a batch:
after the UPDATE (nothing is durable yet), after the intent is stored (before COMMIT), after
COMMIT (before the journal write) and after the journal write; and once when the run's
session is open (`on_session`, where a test reads the session's settings through the same
connection). The product never does anything
there; a test injects its own subclass, either as `run_apply(..., hooks=...)` /
`run_undo(..., hooks=...)`, or, for a command run through the CLI, with `inject(hooks)`
around the call (the runs pick up `injected()` when no hooks are passed).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg


class BatchHooks:
    """No-op callbacks at the points of batch number `batch` (1-based); override any of them."""

    def on_session(self, conn: psycopg.Connection) -> None:
        """The run's session is open with its settings, before any batch (execute and dry run)."""

    def after_update(self, batch: int) -> None:
        """The UPDATE ran; its transaction is open and nothing is stored anywhere yet."""

    def after_intent(self, batch: int) -> None:
        """The intent is stored durably in the cache; Postgres has not committed yet."""

    def after_commit(self, batch: int) -> None:
        """Postgres committed; the intent is still open, the journal does not have the rows."""

    def after_journal(self, batch: int) -> None:
        """The rows are journaled and the intent is closed."""


NO_HOOKS = BatchHooks()
_injected: list[BatchHooks] = []


@contextmanager
def inject(hooks: BatchHooks) -> Iterator[BatchHooks]:
    """While inside, runs that were given no hooks use `hooks` (innermost wins)."""
    _injected.append(hooks)
    try:
        yield hooks
    finally:
        _injected.remove(hooks)


def injected() -> BatchHooks:
    """The hooks `inject` put in place, or the no-op ones."""
    return _injected[-1] if _injected else NO_HOOKS


__all__ = ["NO_HOOKS", "BatchHooks", "inject", "injected"]
