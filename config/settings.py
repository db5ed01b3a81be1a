"""Roomwatch settings: everything comes from the environment.

With nothing set, the console runs as a development demo: DEBUG on, SQLite in a
file, the in-memory channel layer and the bundled LiveKit simulator's address.
Production sets DEBUG=false and must provide a real SECRET_KEY.
"""

from __future__ import annotations

from pathlib import Path

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    csp_websocket_sources,
    env_bool,
    env_channel_prefix,
    env_choice,
    env_database,
    env_int,
    env_list,
    env_networks,
    env_origins,
    env_str,
    env_timezone,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEVELOPMENT_SECRET_KEY = "roomwatch-development-only-secret-key-do-not-use-in-production"
DEVELOPMENT_LIVEKIT_SECRET = "roomwatch-development-livekit-secret-0000"

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a long random value when DEBUG is off "
        "(the development key is public)."
    )
if not DEBUG and len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    # Daphne runs no system checks: without this every request would quietly get 400.
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS must list the console's host names when DEBUG is off "
        "(e.g. ALLOWED_HOSTS=console.example.com)."
    )
CSRF_TRUSTED_ORIGINS = env_origins("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "accounts",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    "monitoring.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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
                "accounts.context_processors.staff",
            ],
        },
    },
]

DATABASES = {"default": env_database("DATABASE_URL", str(BASE_DIR / "db.sqlite3"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# PostgreSQL connections come from a pool of at most this many per process, so no load
# can exhaust the server's max_connections; a request that waits longer than the
# timeout for one is answered 503 with Retry-After (monitoring.middleware).
ROOMWATCH_DB_POOL_SIZE = env_int("ROOMWATCH_DB_POOL_SIZE", 8, minimum=1)
ROOMWATCH_DB_POOL_TIMEOUT = env_int("ROOMWATCH_DB_POOL_TIMEOUT_SECONDS", 3, minimum=1)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": ROOMWATCH_DB_POOL_SIZE,
        "timeout": ROOMWATCH_DB_POOL_TIMEOUT,
    }

REDIS_URL = env_str("REDIS_URL", "")
# Prefix of every channel-layer name (and cache key) in Redis: two consoles sharing one
# Redis database stay apart. The default is unique per database the console uses.
ROOMWATCH_CHANNEL_PREFIX = env_channel_prefix("ROOMWATCH_CHANNEL_PREFIX", DATABASES["default"])
if REDIS_URL:
    REDIS_URL = env_url("REDIS_URL", "", schemes=("redis", "rediss", "unix"))
    # Pub/sub: one Redis message per group and process, fanned out to that process's
    # sockets locally (no per-socket queues, no connection pool to exhaust).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": ROOMWATCH_CHANNEL_PREFIX},
        }
    }
    # Throttles (API-key attempts) count across processes.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": ROOMWATCH_CHANNEL_PREFIX,
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "monitoring:rooms"
LOGOUT_REDIRECT_URL = "accounts:login"

# Failed logins: locked per account and, separately, per address.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
# Reverse proxies in front: the client is the N-th address from the right of
# X-Forwarded-For; with 0 the header is ignored (config/proxy.py).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "config.proxy.client_address"
# Failed API-key attempts per address before it is refused (429) for the cool-off.
API_KEY_FAILURE_LIMIT = env_int("API_KEY_FAILURE_LIMIT", 20, minimum=1)
API_KEY_COOLOFF_SECONDS = env_int("API_KEY_COOLOFF_SECONDS", 300, minimum=1)
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_timezone("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

# LiveKit: the server's API, and the key pair its webhooks are signed with.
LIVEKIT_URL = env_url(
    "LIVEKIT_URL", "http://127.0.0.1:7880", schemes=("http", "https", "ws", "wss")
)
LIVEKIT_API_KEY = env_str("LIVEKIT_API_KEY", "devkey")
LIVEKIT_API_SECRET = env_str("LIVEKIT_API_SECRET", DEVELOPMENT_LIVEKIT_SECRET)
if not DEBUG and LIVEKIT_API_SECRET == DEVELOPMENT_LIVEKIT_SECRET:
    raise ImproperlyConfigured("LIVEKIT_API_SECRET must be set when DEBUG is off.")
LIVEKIT_TIMEOUT_SECONDS = env_int("LIVEKIT_TIMEOUT_SECONDS", 10, minimum=1)
# Live preview: the websocket URL browsers reach LiveKit at (may differ from the API URL
# the server uses; a strict CSP's connect-src must allow it), how long an observer token
# lives (the page renews it while it plays), and how many wall tiles play at once.
LIVEKIT_PUBLIC_URL = env_url(
    "LIVEKIT_PUBLIC_URL",
    LIVEKIT_URL.replace("https://", "wss://", 1).replace("http://", "ws://", 1),
    schemes=("ws", "wss"),
)
ROOMWATCH_OBSERVER_TOKEN_TTL_SECONDS = env_int(
    "ROOMWATCH_OBSERVER_TOKEN_TTL_SECONDS", 600, minimum=60
)
ROOMWATCH_WALL_PREVIEWS = env_int("ROOMWATCH_WALL_PREVIEWS", 9, minimum=0)
# Evidence frames captured from previews: stored through this storage (local files
# outside static/ by default), served only to staff by a view after an access check.
ROOMWATCH_EVIDENCE_DIR = Path(env_str("ROOMWATCH_EVIDENCE_DIR", str(BASE_DIR / "evidence")))
ROOMWATCH_EVIDENCE_MAX_BYTES = env_int(
    "ROOMWATCH_EVIDENCE_MAX_BYTES", 5 * 1024 * 1024, minimum=1024
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "evidence": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(ROOMWATCH_EVIDENCE_DIR)},
    },
}
# The participant attribute (or metadata JSON key) the platform uses for roles.
ROOMWATCH_ROLE_KEY = env_str("ROOMWATCH_ROLE_KEY", "role")
ROOMWATCH_SYNC_INTERVAL_SECONDS = env_int("ROOMWATCH_SYNC_INTERVAL_SECONDS", 15, minimum=1)
# Every open room's participants are listed and compared at least this often (the
# reconciler lists only rooms whose counts disagree, watched rooms and a rotating slice).
ROOMWATCH_FULL_CHECK_SECONDS = env_int("ROOMWATCH_FULL_CHECK_SECONDS", 300, minimum=1)
# ListParticipants calls the reconciler has in flight at once.
ROOMWATCH_RECONCILE_CONCURRENCY = env_int("ROOMWATCH_RECONCILE_CONCURRENCY", 16, minimum=1)
# How often rooms with an open room page or wall are polled for what LiveKit sends no
# webhook for (self-mutes, metadata, attributes, permissions).
ROOMWATCH_WATCH_POLL_SECONDS = env_int("ROOMWATCH_WATCH_POLL_MS", 1000, minimum=50) / 1000
# LiveKit's API does not say whether a room allows remote unmute (off by default,
# config `room.enable_remote_unmute`): tell the console, so it offers Unmute only then.
ROOMWATCH_REMOTE_UNMUTE = env_bool("ROOMWATCH_REMOTE_UNMUTE", False)
# How long a warned participant's app has to acknowledge the warning (LiveKit RPC).
ROOMWATCH_WARNING_ACK_SECONDS = env_int("ROOMWATCH_WARNING_ACK_SECONDS", 30, minimum=1)
# "embedded": the web process also runs the applier and the reconciler in background
# threads (one command serves everything: the demo). "applier": only the applier (the
# reconciler runs as `manage.py livekit_sync`). "external": both run as their own
# processes (`manage.py livekit_apply`, `manage.py livekit_sync`).
ROOMWATCH_WORKERS = env_choice(
    "ROOMWATCH_WORKERS", "embedded", choices=("embedded", "applier", "external")
)
# How often an idle applier looks for events other processes recorded.
ROOMWATCH_APPLY_POLL_SECONDS = env_int("ROOMWATCH_APPLY_POLL_MS", 20, minimum=1) / 1000
# Pushes per room are coalesced to at most one per this many milliseconds.
ROOMWATCH_PUSH_INTERVAL_SECONDS = env_int("ROOMWATCH_PUSH_INTERVAL_MS", 250, minimum=0) / 1000
# Optional: a URL that receives a signed JSON POST when an alert opens or updates a case
# (HMAC-SHA256 of "<timestamp>.<body>" with the secret, header X-Roomwatch-Signature).
ROOMWATCH_ALERT_WEBHOOK_URL = env_str("ROOMWATCH_ALERT_WEBHOOK_URL", "")
if ROOMWATCH_ALERT_WEBHOOK_URL and not ROOMWATCH_ALERT_WEBHOOK_URL.startswith(
    ("http://", "https://")
):
    raise ImproperlyConfigured("ROOMWATCH_ALERT_WEBHOOK_URL must be an http(s) URL.")
ROOMWATCH_ALERT_WEBHOOK_SECRET = env_str("ROOMWATCH_ALERT_WEBHOOK_SECRET", "")
if ROOMWATCH_ALERT_WEBHOOK_URL and len(ROOMWATCH_ALERT_WEBHOOK_SECRET) < 16:
    raise ImproperlyConfigured(
        "ROOMWATCH_ALERT_WEBHOOK_SECRET (16+ characters) is required with the URL."
    )
ROOMWATCH_ALERT_WEBHOOK_TIMEOUT_SECONDS = env_int(
    "ROOMWATCH_ALERT_WEBHOOK_TIMEOUT_SECONDS", 3, minimum=1
)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 60 * 60, minimum=60)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# No inline script or style anywhere (htmx's indicator styles are off, see base.html):
# scripts, styles and websockets only from the console itself, and LiveKit's public URL
# for the in-browser preview.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:"],
        "font-src": [SELF],
        "connect-src": [
            SELF,
            *csp_websocket_sources(
                CSRF_TRUSTED_ORIGINS, globals().get("LIVEKIT_PUBLIC_URL", LIVEKIT_URL)
            ),
        ],
        "worker-src": [SELF, "blob:"],
        "manifest-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}
# Browser features the console never uses are off; video previews may autoplay.
PERMISSIONS_POLICY = {
    "accelerometer": [],
    "camera": [],
    "display-capture": [],
    "geolocation": [],
    "gyroscope": [],
    "magnetometer": [],
    "microphone": [],
    "payment": [],
    "usb": [],
    "autoplay": ["self"],
    "fullscreen": ["self"],
    "picture-in-picture": ["self"],
}
# Webhook bodies up to 2 MiB (monitoring/live/inbox.py MAX_BODY_BYTES) must reach the
# view, which answers 413 itself above that.
DATA_UPLOAD_MAX_MEMORY_SIZE = 3 * 1024 * 1024
# Error details of /healthz and the /metrics scrape: for staff, or a bearer token.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
HEALTHZ_TOKEN = env_str("HEALTHZ_TOKEN", "")
# Addresses (or networks) allowed to scrape /metrics without the token, comma-separated.
METRICS_ALLOWED_NETWORKS = env_networks("METRICS_ALLOWED_NETWORKS", [])
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$", r"^livekit/webhook$"]
    if BEHIND_TLS_PROXY:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOG_LEVEL = env_choice(
    "LOG_LEVEL", "INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
)
LOG_FORMAT = env_choice("LOG_FORMAT", "plain", choices=("plain", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # One JSON object per line: {"asctime", "levelname", "name", "message", ...extra}.
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "axes": {"level": "WARNING"},
        # Replaces Django's own console handler on "django" (each request was logged
        # twice, once by it and once by the root), and follows LOG_LEVEL.
        "django": {"level": LOG_LEVEL},
    },
}
