# Sourced by the other scripts: make sure uv is there (from PyPI) and, on a root Debian
# machine, the system packages the tests and demo use when they are missing.
set -eu
cd "$(dirname "$0")/.."
if ! python3 -m uv --version >/dev/null 2>&1; then
  python3 -m pip install -q --disable-pip-version-check uv 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --user uv 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --user --break-system-packages uv
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  pkgs=""
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || pkgs="$pkgs postgresql"
  if [ "${WANT_BROWSER:-0}" = 1 ] && [ ! -x /usr/bin/chromium ]; then pkgs="$pkgs chromium"; fi
  if [ -n "$pkgs" ]; then
    echo "installing Debian packages:$pkgs" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs) >&2 \
      || echo "warning: could not install$pkgs (PostgreSQL falls back to the pgserver wheel)" >&2
  fi
fi
