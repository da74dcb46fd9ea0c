#!/bin/sh
# The whole flow on embedded defaults: throwaway PostgreSQL + LML simulator, nothing to configure.
# Runtime dependencies and the demo extra only: no test or lint tool is installed for it.
. "$(dirname "$0")/bootstrap.sh"
exec python3 -m uv run --locked --no-dev --extra demo artwork-backfill demo "$@"
