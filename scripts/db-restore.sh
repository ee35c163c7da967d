#!/usr/bin/env bash
# Restore a backup made by scripts/db-backup.sh into a new, empty PostGIS database, in one
# transaction: any error restores nothing. A database that already has tables is refused:
# restoring over live data is never what was meant.
# Usage: scripts/db-restore.sh FILE DATABASE_URL
#   DATABASE_URL of the new database (CREATE DATABASE, then CREATE EXTENSION postgis in it), as a
#   superuser or the login that runs the migrations; then `geodispatch db roles` gives the
#   objects to the owner and the service's role its privileges (docs/operations.md).
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 FILE DATABASE_URL" >&2
  exit 2
fi
file=$1
url=${2/#postgresql+psycopg:/postgresql:}
if ! pg_restore --list "$file" >/dev/null 2>&1; then
  echo "$file is not a backup made by scripts/db-backup.sh (pg_restore cannot read it)" >&2
  exit 1
fi
if [ "$(psql "$url" -Atc "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'")" != 1 ]; then
  echo "the database has no PostGIS: run CREATE EXTENSION postgis in it first" >&2
  exit 1
fi
tables=$(psql "$url" -Atc "SELECT count(*) FROM pg_tables
  WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND tablename <> 'spatial_ref_sys'")
if [ "$tables" != 0 ]; then
  echo "refusing to restore: the database already has $tables tables; restore into a new one" >&2
  exit 1
fi
# The extension and PostGIS's own spatial_ref_sys rows are the new database's already (and
# only a superuser may replace them), so the owner's login can restore the rest.
contents=$(mktemp)
trap 'rm -f "$contents"' EXIT
pg_restore --list "$file" | grep -v -e ' EXTENSION ' -e ' spatial_ref_sys ' >"$contents"
pg_restore --exit-on-error --single-transaction --no-owner --no-privileges \
  --use-list="$contents" --dbname="$url" "$file"
revision=$(psql "$url" -Atc "SELECT version_num FROM alembic_version")
echo "restored $file (schema revision $revision)"
