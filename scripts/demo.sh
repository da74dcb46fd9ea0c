#!/bin/sh
# The whole flow on embedded defaults: throwaway PostgreSQL + LML simulator, nothing to configure.
. "$(dirname "$0")/bootstrap.sh"
exec python3 -m uv run --locked --extra demo artwork-backfill demo "$@"
