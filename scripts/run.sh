#!/usr/bin/env bash
# Install, migrate, load demo data, create an admin with a fresh password, and serve on :8000.
# Embedded default: SQLite file db.sqlite3 and Celery tasks run eagerly (no broker needed).
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh" requirements.txt
python manage.py migrate --noinput
python manage.py seed_demo
python manage.py create_admin
exec python manage.py runserver "${HOST:-127.0.0.1}:${PORT:-8000}"
