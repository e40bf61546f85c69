#!/usr/bin/env bash
# Mutation testing (mutmut, configured in pyproject.toml's [tool.mutmut]): change one line of
# the order domain or of the event store's public module at a time and check a test fails.
# Slow (minutes), so not part of scripts/test.sh. Results: docs/mutation.md.
#
#   ./scripts/mutation.sh domain   # orders/domain/ (the domain and property tests, no database)
#   ./scripts/mutation.sh store    # eventstore/store.py (the event store tests, on PostgreSQL)
#   ./scripts/mutation.sh all      # both (the default)
#
# MUTMUT_CHILDREN (default 1) mutants run at once. The event store tests need PostgreSQL: set
# DATABASE_URL (and DATABASE_TEST_NAME to keep the test database apart from other runs).
# Survivors afterwards: `mutmut results`, one of them: `mutmut show <name>`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh requirements-dev.txt
export DATABASE_URL=${DATABASE_URL:-postgres://root@127.0.0.1:5432/test}
case "${1:-all}" in
  domain) names=("orders.domain.*") ;;
  store) names=("eventstore.store.*") ;;
  all) names=() ;;
  *) echo "usage: $0 [domain|store|all]" >&2; exit 2 ;;
esac
mutmut run --max-children "${MUTMUT_CHILDREN:-1}" "${names[@]}"
mutmut results
