#!/usr/bin/env bash
# Run the service as production does, on this machine, without containers: gunicorn (web),
# a Celery worker (projections), a Celery worker of threads for the queue "integrations"
# (webhooks and Python subscribers: a slow receiver holds a thread of its own, never the
# projections) and Celery beat, on PostgreSQL and Redis. Ctrl-C (or SIGTERM) stops all four;
# if one of them dies, the others are stopped too. `make serve` runs this.
#   DATABASE_URL       default postgres://root@127.0.0.1:5432/orders
#   CELERY_BROKER_URL  default redis://127.0.0.1:6379/0
#   PORT, HOST         default 8000, 127.0.0.1
# Plain HTTP on this machine: the HTTPS redirect and secure cookies are off unless set.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh" requirements.txt
export DATABASE_URL=${DATABASE_URL:-postgres://root@127.0.0.1:5432/orders}
export CELERY_BROKER_URL=${CELERY_BROKER_URL:-redis://127.0.0.1:6379/0}
export DJANGO_DEBUG=${DJANGO_DEBUG:-false}
export DJANGO_SECRET_KEY=${DJANGO_SECRET_KEY:-local-serve-$(python -c 'import secrets; print(secrets.token_urlsafe(40))')}
export DJANGO_SECURE_SSL_REDIRECT=${DJANGO_SECURE_SSL_REDIRECT:-false}
export DJANGO_SESSION_COOKIE_SECURE=${DJANGO_SESSION_COOKIE_SECURE:-false}
export DJANGO_CSRF_COOKIE_SECURE=${DJANGO_CSRF_COOKIE_SECURE:-false}
export HOST=${HOST:-127.0.0.1} PORT=${PORT:-8000}
state=${SERVE_STATE_DIR:-$(mktemp -d -t orders-serve.XXXXXX)}
# Every process of the service counts its metrics here; /metrics adds them up. Emptied at start:
# the files of processes from an earlier run would be counted again.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$state/metrics}
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

python scripts/check_services.py
python manage.py migrate --noinput
python manage.py collectstatic --noinput >/dev/null

pids=()
stop() {
  trap - INT TERM EXIT
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT
gunicorn -c config/gunicorn.py config.wsgi &
pids+=($!)
celery -A config worker --concurrency "${CELERY_CONCURRENCY:-2}" --loglevel INFO &
pids+=($!)
celery -A config worker -Q integrations -n integrations@%h --pool threads --concurrency "${INTEGRATIONS_CONCURRENCY:-8}" --loglevel INFO &
pids+=($!)
celery -A config beat --schedule "$state/celerybeat-schedule" --loglevel INFO &
pids+=($!)

url="http://$HOST:$PORT"
[ "$HOST" = 0.0.0.0 ] && url="http://127.0.0.1:$PORT"
cat <<MSG
Serving (web pid ${pids[0]}, worker pid ${pids[1]}, integrations worker pid ${pids[2]}, beat pid ${pids[3]}):
  API docs   $url/api/docs/
  admin      $url/admin/
  health     $url/healthz  $url/readyz  $url/metrics
Stop with Ctrl-C.
MSG
# The first of the four to end brings the others down.
wait -n "${pids[@]}"
