"""Garnizon settings: one module, configured from the environment (GARNIZON_*).

Every setting that differs between machines comes from an environment variable
documented in README.md. Defaults are safe: no debug, local hosts only, and a
secret key generated on first start and kept in the data folder (never in git).
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


def _default_data_dir() -> Path:
    """`data/` beside pyproject.toml in a checkout; otherwise under the working directory."""
    checkout = BASE_DIR.parent.parent
    if (checkout / "pyproject.toml").exists():
        return checkout / "data"
    return Path.cwd() / "data"


DATA_DIR = Path(os.environ.get("GARNIZON_DATA_DIR") or _default_data_dir()).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    if key := os.environ.get("GARNIZON_SECRET_KEY"):
        return key
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(64))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("GARNIZON_DEBUG")
ALLOWED_HOSTS = _env_list("GARNIZON_ALLOWED_HOSTS", "127.0.0.1,localhost")
# Reverse proxies whose X-Forwarded-For is believed (addresses or networks); none by default.
GARNIZON_TRUSTED_PROXIES = _env_list("GARNIZON_TRUSTED_PROXIES", "")
for _proxy in GARNIZON_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as _error:
        raise ImproperlyConfigured(
            f"GARNIZON_TRUSTED_PROXIES: {_proxy!r} is not an address or network ({_error})"
        ) from None
CSRF_TRUSTED_ORIGINS = _env_list("GARNIZON_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks_db",
    "garnizon.common",
    "garnizon.org",
    "garnizon.jrwa",
    "garnizon.registry",
    "garnizon.cases",
    "garnizon.audit",
    "garnizon.documents",
    "garnizon.intake",
    "garnizon.search",
    "garnizon.web",
    "garnizon.portal",
    "garnizon.portal.visits",
    "garnizon.portal.officers",
    "garnizon.api",
]

MIDDLEWARE = [
    # First: everything after it (audit, rate limits) sees the client, not the proxy.
    "garnizon.common.proxies.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "garnizon.audit.middleware.AuditContextMiddleware",
]

ROOT_URLCONF = "garnizon.urls"
WSGI_APPLICATION = "garnizon.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "garnizon.web.context.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# SQLite (WAL, immediate transactions) is the embedded default; PostgreSQL is
# the scale-out database. Both run the same migrations and the same tests.
DATABASE_URL = (
    os.environ.get("GARNIZON_DATABASE_URL") or f"sqlite:///{DATA_DIR / 'garnizon.sqlite3'}"
)
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=60)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # Django's backend, with writers queueing on a lock file (common/sqlite/base.py).
    _db["ENGINE"] = "garnizon.common.sqlite"
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        # IMMEDIATE takes the write lock at BEGIN, so two writers never
        # deadlock upgrading a read lock; WAL lets readers run beside a writer.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=20000;"
        ),
    }
    # A file, not memory: concurrency tests open several connections.
    _db["TEST"] = {"NAME": str(DATA_DIR / "test-garnizon.sqlite3")}
else:
    _db.setdefault("OPTIONS", {})
    _db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "org.Person"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:my_work"
LOGOUT_REDIRECT_URL = "web:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- Background work --------------------------------------------------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- Language and time --------------------------------------------------------
LANGUAGE_CODE = "pl"
LANGUAGES = [("pl", "Polski"), ("en", "English"), ("uk", "Українська")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Warsaw"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Security defaults ---------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 8 * 3600
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = _env_bool("GARNIZON_SECURE_COOKIES")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Each process's own memory: the portal's pages drawn once (docs/portal.md) and
# little else. Room for every service's question pages in three languages.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 2000},
    }
}
if _db["ENGINE"] == "garnizon.common.sqlite":
    # One machine: sessions in files (private to the server's account), so that
    # saving a session does not take a turn of SQLite's one write lock; the
    # portal's filings measured about a third faster (docs/benchmarks.md). With
    # PostgreSQL, which web servers on several machines share, they stay in the
    # database. Expired ones are removed by the scheduled job `common.sessions_purge`.
    SESSION_ENGINE = "django.contrib.sessions.backends.file"
    SESSION_FILE_PATH = str(DATA_DIR / "sessions")
    _sessions = DATA_DIR / "sessions"
    _sessions.mkdir(mode=0o700, exist_ok=True)
    # A folder made earlier (by hand, by a copy, before the umask was right) is
    # made private too: a session file is as good as the visitor's login.
    if _sessions.stat().st_mode & 0o077:
        if _sessions.stat().st_uid != os.getuid():
            raise ImproperlyConfigured(
                f"Katalog sesji {_sessions} jest dostępny dla innych użytkowników i należy do "
                "innego konta: ustaw mu właściciela tego konta i prawa 700."
            )
        _sessions.chmod(0o700)

# --- REST API ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": None,
    "EXCEPTION_HANDLER": "garnizon.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Garnizon API",
    "DESCRIPTION": "Registers, cases, assignment and the address book.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files are served from our own static files: the garrison's
    # network has no route to public CDNs.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Domain configuration -----------------------------------------------------------
# Case sign template (configurable): CELL, JRWA, NUMBER, YEAR, INITIALS.
GARNIZON_CASE_SIGN_TEMPLATE = os.environ.get(
    "GARNIZON_CASE_SIGN_TEMPLATE", "{CELL}.{JRWA}.{NUMBER}.{YEAR}"
)
GARNIZON_DUE_SOON_DAYS = int(os.environ.get("GARNIZON_DUE_SOON_DAYS", "3"))
# Thermal label printers (ZPL over raw TCP): "name=host[:port],name2=host2".
GARNIZON_LABEL_PRINTERS = dict(
    entry.split("=", 1) for entry in _env_list("GARNIZON_LABEL_PRINTERS", "") if "=" in entry
)

# Documents: content-addressed file store and the largest accepted upload.
GARNIZON_BLOB_DIR = Path(os.environ.get("GARNIZON_BLOB_DIR") or DATA_DIR / "blobs").resolve()
GARNIZON_MAX_UPLOAD_MB = int(os.environ.get("GARNIZON_MAX_UPLOAD_MB", "100"))
# Intake: hot folders live under the intake folder; refused hostile files are copied to quarantine.
GARNIZON_INTAKE_DIR = Path(os.environ.get("GARNIZON_INTAKE_DIR") or DATA_DIR / "intake").resolve()
GARNIZON_QUARANTINE_DIR = Path(
    os.environ.get("GARNIZON_QUARANTINE_DIR") or DATA_DIR / "quarantine"
).resolve()
# Intake robustness: a claim older than this belongs to a dead worker and is taken again;
# hot folders scanned by `garnizon scheduler` (JSON list of {folder, unit, requested_by,
# channel, mode}); background workers `./dev start` runs (default: one per core).
GARNIZON_INTAKE_STALE_SECONDS = int(os.environ.get("GARNIZON_INTAKE_STALE_SECONDS", "1800"))
# Blank pages of scans (the empty backs of duplex scanning) are left out of the letter's PDF.
GARNIZON_INTAKE_DROP_BLANK_PAGES = os.environ.get("GARNIZON_INTAKE_DROP_BLANK_PAGES", "1") != "0"
GARNIZON_HOT_FOLDERS = json.loads(os.environ.get("GARNIZON_HOT_FOLDERS") or "[]")
GARNIZON_WORKERS = int(os.environ.get("GARNIZON_WORKERS") or os.cpu_count() or 1)
# Antivirus: where clamd listens ("unix:/run/clamav/clamd.ctl" or "tcp:127.0.0.1:3310"); "" = off.
# Outgoing e-mail (portal notifications): an SMTP relay; with no host set, mail is
# written to the log instead of being sent.
_SMTP_HOST = os.environ.get("GARNIZON_SMTP_HOST", "")
MAILERS = {
    "default": (
        {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _SMTP_HOST,
                "port": int(os.environ.get("GARNIZON_SMTP_PORT", "25")),
                "username": os.environ.get("GARNIZON_SMTP_USER", ""),
                "password": os.environ.get("GARNIZON_SMTP_PASSWORD", ""),
                "use_tls": os.environ.get("GARNIZON_SMTP_STARTTLS", "") == "1",
                "timeout": 30,
            },
        }
        if _SMTP_HOST
        else {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    )
}
DEFAULT_FROM_EMAIL = os.environ.get("GARNIZON_MAIL_FROM", "e-uslugi@garnizon.invalid")
GARNIZON_PORTAL_URL = os.environ.get("GARNIZON_PORTAL_URL", "http://127.0.0.1:8000")

GARNIZON_CLAMD = os.environ.get("GARNIZON_CLAMD", "")
# E-mail intake: IMAP mailboxes per unit, a JSON list checked at start (docs/intake-email.md).
from garnizon.intake.channels.imap import parse_mailboxes  # noqa: E402  (imports no models)

GARNIZON_IMAP_MAILBOXES = parse_mailboxes(os.environ.get("GARNIZON_IMAP_MAILBOXES", ""))
# Uploads above 5 MB go to a temporary file, not memory; form fields stay small.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FILES = 50
FILE_UPLOAD_HANDLERS = [
    "garnizon.documents.uploads.MaxSizeUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("GARNIZON_LOG_LEVEL", "INFO")},
}
