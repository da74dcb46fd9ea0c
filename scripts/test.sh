#!/bin/sh
# Run the whole test suite on a fresh machine: installs what it needs, then pytest.
WANT_BROWSER=1
. "$(dirname "$0")/bootstrap.sh"
exec python3 -m uv run --locked --extra demo pytest "$@"
