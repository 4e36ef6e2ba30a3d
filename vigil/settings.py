"""Vigil's one settings module. Every knob is an environment variable (see .env.example).

Two modes share this file:
- the embedded default (no DATABASE_URL, no REDIS_URL): SQLite under var/ and a filesystem
  Celery transport, so `make run` needs no external service;
- production (VIGIL_ENV=production): PostgreSQL, Redis, secure cookies, HSTS, JSON logs.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from celery.schedules import schedule as every
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VIGIL_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")


def secret(name, default=None):
    """Read NAME, or the file named by NAME_FILE (Docker/Kubernetes secrets)."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        return Path(path).read_text().strip()
    return env.str(name, default=default)


VIGIL_ENV = env.str("VIGIL_ENV", default="development")
PRODUCTION = VIGIL_ENV == "production"
DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = secret("SECRET_KEY", default="" if PRODUCTION else "dev-only-" + "x" * 50)
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set (or SECRET_KEY_FILE) in production.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The public base URL, used in links that leave Vigil (notifications, calendar feeds). Unset,
# it follows VIGIL_PORT, the port `make run` serves on.
SITE_URL = (
    env.str("SITE_URL", default="") or f"http://127.0.0.1:{env.int('VIGIL_PORT', default=8000)}"
).rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "ninja",  # serves the API docs' Swagger UI from our static files (the CSP forbids CDNs)
    "common",
    "accounts",
    "teams",
    "audit",
    "oncall",
    "incidents",
    "checks",
    "jobstores",
    "runbooks",
    "postmortems",
    "alerts",
    "paging",
    "changes",
    "status",
    "reports",
    "vigil",  # the root: the dashboard and seed_demo, which composes every app
]

MIDDLEWARE = [
    "common.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "common.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "common.middleware.RequestInputMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "common.middleware.UserTimezoneMiddleware",
    "common.middleware.NotFoundPageMiddleware",
    "common.middleware.HtmxMessagesMiddleware",
    "common.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "vigil.urls"
WSGI_APPLICATION = "vigil.wsgi.application"
ASGI_APPLICATION = "vigil.asgi.application"

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
                "vigil.context_processors.vigil",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Under ASGI each request runs in its own thread, so persistent connections are not
    # reused; a pool (psycopg_pool) is. For web processes (docker-compose sets it on web);
    # Celery workers keep CONN_MAX_AGE, which measured faster for them.
    if DATABASES["default"]["ENGINE"].endswith("postgresql") and env.bool(
        "DATABASE_POOL", default=False
    ):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=2),
            "max_size": env.int("DATABASE_POOL_MAX", default=10),
            "timeout": 10,
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "vigil.sqlite3",
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=wal; PRAGMA synchronous=normal;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Request bodies over this are refused with 413 at the ASGI edge, before Django reads them or
# anyone is authenticated (the alert webhooks have their own 1 MiB limit). Large enough for a
# 1 MB runbook sent as a form.
REQUEST_BODY_MAX_BYTES = env.int("REQUEST_BODY_MAX_BYTES", default=4 * 1024 * 1024)
# Live streams (the bell, an incident's timeline) poll the database; at most this many polls
# of one web process hold a connection at once, so streams never starve pages and webhooks.
# Live streams wait for PostgreSQL's LISTEN/NOTIFY, and poll on SQLite: the database decides.
# "poll" makes every stream poll on PostgreSQL too (the benchmark's baseline); leave it unset.
LIVE_TRANSPORT = env.str("LIVE_TRANSPORT", default="auto")
if LIVE_TRANSPORT not in ("auto", "poll"):
    raise ImproperlyConfigured("LIVE_TRANSPORT must be auto or poll.")
LIVE_STREAM_DB_SLOTS = env.int(
    "LIVE_STREAM_DB_SLOTS",
    default=max(1, DATABASES["default"].get("OPTIONS", {}).get("pool", {}).get("max_size", 8) // 2),
)

# --- cache: shared between web hosts when Redis is there -----------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# How long a public status page or its JSON is served from the cache (0: never).
STATUS_PAGE_CACHE_SECONDS = env.int("STATUS_PAGE_CACHE_SECONDS", default=5)
# ...and from each web process's memory, before Django, for this long (0: never).
STATUS_EDGE_CACHE_SECONDS = env.float("STATUS_EDGE_CACHE_SECONDS", default=1.0)
# How long a computed response report is kept in the cache (0: computed on every request).
REPORTS_RESPONSE_CACHE_SECONDS = env.int("REPORTS_RESPONSE_CACHE_SECONDS", default=300)

# --- people -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)  # per username and address
LOGIN_ACCOUNT_FAILURE_LIMIT = env.int("LOGIN_ACCOUNT_FAILURE_LIMIT", default=20)  # any address
AUTHENTICATION_BACKENDS = ["accounts.backends.LockoutModelBackend"]
LOGIN_LOCKOUT = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- static files -------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
if not PRODUCTION:
    STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise serves from the finders in development
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- security -----------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 24 * 14)
CSRF_COOKIE_HTTPONLY = False  # htmx reads nothing from it: the token is in hx-headers
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
BROKER_DIR = VAR_DIR / "broker"
if not REDIS_URL:
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),  # kombu's default is ./control
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=120)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=90)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "checks.tasks.beat_heartbeat": {"queue": "critical"},
    "paging.tasks.*": {"queue": "critical"},
}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Task modules that autodiscovery (each app's tasks.py) does not find.
CELERY_IMPORTS = ("status.cadence_tasks", "reports.drill_tasks")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Enqueueing (common.enqueue): seconds to stop trying a broker that just refused a message;
# seconds an outbox row waits before the flush publishes it again; how often the flush runs.
ENQUEUE_BROKER_BACKOFF = env.float("ENQUEUE_BROKER_BACKOFF", default=5.0)
ENQUEUE_RETRY_AFTER = env.float("ENQUEUE_RETRY_AFTER", default=10.0)
ENQUEUE_FLUSH_EVERY = env.float("ENQUEUE_FLUSH_EVERY", default=5.0)
# Checks and job-store scans: how often beat looks for due checks, how often each store is
# scanned (seconds).
CHECKS_TICK_SECONDS = env.float("CHECKS_TICK_SECONDS", default=5.0)
JOBSTORES_SCAN_EVERY = env.float("JOBSTORES_SCAN_EVERY", default=60.0)
# Changes and rollbacks: the Prometheus a team without its own reads its metrics from (empty:
# none, the rollback advisor asks the responder), how long one query may take (seconds), and
# the recovery watch after a rollback or mitigation: how long it watches (minutes), how often
# it reads the metrics, and how often beat looks for due readings (seconds).
PROMETHEUS_URL = env.str("PROMETHEUS_URL", default="")
PROMETHEUS_QUERY_TIMEOUT = env.float("PROMETHEUS_QUERY_TIMEOUT", default=3.0)
RECOVERY_WATCH_MINUTES = env.float("RECOVERY_WATCH_MINUTES", default=15.0)
RECOVERY_WATCH_INTERVAL_SECONDS = env.float("RECOVERY_WATCH_INTERVAL_SECONDS", default=60.0)
RECOVERY_WATCH_TICK_SECONDS = env.float("RECOVERY_WATCH_TICK_SECONDS", default=10.0)
# Communications: how often beat looks for incidents whose status update is overdue (seconds).
STATUS_CADENCE_TICK_SECONDS = env.float("STATUS_CADENCE_TICK_SECONDS", default=30.0)
# Drills: how often beat looks for scheduled drills that are due (seconds).
DRILL_SCHEDULE_TICK_SECONDS = env.float("DRILL_SCHEDULE_TICK_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE = {
    # Tasks a broker outage left in the outbox go out once the broker is back.
    "outbox-flush": {
        "task": "common.tasks.outbox_flush",
        "schedule": every(ENQUEUE_FLUSH_EVERY),
        "options": {"queue": "default", "expires": ENQUEUE_FLUSH_EVERY * 2},
    },
    "beat-heartbeat": {"task": "checks.tasks.beat_heartbeat", "schedule": every(10.0)},
    # Dependency checks whose interval is up (each check has its own interval).
    "checks-run-due": {
        "task": "checks.tasks.run_due_checks",
        "schedule": every(CHECKS_TICK_SECONDS),
        "options": {"expires": CHECKS_TICK_SECONDS * 2},
    },
    # Agent job stores: a stale-job scan and a queue/flag reading per store, every minute.
    "jobstores-schedule-scans": {
        "task": "jobstores.tasks.schedule_scans",
        "schedule": every(JOBSTORES_SCAN_EVERY),
        "options": {"expires": JOBSTORES_SCAN_EVERY},
    },
    # Recovery watches whose next reading is due (a restart loses none: they are rows).
    "changes-recovery-tick": {
        "task": "changes.tasks.recovery_watch_tick",
        "schedule": every(RECOVERY_WATCH_TICK_SECONDS),
        "options": {"expires": RECOVERY_WATCH_TICK_SECONDS * 2},
    },
    # Incidents whose status update is overdue remind their comms lead (one per due time).
    "status-update-cadence-tick": {
        "task": "status.cadence_tasks.update_cadence_tick",
        "schedule": every(STATUS_CADENCE_TICK_SECONDS),
        "options": {"expires": STATUS_CADENCE_TICK_SECONDS * 2},
    },
    # Status page subscribers: notices whose retry is due or whose batch task was lost.
    "status-notices-tick": {
        "task": "status.tasks.notices_requeue_due",
        "schedule": every(30.0),
        "options": {"queue": "default", "expires": 60.0},
    },
    # On-call: pre-shift reminders (one per shift) and gap notices to managers (one per gap).
    "oncall-shift-reminders": {
        "task": "oncall.tasks.send_shift_reminders",
        "schedule": every(300.0),
    },
    "oncall-raise-gaps": {"task": "oncall.tasks.raise_gaps", "schedule": every(3600.0)},
    # The paging engine: due escalation steps and lost deliveries, every second.
    "paging-engine-tick": {
        "task": "paging.tasks.engine_tick",
        "schedule": every(1.0),
        "options": {"queue": "critical", "expires": 5},
    },
    # Scheduled drills whose random business-hours time has come.
    "reports-drill-schedule-tick": {
        "task": "reports.drill_tasks.drill_schedule_tick",
        "schedule": every(DRILL_SCHEDULE_TICK_SECONDS),
        "options": {"expires": DRILL_SCHEDULE_TICK_SECONDS * 2},
    },
    "runbooks-review-digest": {
        "task": "runbooks.tasks.send_review_digest",
        "schedule": crontab(minute=0, hour=8, day_of_week="mon"),
    },
    "postmortems-overdue-digest": {
        "task": "postmortems.tasks.send_overdue_digests",
        "schedule": crontab(minute=0, hour=7),
    },
}
# /health reports the beat as down when its last tick is older than this.
HEALTH_BEAT_MAX_AGE = timedelta(seconds=env.int("HEALTH_BEAT_MAX_AGE_SECONDS", default=120))

# --- logging (structlog) --------------------------------------------------------------------
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "console")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")

from common.logs import configure_logging  # noqa: E402

LOGGING_CONFIG = None
configure_logging(fmt=LOG_FORMAT, level=LOG_LEVEL)

# --- email -----------------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = secret("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="vigil@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- alerts (alerts/) -------------------------------------------------------------------------
# An alert storm opens at most this many new alert groups (each its own incident and page)
# per webhook request and per integration per minute; the rest gather in one storm group.
ALERT_STORM_GROUPS_PER_REQUEST = env.int("ALERT_STORM_GROUPS_PER_REQUEST", default=20)
ALERT_STORM_GROUPS_PER_MINUTE = env.int("ALERT_STORM_GROUPS_PER_MINUTE", default=30)

# --- paging (paging/) -------------------------------------------------------------------------
PAGING_HTTP_TIMEOUT = env.float("PAGING_HTTP_TIMEOUT", default=10.0)
# A delivery still `sending` after this many seconds lost its worker; the tick retries it.
PAGING_SENDING_TIMEOUT = env.int("PAGING_SENDING_TIMEOUT", default=60)
# A pending delivery handed to the broker this long ago without a result is handed out again.
PAGING_REQUEUE_AFTER = env.int("PAGING_REQUEUE_AFTER", default=30)
PAGING_MAX_ATTEMPTS = env.int("PAGING_MAX_ATTEMPTS", default=8)
PAGING_BACKOFF_BASE = env.float("PAGING_BACKOFF_BASE", default=2.0)
PAGING_BACKOFF_MAX = env.float("PAGING_BACKOFF_MAX", default=300.0)
PAGERDUTY_EVENTS_URL = env.str(
    "PAGERDUTY_EVENTS_URL", default="https://events.pagerduty.com/v2/enqueue"
)
# Generic outgoing webhooks are signed with HMAC-SHA256 under this secret. Receivers hold it
# to verify, so in production it must be a secret of its own, never SECRET_KEY (which also
# signs acknowledgement links and sessions).
PAGING_WEBHOOK_SECRET = secret("PAGING_WEBHOOK_SECRET", default="") or (
    "" if PRODUCTION else "dev-only-webhooks-" + "y" * 40
)
if PRODUCTION and (not PAGING_WEBHOOK_SECRET or PAGING_WEBHOOK_SECRET == SECRET_KEY):
    raise ImproperlyConfigured(
        "PAGING_WEBHOOK_SECRET must be set (or PAGING_WEBHOOK_SECRET_FILE) in production, and "
        "differ from SECRET_KEY: webhook receivers hold it."
    )
# Webhook, Slack and team-chat URLs people enter must be https and resolve to public
# addresses only (common/outbound.py). These host names and CIDR networks are receivers an
# operator trusts: they may be private and plain http. Comma-separated; empty: none.
OUTBOUND_ALLOWED_HOSTS = env.list("OUTBOUND_ALLOWED_HOSTS", default=[])
# SMS and phone-call contact methods go through a Twilio-compatible REST API.
SMS_API_URL = env.str("SMS_API_URL", default="https://api.twilio.com")
SMS_ACCOUNT_SID = env.str("SMS_ACCOUNT_SID", default="")
SMS_AUTH_TOKEN = secret("SMS_AUTH_TOKEN", default="")
SMS_FROM_NUMBER = env.str("SMS_FROM_NUMBER", default="")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# /metrics needs `Authorization: Bearer <METRICS_TOKEN>` when set. Unset, development serves
# it to anyone, and production only to clients on loopback or private addresses.
METRICS_TOKEN = secret("METRICS_TOKEN", default="")
