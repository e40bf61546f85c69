#!/usr/bin/env bash
# Install, check PostgreSQL and Redis (starting them if this machine can), then run lint, type
# checks, the layering contracts (import-linter) and the whole test suite on PostgreSQL with a
# real Celery worker on Redis, and the suite again on SQLite (the embedded default).
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh" requirements-dev.txt
export DATABASE_URL=${DATABASE_URL:-postgres://root@127.0.0.1:5432/test}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
if ! CELERY_BROKER_URL=$TEST_REDIS_URL python scripts/check_services.py --quiet; then
  ./scripts/start_services.sh || true
fi
CELERY_BROKER_URL=$TEST_REDIS_URL python scripts/check_services.py
ruff check .
ruff format --check .
mypy eventstore orders projections common config
lint-imports --no-cache
python -m pytest "$@"
DATABASE_URL=sqlite:///:memory: python -m pytest -q -m "not postgres and not celery_worker and not faults" \
  tests/eventstore tests/orders tests/projections "$@"
