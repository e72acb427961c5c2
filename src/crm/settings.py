"""Settings for the CRM, all from environment variables with embedded defaults.

The first run creates the data directory (SQLite file, job queue, secret and field keys) so that
`make run` works on a fresh machine without any configuration.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DATA_DIR = Path(os.environ.get("CRM_DATA_DIR", "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_from_file(name: str) -> str:
    """Read a generated secret from the data directory, creating it on first use."""
    path = DATA_DIR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = _env_bool("CRM_DEBUG", False)
SECRET_KEY = os.environ.get("CRM_SECRET_KEY") or _secret_from_file("secret_key")
ALLOWED_HOSTS = [
    h for h in os.environ.get("CRM_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CRM_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",  # serves the API docs page's JS/CSS from static files, not a CDN
    "huey.contrib.djhuey",
    "crm.core",
    "crm.tenancy",
    "crm.events",
    "crm.activities",
    "crm.customers",
    "crm.sales",
    "crm.insights",
    "crm.forecasts",
    "crm.reports",
    "crm.integrations",
    "crm.web",
    "crm.operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "crm.web.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "crm.tenancy.middleware.TenantMiddleware",
    "crm.web.middleware.WebRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "crm.web.context_processors.shell",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("CRM_DATABASE_URL") or f"sqlite:///{DATA_DIR / 'crm.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so two
    # read-then-write transactions never deadlock into "database is locked" (RECIPES.md).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA cache_size=-64000; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=268435456;"
        ),
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth ---------------------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
LOGIN_FAILURE_LIMIT = int(os.environ.get("CRM_LOGIN_FAILURE_LIMIT", "5"))
LOGIN_FAILURE_WINDOW_SECONDS = int(os.environ.get("CRM_LOGIN_FAILURE_WINDOW", "900"))
LOGIN_FAILURE_ADDRESS_LIMIT = int(os.environ.get("CRM_LOGIN_FAILURE_ADDRESS_LIMIT", "20"))
AUTHENTICATION_BACKENDS = ["crm.tenancy.backends.ThrottledModelBackend"]

# --- i18n ---------------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- static -------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("CRM_STATIC_ROOT", DATA_DIR / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- cache --------------------------------------------------------------------------------------
REDIS_URL = os.environ.get("CRM_REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- jobs ---------------------------------------------------------------------------------------
HUEY: dict[str, object]
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "crm",
        "url": REDIS_URL,
        "immediate": False,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "crm",
        "filename": str(DATA_DIR / "jobs.sqlite3"),
        "immediate": False,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }

LEAD_FOLLOWUP_EVERY_MINUTES = int(os.environ.get("CRM_LEAD_FOLLOWUP_EVERY_MINUTES", "15"))
# Days an import's file, an export or a privacy zip is kept after its job ended
# (crm.integrations.expiry): they copy personal data out of the records.
FILE_RETENTION_DAYS = int(os.environ.get("CRM_FILE_RETENTION_DAYS", "7"))

# --- email --------------------------------------------------------------------------------------
# Django's send_mail() writes into the outbox table; the outbox job delivers over SMTP with retries.
EMAIL_BACKEND = "crm.events.mail.OutboxEmailBackend"
CRM_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = os.environ.get("CRM_SMTP_HOST", "127.0.0.1")
EMAIL_PORT = int(os.environ.get("CRM_SMTP_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("CRM_SMTP_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("CRM_SMTP_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("CRM_SMTP_TLS", False)
EMAIL_TIMEOUT = int(os.environ.get("CRM_SMTP_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("CRM_FROM_EMAIL", "crm@localhost")
OUTBOX_MAX_ATTEMPTS = int(os.environ.get("CRM_OUTBOX_MAX_ATTEMPTS", "12"))
OUTBOX_JOB_MINUTES = int(os.environ.get("CRM_OUTBOX_JOB_MINUTES", "1"))

# --- field encryption ---------------------------------------------------------------------------
# Keys come from CRM_FIELD_KEYS (JSON) or a key file in the data directory made on first use.
FIELD_KEYS_FILE = Path(os.environ.get("CRM_FIELD_KEYS_FILE", DATA_DIR / "field_keys.json"))

# --- API ----------------------------------------------------------------------------------------
API_MAX_PAGE_SIZE = 200
API_RATE_LIMIT = os.environ.get("CRM_API_RATE_LIMIT", "1200/m")
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

# --- security -----------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if _env_bool("CRM_HTTPS", False):
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("CRM_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("CRM_LOG_LEVEL", "WARNING")},
    "loggers": {"huey": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
