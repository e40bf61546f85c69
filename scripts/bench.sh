#!/usr/bin/env bash
# Benchmarks against the local PostgreSQL server (BENCH_PG_SERVER, default
# postgres://root@127.0.0.1:5432); each drops and recreates its own database at start.
# Arguments go to bench.append, e.g. scripts/bench.sh --seconds 2 --rounds 3 --breakdown
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh" requirements-dev.txt
python -m bench.append "$@"
