#!/usr/bin/env bash
# Install, check PostgreSQL and Redis (starting them if this machine can), Chromium (for the
# back office's browser test) and promtool (for the alert rules), then run lint, type checks,
# the layering contracts (import-linter) and the whole test suite on PostgreSQL with a real
# Celery worker on Redis, the API tests and the worker-kill fault test again through a private
# PgBouncer in transaction mode, and the suite again on SQLite (the embedded default).
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh" requirements-dev.txt
# The back office's browser test drives Debian's headless Chromium; install it when missing
# (nothing is downloaded at test time: Selenium is told to use these binaries).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "Installing chromium and chromium-driver for the browser test (apt-get)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# PgBouncer in transaction mode (DATABASE_POOL_MODE=transaction, docs/scaling.md): Debian's
# pgbouncer, installed when missing; scripts/with_pgbouncer.sh runs a private one.
if ! command -v pgbouncer >/dev/null; then
  echo "Installing pgbouncer for the transaction-mode pass (apt-get)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq pgbouncer >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq pgbouncer >/dev/null; }
fi
# promtool checks the shipped alert rules (ops/alerts.yml) and runs their cases: taken from
# Debian's prometheus package, unpacked (not installed: no service starts) into a cache kept
# across runs. Without it that test is skipped and the rules are only parsed.
promtool_cache=${XDG_CACHE_HOME:-$HOME/.cache}/orders-service/promtool
if ! command -v promtool >/dev/null && [ ! -x "$promtool_cache/promtool" ]; then
  echo "Unpacking promtool from Debian's prometheus package (apt-get download)..." >&2
  unpack=$(mktemp -d)
  if (cd "$unpack" && { apt-get download -qq prometheus 2>/dev/null \
        || { apt-get update -qq && apt-get download -qq prometheus; }; } \
      && dpkg -x prometheus_*.deb .) >/dev/null 2>&1; then
    mkdir -p "$promtool_cache" && mv "$unpack/usr/bin/promtool" "$promtool_cache/"
  else
    echo "promtool unavailable: the alert rules are parsed, not checked by promtool" >&2
  fi
  rm -rf "$unpack"
fi
if ! command -v promtool >/dev/null && [ -x "$promtool_cache/promtool" ]; then
  export PROMTOOL=$promtool_cache/promtool
fi
export DATABASE_URL=${DATABASE_URL:-postgres://root@127.0.0.1:5432/test}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
if ! CELERY_BROKER_URL=$TEST_REDIS_URL python scripts/check_services.py --quiet; then
  ./scripts/start_services.sh || true
fi
CELERY_BROKER_URL=$TEST_REDIS_URL python scripts/check_services.py
ruff check .
ruff format --check .
mypy eventstore orders projections common config ops backoffice integrations
lint-imports --no-cache
python -m pytest "$@"
# Through a private PgBouncer in transaction mode: the API tests (in-process, and the contract's
# fuzzing with fewer examples than above: what is checked here is that nothing leans on a server
# session) and workers SIGKILLed under commands: nothing lost, doubled or stuck.
FUZZ_EXAMPLES=10 FUZZ_STATEFUL_EXAMPLES=5 ./scripts/with_pgbouncer.sh \
  python -m pytest --reuse-db -q tests/api tests/orders/test_api.py tests/faults/test_worker_kills.py "$@"
DATABASE_URL=sqlite:///:memory: python -m pytest -q -m "not postgres and not celery_worker and not faults and not browser" \
  tests/eventstore tests/orders tests/projections tests/backoffice "$@"
