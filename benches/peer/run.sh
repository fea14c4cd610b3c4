#!/usr/bin/env bash
# The peer comparison, from a fresh machine: installs Redis and PostgreSQL
# from Debian's packages if missing, the Python clients into .venv, then
# runs benches/peer/peer.py with the given arguments (e.g. --quick).
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
command -v redis-server >/dev/null || need+=(redis-server)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} from Debian's packages"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian keeps the PostgreSQL server tools out of PATH.
for d in /usr/lib/postgresql/*/bin; do [ -d "$d" ] && PATH="$PATH:$d"; done
export PATH
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q redis "psycopg[binary]" matplotlib
exec .venv/bin/python benches/peer/peer.py "$@"
