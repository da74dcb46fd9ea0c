"""Entry point: the only place that calls sys.exit."""

from __future__ import annotations

import sys


def main() -> None:
    from artwork_backfill.cli.app import run

    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
