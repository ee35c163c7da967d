#!/usr/bin/env bash
# Make sure the local PostgreSQL answers on $PGHOST:$PGPORT; start the Debian cluster if not.
set -euo pipefail
host=${PGHOST:-127.0.0.1}
port=${PGPORT:-5432}
pg_isready -q -h "$host" -p "$port" && exit 0
if [ "$(id -u)" -eq 0 ] && command -v pg_ctlcluster >/dev/null; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "Starting PostgreSQL $version (cluster main)"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do pg_isready -q -h "$host" -p "$port" && exit 0; sleep 1; done
fi
echo "PostgreSQL is not answering on $host:$port." >&2
echo "Start it with:  pg_ctlcluster --skip-systemctl-redirect 15 main start   (as root)" >&2
echo "or point TEST_POSTGIS_ADMIN_URL at a server with PostGIS available." >&2
exit 1
