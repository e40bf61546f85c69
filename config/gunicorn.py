"""gunicorn's settings for config.wsgi (``gunicorn -c config/gunicorn.py config.wsgi``).

Threads, not a process per request: each worker process keeps GUNICORN_THREADS threads, each
with one persistent database connection (CONN_MAX_AGE), so a web instance holds at most
WEB_CONCURRENCY x GUNICORN_THREADS connections to PostgreSQL, and clients keep connections
alive. Read-your-writes waits (up to 30 s) hold a thread, hence the timeout above that.
"""

import os
import tempfile

# Every worker process counts its metrics in this directory and /metrics adds them all up
# (common.metrics). scripts/serve.sh and docker-compose share one with the Celery worker;
# otherwise the web instance gets a fresh one of its own.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="orders-metrics-")

# Its processes serve web requests: their database calls get the web role's limits
# (common.postgresql.roles; settings DB_WEB_*).
raw_env = ["DATABASE_ROLE=web"]
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gthread, with /healthz answered by threads of its own: liveness never waits behind busy
# request threads (ops.web_worker).
worker_class = "ops.web_worker.ProbeLaneThreadWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# gunicorn's control socket has one default path per user: a second instance on the machine
# (a benchmark next to `make serve`) would take it over. Signals do the same job.
control_socket_disable = True
# The app logs each request as a structured line itself (ops.middleware); gunicorn's own lines
# go to stderr in the same format.
accesslog = None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "main": {
            "()": "ops.logs.formatter",
            "json": os.environ.get("LOG_FORMAT", "json") == "json",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "main"}},
    "loggers": {"gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
