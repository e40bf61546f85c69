#!/usr/bin/env bash
# Install, check PostgreSQL and Redis (starting them if this machine can) and Chromium (for the
# back office's browser test), then run lint, type checks, the layering contracts
# (import-linter) and the whole test suite on PostgreSQL with a real Celery worker on Redis,
# and the suite again on SQLite (the embedded default).
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh" requirements-dev.txt
# The back office's browser test drives Debian's headless Chromium; install it when missing
# (nothing is downloaded at test time: Selenium is told to use these binaries).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "Installing chromium and chromium-driver for the browser test (apt-get)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi
export DATABASE_URL=${DATABASE_URL:-postgres://root@127.0.0.1:5432/test}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
if ! CELERY_BROKER_URL=$TEST_REDIS_URL python scripts/check_services.py --quiet; then
  ./scripts/start_services.sh || true
fi
CELERY_BROKER_URL=$TEST_REDIS_URL python scripts/check_services.py
ruff check .
ruff format --check .
mypy eventstore orders projections common config ops backoffice
lint-imports --no-cache
python -m pytest "$@"
DATABASE_URL=sqlite:///:memory: python -m pytest -q -m "not postgres and not celery_worker and not faults and not browser" \
  tests/eventstore tests/orders tests/projections tests/backoffice "$@"
