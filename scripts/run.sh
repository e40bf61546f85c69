#!/usr/bin/env bash
# Install, migrate, load demo data, create an admin with a fresh password, and serve on
# HOST:PORT (default 127.0.0.1:8000), printing the URLs it serves.
# Embedded default: SQLite file db.sqlite3 and Celery tasks run eagerly (no broker needed).
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh" requirements.txt
host=${HOST:-127.0.0.1}
port=${PORT:-8000}
shown=$host
case $host in 0.0.0.0 | "::" | "[::]") shown=127.0.0.1 ;; *:*) shown="[$host]" ;; esac
python manage.py migrate --noinput
if [ "${DJANGO_DEBUG:-true}" = false ]; then
  python manage.py collectstatic --noinput >/dev/null  # served by the app (WhiteNoise) then
fi
python manage.py seed_demo
python manage.py create_admin --base-url "http://$shown:$port"
exec python manage.py runserver "$host:$port"
