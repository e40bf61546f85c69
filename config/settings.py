"""Settings read from the environment, with safe local defaults (SQLite file, eager Celery)."""

from pathlib import Path
from typing import Any

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
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # The Django admin with the back office's site (dashboard index, stream timelines).
    "backoffice.apps.BackOfficeAdminConfig",
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
    "ops",
    "eventstore",
    "orders",
    "projections",
    "integrations",
    "backoffice.apps.BackOfficeConfig",
    "axes",
]

MIDDLEWARE = [
    # /healthz, /readyz and /metrics answer before the host check and the HTTPS redirect:
    # probes and scrapers call by IP over plain HTTP (ops.probes says who may scrape).
    "ops.middleware.ProbeMiddleware",
    # Request and correlation ids for every log line, the request's log line and latency
    # (outside the error shape below, so that it logs and times the final answer).
    "ops.middleware.RequestObservationMiddleware",
    # Answers Django gives before any view (oversized body, bad Host, CSRF) still take the
    # API's error shape.
    "common.http.middleware.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "common.http.csp.ContentSecurityPolicyMiddleware",  # no inline script or style anywhere
    # Static files from STATIC_ROOT (filled by collectstatic), by the app itself.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out login attempt.
    "axes.middleware.AxesMiddleware",
]

# --- Staff logins (django-axes) ---------------------------------------------------------------
# Axes first: a locked-out username is refused before its password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
# After this many failed admin logins for one username from one address, that pair is locked
# out for AXES_COOLOFF_MINUTES (a username alone would let anyone lock a colleague out).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_MINUTES", default=15.0) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# And after this many failed admin logins from one address, whatever the usernames, that
# address is locked out too (one wrong password for each of many usernames; backoffice.logins).
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=20)
AXES_HANDLER = "backoffice.logins.PerAddressLimitHandler"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
# Behind N trusted reverse proxies, the client is the N-th address from the right of
# X-Forwarded-For (common.http.clients); 0: REMOTE_ADDR. Admin logins and the API's throttles
# count against it.
LOGIN_THROTTLE_PROXY_COUNT = env.int("LOGIN_THROTTLE_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "common.http.clients.client_address"

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
# "session": DATABASE_URL is PostgreSQL itself or a pooler in session mode. "transaction": a
# pooler in transaction mode (PgBouncer's pool_mode=transaction) hands each transaction to any
# server connection, so the service relies on nothing session-scoped: no startup options, no
# server-side prepared statements, no LISTEN, no session advisory locks (docs/scaling.md).
DATABASE_POOL_MODE = env.str("DATABASE_POOL_MODE", default="session")
if DATABASE_POOL_MODE not in ("session", "transaction"):
    raise ValueError("DATABASE_POOL_MODE must be 'session' or 'transaction'")
# Query endpoints read the read models on this replica (common.routing); nothing else does.
_replica_url = env.str("DATABASE_REPLICA_URL", default="")
if _replica_url:
    DATABASES["replica"] = env.db_url_config(_replica_url)
DATABASE_ROUTERS = ["common.routing.ReplicaRouter"]


def _postgres(db: dict[str, Any], *, pooled: bool) -> None:
    """The options of a PostgreSQL connection (``pooled``: through a transaction-mode pooler)."""
    options = db.setdefault("OPTIONS", {})
    if not pooled:
        # An idle open transaction holds every projection back (gap-safe reading waits for
        # it), so PostgreSQL ends such sessions rather than letting them stall the read side.
        # (Behind a pooler its idle_transaction_timeout does this: docs/scaling.md.)
        timeout_ms = env.int("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", default=60_000)
        options["options"] = f"-c idle_in_transaction_session_timeout={timeout_ms}"
    # Django turns psycopg's statement preparation off unless this is set; common.db.fetch's
    # hot-path statements ask for it (Django's own cursors bind client-side and never prepare).
    # A transaction-mode pooler cannot keep a prepared statement for the next transaction.
    options["prepare_threshold"] = None if pooled else options.get("prepare_threshold", 5)
    if pooled:
        # QuerySet.iterator() (the log's export, the dashboard's sums) would open a server-side
        # cursor, WITH HOLD outside a transaction: it lives in the session. Without one the
        # rows come in chunks from the client-side cursor.
        db["DISABLE_SERVER_SIDE_CURSORS"] = True
    # Persistent connections suit gunicorn's fixed threads (one connection per thread, so
    # WEB_CONCURRENCY x GUNICORN_THREADS per web instance). runserver starts a thread per
    # request, and each kept its connection open: in development connections are not kept.
    db.setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=0 if DEBUG else 60))
    db["CONN_HEALTH_CHECKS"] = True
    # --- Every database call bounded, per role of process (common.postgresql) --------------
    # web: gunicorn / runserver; worker: the Celery worker; maintenance: anything else
    # (migrate, rebuild, import, a shell). Statement and lock timeouts in ms, 0: none; a web
    # or worker call is also given up client-side 1 s after its statement timeout (a hung
    # server ignores its own timers), the connection closed and the request answered 503.
    # Behind a transaction-mode pooler the server-side two are the database role's settings
    # (ALTER ROLE ... SET): a session setting would outlive the transaction.
    db["ENGINE"] = "common.postgresql"
    options["session_limits"] = not pooled
    options["limits"] = {
        role: {
            "statement_timeout": env.int(f"DB_{role.upper()}_STATEMENT_TIMEOUT_MS", default=st),
            "lock_timeout": env.int(f"DB_{role.upper()}_LOCK_TIMEOUT_MS", default=lock),
        }
        for role, st, lock in (
            ("web", 5_000, 3_000),
            ("worker", 60_000, 30_000),
            ("maintenance", 0, 60_000),
        )
    }
    options.setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=3))
    # A dead peer or a cut network (not a hung server: its kernel still answers) is noticed
    # by TCP within seconds rather than the system's two hours.
    options.setdefault("keepalives", 1)
    options.setdefault("keepalives_idle", 10)
    options.setdefault("keepalives_interval", 5)
    options.setdefault("keepalives_count", 3)
    options.setdefault("tcp_user_timeout", env.int("DB_TCP_USER_TIMEOUT_MS", default=15_000))


if _db["ENGINE"] == "django.db.backends.postgresql":
    _postgres(_db, pooled=DATABASE_POOL_MODE == "transaction")
    _db.setdefault("TEST", {})["NAME"] = env.str(
        "DATABASE_TEST_NAME", default=f"test_{_db['NAME']}"
    )
    if "replica" in DATABASES:
        # The replica is reached directly, or through its own pooler in the same mode.
        _postgres(DATABASES["replica"], pooled=DATABASE_POOL_MODE == "transaction")
        # Tests read the test database through the alias: no second test database.
        DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions serialize writers on SQLite, which makes position order gap-safe.
    _db.setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
# Dates and times on staff pages: 2024-03-01 10:05:07 UTC (backoffice/formats/en/formats.py).
FORMAT_MODULE_PATH = ["backoffice.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Production: hashed names (cached for good by browsers) and gzip, from collectstatic.
    # Development: runserver serves the apps' files as they are, no collectstatic needed.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- HTTPS and cookies (on unless DEBUG; each can be turned off behind a special proxy) ------
# gunicorn sets the request's scheme from X-Forwarded-Proto when the proxy's address is in
# FORWARDED_ALLOW_IPS (default: loopback). Set DJANGO_SECURE_PROXY_SSL_HEADER (e.g.
# HTTP_X_FORWARDED_PROTO) only when another server is in front and always sets that header.
_proxy_ssl_header = env.str("DJANGO_SECURE_PROXY_SSL_HEADER", default="")
SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header, "https") if _proxy_ssl_header else None
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# The browsers' preload list is a commitment for the whole domain: an operator's choice.
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)

# Request bodies above this size are refused with a 400 before they are parsed.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=256 * 1024)

# Requests per client address (anonymous) and per user, and failed token authentications per
# client address (past it, every token from there is refused for a while: 429); an empty
# value switches one off.
API_THROTTLE_RATES = {
    "anon": env.str("API_THROTTLE_ANON", default="60/minute") or None,
    "user": env.str("API_THROTTLE_USER", default="1200/minute") or None,
    "auth_failures": env.str("API_THROTTLE_AUTH_FAILURES", default="20/minute") or None,
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
    # JSON in, JSON out: no browsable HTML; an Accept it can't meet still gets JSON.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "common.http.negotiation.JSONFirstNegotiation",
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
    # Several answers have a field named "status", each with its own choices: this one's name.
    "ENUM_NAME_OVERRIDES": {
        "WebhookStatusEnum": "integrations.models.WebhookStatus",
        "ProjectionStatusEnum": ["running", "stalled", "failed", "rebuilding"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "common.http.schema.blank_alternatives_as_any_of",
        "common.http.schema.strict_request_bodies",
        "orders.api.schema.exact_parameters_and_links",
        "common.http.negotiation.format_parameter",
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

# --- Orders (orders.snapshots) ---------------------------------------------------------------
# A snapshot of an order's state is written (after the command commits) once a command's load
# had to fold this many events or more past the latest snapshot (0: never). 20: a command on a
# 10,000-event order then costs x1.29-1.49 of one on a fresh order over three runs (x1.29-1.62
# at 50, x1.45-2.07 at 100: docs/benchmarks.md), the target being x1.5. Orders shorter than that
# (nearly all) never get one, and a long order keeps its latest and about one per 1,000
# versions (orders.snapshots.KEEP_ONE_PER): a snapshot row written per 20 events, few kept.
ORDER_SNAPSHOT_EVERY = env.int("ORDER_SNAPSHOT_EVERY", default=20)

# --- Projections ----------------------------------------------------------------------------
PROJECTION_BATCH_SIZE = env.int("PROJECTION_BATCH_SIZE", default=500)
# After a full batch (far behind, e.g. a rebuild) batches grow to this many events.
PROJECTION_CATCHUP_BATCH_SIZE = env.int("PROJECTION_CATCHUP_BATCH_SIZE", default=10_000)
# A catch-up gives each projection this many batches in turn, so none waits behind another
# (1 keeps the lag of every projection low; a batch is up to PROJECTION_BATCH_SIZE events).
PROJECTION_BATCHES_PER_TURN = env.int("PROJECTION_BATCHES_PER_TURN", default=1)
# Order states a projector keeps in memory between its batches (per projection and thread).
PROJECTION_CACHED_ORDERS = env.int("PROJECTION_CACHED_ORDERS", default=20_000)
# A worker's claim on a projection's (or any follower's) cursor lasts this long unless a batch
# renews it: a worker that dies (or hangs) is replaced after at most this long.
PROJECTION_LEASE_SECONDS = env.float("PROJECTION_LEASE_SECONDS", default=30.0)
PROJECTION_MAX_ATTEMPTS = env.int("PROJECTION_MAX_ATTEMPTS", default=3)
PROJECTION_RETRY_BACKOFF_SECONDS = env.float("PROJECTION_RETRY_BACKOFF_SECONDS", default=1.0)
PROJECTION_STALLED_SECONDS = env.float("PROJECTION_STALLED_SECONDS", default=30.0)
PROJECTION_RETIRED_GRACE_SECONDS = env.float("PROJECTION_RETIRED_GRACE_SECONDS", default=60.0)
# Shards per projection, e.g. "order_views=4,customer_summaries=2": each a power of two up to
# 16 (default: what the projection declares, 1 unless it says more). Checked against the
# registered projections at start-up (projections.engine.sharding); changing one is a rebuild.
PROJECTION_SHARDS: dict[str, int] = {}
for _part in filter(None, (p.strip() for p in env.str("PROJECTION_SHARDS", default="").split(","))):
    _name, _equals, _count = _part.partition("=")
    if not _equals or not _name.strip() or not _count.strip().isdigit():
        raise ImproperlyConfigured(
            f"PROJECTION_SHARDS: {_part!r} is not name=count "
            "(e.g. PROJECTION_SHARDS=order_views=4,customer_summaries=2)"
        )
    PROJECTION_SHARDS[_name.strip()] = int(_count)

# --- Read-your-writes (projections.engine.consistency) -----------------------------------
# Waits for min_position one process holds at a time; further readers are answered stale at
# once, so waiting readers never take every request thread (default: half a gunicorn
# worker's threads).
CONSISTENCY_MAX_WAITS = env.int(
    "CONSISTENCY_MAX_WAITS", default=max(1, env.int("GUNICORN_THREADS", default=4) // 2)
)

# --- The feed (GET /api/events; eventstore.feed) ------------------------------------------
# Long polls (wait > 0) one process holds at a time; further ones answer at once with no
# events, so followers never take every request thread (default: a quarter of a gunicorn
# worker's threads, beside CONSISTENCY_MAX_WAITS' half).
FEED_MAX_WAITS = env.int(
    "FEED_MAX_WAITS", default=max(1, env.int("GUNICORN_THREADS", default=4) // 4)
)
# The Redis whose pub/sub tells waiting long polls of each commit (eventstore.wakeups): the
# broker when it is Redis. Without one a long poll re-reads the log at growing intervals.
FEED_REDIS_URL = env.str(
    "FEED_REDIS_URL", default="" if CELERY_TASK_ALWAYS_EAGER else CELERY_BROKER_URL
)
# --- Following the log: webhooks and Python subscribers (integrations) ------------------
# Webhook URLs must be https unless this is on (a test receiver, a private network's tools).
WEBHOOKS_ALLOW_HTTP = env.bool("WEBHOOKS_ALLOW_HTTP", default=False)
# A webhook URL whose host resolves to a loopback, private or link-local address is refused
# (when created and again at each delivery: DNS can change) unless this is on.
WEBHOOKS_ALLOW_PRIVATE = env.bool("WEBHOOKS_ALLOW_PRIVATE", default=False)
# An endpoint failing for this long is disabled until staff enable it: seconds, or with a
# unit (90s, 30m, 24h, 2d).
WEBHOOKS_DISABLE_AFTER = env.str("WEBHOOKS_DISABLE_AFTER", default="24h")
# Recipients of the shipped-order e-mail (integrations.shipping_emails); none: no e-mail.
ORDER_SHIPPED_EMAIL_TO = env.list("ORDER_SHIPPED_EMAIL_TO", default=[])
# E-mail through Django's framework: printed (console) unless EMAIL_HOST names an SMTP server.
EMAIL_HOST = env.str("EMAIL_HOST", default="")
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
# Every wait bounded: an SMTP server that hangs fails the send (it is tried again) after this.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="orders@localhost")

# --- Back office ----------------------------------------------------------------------------
# How long a page shown after a staff command waits for the read model to have the command.
BACKOFFICE_CONSISTENCY_TIMEOUT = env.float("BACKOFFICE_CONSISTENCY_TIMEOUT", default=5.0)
# How long the dashboard's top products (a month of orders summed) are kept before recomputing.
BACKOFFICE_DASHBOARD_CACHE_SECONDS = env.int("BACKOFFICE_DASHBOARD_CACHE_SECONDS", default=60)
# Every staff page warns at its top while a projection has failed or is further behind than
# this: the figures it feeds are out of date.
BACKOFFICE_STALE_AFTER_SECONDS = env.float("BACKOFFICE_STALE_AFTER_SECONDS", default=60.0)

# --- Operations (ops/) ----------------------------------------------------------------------
# /readyz's body reports a projection whose oldest unapplied event is older than this as
# "lagging". Reported only: readiness is the instance's own (database, migrations), and a lagging
# read side is every instance's alike (ops/alerts.yml alerts on it).
READY_MAX_LAG_SECONDS = env.float("READY_MAX_LAG_SECONDS", default=60.0)
# /metrics: with a token, scrapes need "Authorization: Bearer <token>"; without, loopback only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# Celery: workers publish task events (celery events / flower / celery inspect can watch them);
# a task running longer than the limit is killed (its transaction rolls back; the next sweep
# goes on from the last committed batch). No soft limit: raised inside a batch it would count
# as a failure of the event being applied.
CELERY_WORKER_SEND_TASK_EVENTS = env.bool("CELERY_WORKER_SEND_TASK_EVENTS", default=True)
CELERY_TASK_SEND_SENT_EVENT = CELERY_WORKER_SEND_TASK_EVENTS
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
# Workers log through LOGGING below, like the web processes.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# JSON lines in production, text for people in development; every line carries the request,
# correlation, command and task ids that apply to it (ops.logs).
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"main": {"()": "ops.logs.formatter", "json": LOG_FORMAT == "json"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "main"}},
    "root": {
        "handlers": ["console"],
        "level": env.str("LOG_LEVEL", default="WARNING" if DEBUG else "INFO"),
    },
    # A line per task run (every commit sends a catch-up): on only when asked for.
    "loggers": {
        "celery.app.trace": {"level": env.str("CELERY_TASK_LOG_LEVEL", default="WARNING")},
        # A line per webhook delivery, with its URL (which may carry a receiver's own token):
        # the deliveries are recorded (integrations.models.Delivery) and counted instead.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
