"""Settings read from the environment, with safe local defaults (SQLite file, eager Celery)."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. With DJANGO_DEBUG off a secret key is required: "
            "export DJANGO_SECRET_KEY to a long random string."
        )
    SECRET_KEY = "insecure-local-development-key-only-used-with-debug-on"  # noqa: S105
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "eventstore",
    "orders",
    "projections",
]

MIDDLEWARE = [
    # Outermost: answers Django gives before any view (oversized body, bad Host, CSRF) still
    # take the API's error shape.
    "common.http.middleware.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = "config.wsgi.application"

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.postgresql":
    # An idle open transaction holds every projection back (gap-safe reading waits for it),
    # so PostgreSQL ends such sessions rather than letting them stall the read side.
    _timeout_ms = env.int("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", default=60_000)
    _db.setdefault("OPTIONS", {})["options"] = (
        f"-c idle_in_transaction_session_timeout={_timeout_ms} -c statement_timeout=60000"
    )
    _db["OPTIONS"].setdefault("connect_timeout", 5)
    # Django turns psycopg's statement preparation off unless this is set; eventstore.sql's
    # hot-path statements ask for it (Django's own cursors bind client-side and never prepare).
    _db["OPTIONS"].setdefault("prepare_threshold", 5)
    _db.setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("TEST", {})["NAME"] = env.str(
        "DATABASE_TEST_NAME", default=f"test_{_db['NAME']}"
    )
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions serialize writers on SQLite, which makes position order gap-safe.
    _db.setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Request bodies above this size are refused with a 400 before they are parsed.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=256 * 1024)

# Requests per client address (anonymous) and per user; an empty value switches one off.
API_THROTTLE_RATES = {
    "anon": env.str("API_THROTTLE_ANON", default="60/minute") or None,
    "user": env.str("API_THROTTLE_USER", default="1200/minute") or None,
}

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so that anonymous requests get 401 with a WWW-Authenticate header.
        "common.http.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["common.http.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "common.http.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "common.http.throttling.AnonRateThrottle",
        "common.http.throttling.UserRateThrottle",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Event-sourced order service",
    "DESCRIPTION": "Commands append events to an append-only log; queries read projections.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "common.http.schema.blank_alternatives_as_any_of",
        "common.http.schema.strict_request_bodies",
        "orders.api.schema.exact_parameters_and_links",
    ],
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_TASK_ALWAYS_EAGER:
    CELERY_BROKER_URL = "memory://localhost/"  # never used: tasks run in-process
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# The catch-up is cheap, idempotent and frequent: take one message at a time. It is acknowledged
# as it starts: acknowledging after running bought nothing (a lost one is re-sent by the sweep,
# and Redis would redeliver it only after an hour), but a task still running when the broker
# went was acknowledged on the dead connection afterwards, and kombu 5.7 then raised an
# AttributeError that ended the worker.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A lost wake-up only delays the read side: beat sends the same catch-up every few seconds.
CELERY_BEAT_SCHEDULE = {
    "projections-catch-up": {
        "task": "projections.catch_up",
        "schedule": env.float("PROJECTION_SWEEP_SECONDS", default=3.0),
    },
    "orders-expire-idempotency-keys": {
        "task": "orders.expire_idempotency_keys",
        "schedule": 3600.0,
    },
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "socket_keepalive": True,
    # Also how overdue (beyond its 1 s) a consumer's BRPOP reply may be before kombu drops the
    # connection as half-open and reconnects (default 25 s: stale for up to ~50 s).
    "health_check_interval": 5,
}
# Workers and beat ride out a broker outage of any length: they try to reconnect for good, every
# few seconds (config.celery caps kombu's growing back-off), and catch up once it is back.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}

# --- Projections ----------------------------------------------------------------------------
PROJECTION_BATCH_SIZE = env.int("PROJECTION_BATCH_SIZE", default=500)
# After a full batch (far behind, e.g. a rebuild) batches grow to this many events.
PROJECTION_CATCHUP_BATCH_SIZE = env.int("PROJECTION_CATCHUP_BATCH_SIZE", default=10_000)
# A catch-up gives each projection this many batches in turn, so none waits behind another
# (1 keeps the lag of every projection low; a batch is up to PROJECTION_BATCH_SIZE events).
PROJECTION_BATCHES_PER_TURN = env.int("PROJECTION_BATCHES_PER_TURN", default=1)
# Order states a projector keeps in memory between its batches (per projection and thread).
PROJECTION_CACHED_ORDERS = env.int("PROJECTION_CACHED_ORDERS", default=20_000)
PROJECTION_MAX_ATTEMPTS = env.int("PROJECTION_MAX_ATTEMPTS", default=3)
PROJECTION_RETRY_BACKOFF_SECONDS = env.float("PROJECTION_RETRY_BACKOFF_SECONDS", default=1.0)
PROJECTION_STALLED_SECONDS = env.float("PROJECTION_STALLED_SECONDS", default=30.0)
PROJECTION_RETIRED_GRACE_SECONDS = env.float("PROJECTION_RETIRED_GRACE_SECONDS", default=60.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
