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
  if [ "${WANT_BROWSER:-0}" = 1 ]; then
    # the browser tests drive Chromium through Selenium and Debian's matching chromedriver
    [ -x /usr/bin/chromium ] || pkgs="$pkgs chromium"
    [ -x /usr/bin/chromedriver ] || pkgs="$pkgs chromium-driver"
  fi
  if [ -n "$pkgs" ]; then
    echo "installing Debian packages:$pkgs" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs) >&2 \
      || echo "warning: could not install$pkgs (PostgreSQL falls back to the pgserver wheel)" >&2
  fi
fi
# Importing pgserver (the `demo` extra) asks platformdirs for the user's runtime directory; where
# no login session set XDG_RUNTIME_DIR (a container, cron, ssh without systemd), platformdirs
# warns (RuntimeDirWarning) and falls back to one of its own. Name a private one, as a session would.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  for run_dir in "/run/user/$(id -u)" "${TMPDIR:-/tmp}/artwork-backfill-runtime-$(id -u)"; do
    case "$run_dir" in /run/*) ;; *) mkdir -m 700 "$run_dir" 2>/dev/null || true ;; esac
    if [ -d "$run_dir" ] && [ ! -L "$run_dir" ] && [ -O "$run_dir" ] \
      && [ "$(stat -c %a "$run_dir" 2>/dev/null)" = 700 ]; then
      export XDG_RUNTIME_DIR="$run_dir"
      break
    fi
  done
fi
