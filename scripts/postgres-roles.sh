#!/usr/bin/env bash
# Create (or correct) the PostgreSQL roles of geodispatch's least-privilege set-up, idempotently:
# geodispatch_owner (NOLOGIN: owns the schema; migrations act as it) and geodispatch_app (LOGIN:
# what the service connects as; not a superuser, not the owner). `make test-deps` runs it for the
# local cluster, whose PostGIS test runs use these roles (tests/conftest.py); for a production
# database run `geodispatch db roles` instead, which also hands that database to the owner
# (docs/operations.md, "Database roles").
set -euo pipefail
cd "$(dirname "$0")/.."
admin_url=${TEST_POSTGIS_ADMIN_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}
.venv/bin/geodispatch db roles --roles-only --admin-url "$admin_url" \
  --owner "${GEODISPATCH_OWNER_ROLE:-geodispatch_owner}" --app "${GEODISPATCH_APP_ROLE:-geodispatch_app}"
