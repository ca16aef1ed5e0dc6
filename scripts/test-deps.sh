#!/usr/bin/env bash
# Installs the system packages the test suite starts for real, when missing.
# Idempotent: a second run does nothing but a few `command -v` / file checks.
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
# PostgreSQL's server binaries (tests/state_pg runs initdb and postgres from here).
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)
# setpriv starts the server as the postgres user when the tests run as root.
command -v setpriv >/dev/null || need+=(util-linux)
# node + npm run sops-age, an independent SOPS decoder that reads files we write.
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
# Debian's Chromium, driven by Playwright (tests/ui); browser downloads are not used.
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "missing packages: ${need[*]} (install them, or run as root)" >&2
    exit 1
  fi
fi
