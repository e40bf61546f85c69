#!/usr/bin/env bash
# Benchmarks against the local PostgreSQL server (BENCH_PG_SERVER, default
# postgres://root@127.0.0.1:5432) and Redis; each drops and recreates its own database.
#   scripts/bench.sh                 all of them, one after the other
#   scripts/bench.sh append [args]   one of: append, commands, catchup, lag, web, scale, feed,
#                                    shards (catch-up on 1 vs 2 workers, lag on 4 shards),
#                                    streams
#                                    (args go to it; web and scale run gunicorn and workers),
#                                    or admin, admin_indexes (the back office; not in "all"),
#                                    or webhooks (deliveries/s to a local receiver; not in "all"),
#                                    or faults (PostgreSQL frozen, starving readers, on a
#                                    private cluster it makes; not in "all")
# Results: docs/benchmarks.md (by hand, with the date) and bench/results/ (JSON, not committed).
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh" requirements-dev.txt
export DJANGO_DEBUG=false DJANGO_SECRET_KEY=${DJANGO_SECRET_KEY:-bench-only-secret}
if [ $# -gt 0 ]; then
  name=$1
  shift
  exec python -m "bench.$name" "$@"
fi
for name in append commands catchup lag web scale feed shards; do
  python -m "bench.$name"
done
