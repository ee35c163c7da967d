#!/usr/bin/env bash
# Back up a geodispatch PostGIS database to one file: pg_dump's custom format (compressed,
# restorable with scripts/db-restore.sh), taken in one snapshot, so it is consistent while the
# service keeps writing. Ownership and grants are left out: the set-up gives them again.
# Usage: scripts/db-backup.sh DATABASE_URL FILE
#   DATABASE_URL as the service takes it (postgresql+psycopg://user@host:port/db) or a libpq URL.
# The dump is written beside FILE and renamed to it only once pg_restore can read it back.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 DATABASE_URL FILE" >&2
  exit 2
fi
url=${1/#postgresql+psycopg:/postgresql:}
out=$2
partial="$out.partial"
trap 'rm -f "$partial"' EXIT
pg_dump --format=custom --no-owner --no-privileges --file="$partial" "$url"
pg_restore --list "$partial" >/dev/null
mv "$partial" "$out"
trap - EXIT
revision=$(psql "$url" -Atc "SELECT version_num FROM alembic_version")
echo "backed up to $out ($(du -h "$out" | cut -f1), schema revision $revision)"
