#!/usr/bin/env bash
# Run a command with DATABASE_URL pointing at a private PgBouncer in transaction mode, in front
# of the PostgreSQL server DATABASE_URL names (the shared one is never touched otherwise).
#
#   ./scripts/with_pgbouncer.sh python -m pytest tests/api
#
# PgBouncer (Debian's pgbouncer, 1.18) listens on a free port of its own, from a pgbouncer.ini
# written to a temporary folder, as a foreground process run by the nobody user (it refuses to
# run as root); it is stopped when the command ends. The command runs with
# DATABASE_POOL_MODE=transaction (config/settings.py: nothing session-scoped) and its own test
# database (DATABASE_TEST_NAME + "_pgbouncer"), created through PgBouncer and dropped directly
# on the server afterwards: PgBouncer keeps idle server connections to it, which would make
# Django's own DROP DATABASE fail, so run pytest with --reuse-db here.
set -euo pipefail
command -v pgbouncer >/dev/null || { echo "pgbouncer is not installed (apt-get install pgbouncer)" >&2; exit 2; }
: "${DATABASE_URL:?DATABASE_URL must name the PostgreSQL server}"

# host, port, user, password, database and a free port, from the URL (Python parses it).
read -r pg_host pg_port pg_user pg_password pg_name bouncer_port < <(python - <<'EOF'
import os, socket
from urllib.parse import unquote, urlparse
url = urlparse(os.environ["DATABASE_URL"])
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
print(url.hostname or "127.0.0.1", url.port or 5432, unquote(url.username or "root"),
      unquote(url.password or "") or "-", url.path.lstrip("/") or "postgres", port)
EOF
)
[ "$pg_password" = "-" ] && pg_password=""
test_name=${DATABASE_TEST_NAME:-test_$pg_name}_pgbouncer

dir=$(mktemp -d -t pgbouncer-XXXXXX)
chmod 755 "$dir"
cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=$pg_host port=$pg_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 500
default_pool_size = 40
; What transaction mode needs of the service (docs/scaling.md): it sends no startup options,
; prepares no statements (1.18 cannot carry them between clients; from 1.21 on,
; max_prepared_statements could), holds no session locks and never LISTENs.
server_reset_query =
; PgBouncer ends a client's transaction left idle (the service's idle_in_transaction_session_timeout
; cannot be a session setting here).
idle_transaction_timeout = 60
server_idle_timeout = 30
log_connections = 0
log_disconnections = 0
EOF
printf '"%s" "%s"\n' "$pg_user" "$pg_password" >"$dir/userlist.txt"
chmod 644 "$dir/pgbouncer.ini" "$dir/userlist.txt"

as_user=()
[ "$(id -u)" = 0 ] && as_user=(-u nobody)
pgbouncer "${as_user[@]}" "$dir/pgbouncer.ini" >"$dir/pgbouncer.log" 2>&1 &
bouncer=$!

drop_test_database() {
  PGPASSWORD=$pg_password PGOPTIONS="-c client_min_messages=warning" psql -X -q -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres \
    -c "DROP DATABASE IF EXISTS \"$test_name\" WITH (FORCE)" >/dev/null
}
finish() {
  kill "$bouncer" 2>/dev/null || true
  wait "$bouncer" 2>/dev/null || true
  drop_test_database || true
  rm -rf "$dir"
}
trap finish EXIT

for _ in $(seq 100); do
  if PGPASSWORD=$pg_password psql -X -q -h 127.0.0.1 -p "$bouncer_port" -U "$pg_user" -d postgres \
      -c "SELECT 1" >/dev/null 2>&1; then
    break
  fi
  kill -0 "$bouncer" 2>/dev/null || { cat "$dir/pgbouncer.log" >&2; exit 1; }
  sleep 0.1
done
drop_test_database

auth=$pg_user
[ -n "$pg_password" ] && auth="$pg_user:$(python -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$pg_password")"
echo "PgBouncer (transaction mode) on 127.0.0.1:$bouncer_port in front of $pg_host:$pg_port" >&2
DATABASE_URL="postgres://$auth@127.0.0.1:$bouncer_port/$pg_name" \
DATABASE_POOL_MODE=transaction \
DATABASE_TEST_NAME=$test_name \
  "$@"
