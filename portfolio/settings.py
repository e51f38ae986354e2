"""Settings for the portfolio site, read from the environment once.

Every value has a default that is safe on a laptop. `DJANGO_ENV=production`
turns the defaults that only suit a laptop into loud errors. README.md keeps
the full table of variables.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state (the SQLite database, the generated secret key) lives here.
VAR_DIR = Path(os.environ.get("DJANGO_VAR_DIR", BASE_DIR / "var"))


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    if value.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if value.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}.")


def env_list(name, default):
    value = os.environ.get(name, default)
    return [item.strip() for item in value.split(",") if item.strip()]


def local_secret_key():
    """Read the laptop's secret key from var/, generating it on first use."""
    path = VAR_DIR / "secret_key"
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: when several processes start at once, exactly one writes.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        key = get_random_secret_key()
        file.write(key)
    return key


DJANGO_ENV = os.environ.get("DJANGO_ENV", "local").strip().lower()
if DJANGO_ENV not in {"local", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be 'local' or 'production', not {DJANGO_ENV!r}.")
PRODUCTION = DJANGO_ENV == "production"

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "").strip()
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. In production, set it to a long random "
            "string, e.g. the output of: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = local_secret_key()

DEBUG = env_bool("DJANGO_DEBUG", default=False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off when DJANGO_ENV=production.")

if PRODUCTION and not os.environ.get("DJANGO_ALLOWED_HOSTS", "").strip():
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS is not set. In production, set it to the site's "
        "host names, comma-separated, e.g. DJANGO_ALLOWED_HOSTS=portfolio.example.com"
    )
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "axes",
    "csp",
    "reversion",
    "taggit",
    "casestudies",
    "siteprofile",
]

MIDDLEWARE = [
    # First: its id is on every response (cached pages, redirects, errors) and every log line.
    "portfolio.requestid.RequestIdMiddleware",
    # A database outage is a styled 503 with Retry-After, logged once (portfolio/faults.py).
    "portfolio.faults.DatabaseOutageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Ahead of whitenoise, so static files carry these headers too.
    "portfolio.security.ContentSecurityPolicyMiddleware",
    "portfolio.security.security_headers",
    "portfolio.pagecache.refused_codings_removed",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before sessions, auth and CSRF: a stored page is sent without them (portfolio/pagecache.py).
    "portfolio.pagecache.PageCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out log-in into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portfolio.urls"
WSGI_APPLICATION = "portfolio.wsgi.application"

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
                "siteprofile.context_processors.profile",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=600,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Several gunicorn workers share one file: WAL lets readers run beside a
    # writer, and IMMEDIATE transactions queue writers instead of failing.
    # Each worker keeps its connection, and with it SQLite's cache of the pages
    # it has read: a new connection per request costs more than most queries.
    DATABASES["default"]["CONN_MAX_AGE"] = None
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    # An unreachable Redis is a cache miss, logged once, not an error page (portfolio/cache.py);
    # the timeouts keep a Redis that does not answer from holding pages up.
    CACHES = {
        "default": {
            "BACKEND": "portfolio.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Whole public pages for visitors without a session, kept this many seconds at most (0: off;
# off by default with DEBUG, where templates change under a running server). Any change to
# the content drops them at once, in every process (portfolio/pagecache.py).
_page_cache_seconds = os.environ.get("DJANGO_PAGE_CACHE_SECONDS", "").strip() or ("0" if DEBUG else "600")
if not (_page_cache_seconds.isascii() and _page_cache_seconds.isdigit()):
    raise ImproperlyConfigured(
        "DJANGO_PAGE_CACHE_SECONDS must be a whole number of seconds, 0 (off) or more, "
        f"not {_page_cache_seconds!r}."
    )
PAGE_CACHE_SECONDS = int(_page_cache_seconds)
# Without a shared cache, the workers on this machine learn of a change from this file.
PAGE_CACHE_GENERATION_FILE = VAR_DIR / "cache-generation"

# django-axes watches every log-in first; ModelBackend then checks the password.
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

LANGUAGE_CODE = "en"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# Uploaded images (casestudies/images.py): kept through the default storage. Files on this
# machine by default, sent by the site itself (casestudies/media.py); with DJANGO_S3_BUCKET, in
# an S3-compatible bucket that visitors fetch them from directly, at DJANGO_MEDIA_URL.
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"
# A file's name never changes meaning (it is named by its content): browsers and proxies keep it a year.
MEDIA_CACHE_CONTROL = "public, max-age=31536000, immutable"
# Where pages may load images from besides their own origin: the media URL's origin, with S3.
MEDIA_ORIGIN = None
DEFAULT_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}


def url_origin(name, value, schemes=("http", "https")):
    """`value`, an absolute URL, split into (origin, the rest), or ImproperlyConfigured saying why not."""
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname or parts.username or parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"{name} must be an absolute {' or '.join(schemes)} URL with a host and no user name, "
            f"query or fragment, such as https://media.example.com/, not {value!r}."
        )
    return f"{parts.scheme}://{parts.netloc.lower()}", parts.path


S3_BUCKET = os.environ.get("DJANGO_S3_BUCKET", "").strip()
_s3 = {
    name: os.environ.get(name, "").strip()
    for name in (
        "DJANGO_S3_ENDPOINT_URL",
        "DJANGO_S3_REGION",
        "DJANGO_S3_ACCESS_KEY_ID",
        "DJANGO_S3_SECRET_ACCESS_KEY",
        "DJANGO_MEDIA_URL",
    )
}
if not S3_BUCKET:
    # Half an S3 configuration would otherwise be ignored in silence, the files kept on this machine.
    if stray := [name for name, value in _s3.items() if value]:
        raise ImproperlyConfigured(
            f"{', '.join(stray)} set, but DJANGO_S3_BUCKET is not: set the bucket too, or unset "
            "them to keep images on this machine."
        )
else:
    if not _s3["DJANGO_MEDIA_URL"]:
        raise ImproperlyConfigured(
            "DJANGO_S3_BUCKET is set, but DJANGO_MEDIA_URL is not: set it to the public base URL "
            f"visitors fetch the bucket's files from, e.g. https://{S3_BUCKET}.s3.<region>.amazonaws.com/ "
            "or a CDN's address."
        )
    if bool(_s3["DJANGO_S3_ACCESS_KEY_ID"]) != bool(_s3["DJANGO_S3_SECRET_ACCESS_KEY"]):
        raise ImproperlyConfigured(
            "Set both DJANGO_S3_ACCESS_KEY_ID and DJANGO_S3_SECRET_ACCESS_KEY, or neither (boto3 then "
            "finds credentials itself: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the machine's role)."
        )
    if _s3["DJANGO_S3_ENDPOINT_URL"]:
        url_origin("DJANGO_S3_ENDPOINT_URL", _s3["DJANGO_S3_ENDPOINT_URL"])
    # Pages served over HTTPS load nothing over plain HTTP.
    MEDIA_ORIGIN, _media_path = url_origin(
        "DJANGO_MEDIA_URL", _s3["DJANGO_MEDIA_URL"], ("https",) if PRODUCTION else ("http", "https")
    )
    MEDIA_URL = f"{MEDIA_ORIGIN}{_media_path.rstrip('/')}/"
    _scheme, _host = MEDIA_ORIGIN.split("//")
    _options = {
        "bucket_name": S3_BUCKET,
        # Pages name each file by a plain URL under MEDIA_URL: public, cacheable, never expiring.
        "querystring_auth": False,
        "url_protocol": _scheme,
        "custom_domain": f"{_host}{_media_path.rstrip('/')}",
        # Sent with every file by the bucket or the CDN in front of it; the content type comes
        # from the file's extension (casestudies.media.S3MediaStorage).
        "object_parameters": {"CacheControl": MEDIA_CACHE_CONTROL},
    }
    if _s3["DJANGO_S3_ENDPOINT_URL"]:
        _options["endpoint_url"] = _s3["DJANGO_S3_ENDPOINT_URL"]
    if _s3["DJANGO_S3_REGION"]:
        _options["region_name"] = _s3["DJANGO_S3_REGION"]
    if _s3["DJANGO_S3_ACCESS_KEY_ID"]:
        _options["access_key"] = _s3["DJANGO_S3_ACCESS_KEY_ID"]
        _options["secret_key"] = _s3["DJANGO_S3_SECRET_ACCESS_KEY"]
    DEFAULT_STORAGE = {"BACKEND": "casestudies.media.S3MediaStorage", "OPTIONS": _options}

_max_image_mb = os.environ.get("DJANGO_MAX_IMAGE_MB", "").strip() or "20"
if not (_max_image_mb.isascii() and _max_image_mb.isdigit() and int(_max_image_mb) > 0):
    raise ImproperlyConfigured(
        f"DJANGO_MAX_IMAGE_MB must be a whole number of megabytes, not {_max_image_mb!r}."
    )
MAX_IMAGE_MB = int(_max_image_mb)
# Django caps no uploaded file: DATA_UPLOAD_MAX_MEMORY_SIZE counts form fields only, and a file
# over FILE_UPLOAD_MAX_MEMORY_SIZE goes to a temporary file instead of memory. The admin refuses
# an image over MAX_IMAGE_MB by its size, unread; a proxy in front must let a body that large
# through (nginx: client_max_body_size), and is what bounds a request's size (gunicorn does not).
# Larger than any camera's photo; a bigger claim is a decompression bomb.
MAX_IMAGE_PIXELS = 50_000_000

# import_studies refuses a study file larger than this, by its size on disk, unread.
_max_import_kb = os.environ.get("DJANGO_MAX_IMPORT_KB", "").strip() or "1024"
if not (_max_import_kb.isascii() and _max_import_kb.isdigit() and int(_max_import_kb) > 0):
    raise ImproperlyConfigured(
        f"DJANGO_MAX_IMPORT_KB must be a whole number of kilobytes, 1 or more, not {_max_import_kb!r}."
    )
MAX_IMPORT_KB = int(_max_import_kb)

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": DEFAULT_STORAGE,
    # Hashed names, gzip and brotli copies; whitenoise serves them cached forever.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# The admin lives at a path of the operator's choosing in production.
ADMIN_PATH = (os.environ.get("DJANGO_ADMIN_PATH", "").strip().strip("/") or "admin") + "/"

# Tags: "Security" and "security" are one tag; slugs keep non-ASCII letters.
TAGGIT_CASE_INSENSITIVE = True

# A share-preview link to a draft works for this long after the admin makes it.
_preview_link_days = os.environ.get("DJANGO_PREVIEW_LINK_DAYS", "").strip() or "7"
if not (_preview_link_days.isascii() and _preview_link_days.isdigit() and int(_preview_link_days) >= 1):
    raise ImproperlyConfigured(
        f"DJANGO_PREVIEW_LINK_DAYS must be a whole number of days, 1 or more, not {_preview_link_days!r}."
    )
PREVIEW_LINK_MAX_AGE = int(_preview_link_days) * 24 * 60 * 60

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Features no page of ours uses, refused to the page and to anything it could embed
# (portfolio.security.security_headers). Clipboard access stays: the admin's "Copy link".
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in [
        "accelerometer", "autoplay", "browsing-topics", "camera", "display-capture",
        "encrypted-media", "geolocation", "gyroscope", "hid", "magnetometer", "microphone",
        "midi", "payment", "publickey-credentials-get", "screen-wake-lock", "serial", "usb",
        "xr-spatial-tracking",
    ]
)  # fmt: skip

# Content-Security-Policy (django-csp) on every response, static files included. Public pages
# run no JavaScript and load only our own stylesheet, favicon and images (and, with S3, images
# from MEDIA_ORIGIN): nothing inline, nothing from elsewhere. Their one <script>, the JSON-LD,
# is a data block, which browsers neither run nor check against script-src, so no nonce: a
# page is then the same for every visitor, and a page cache may replay it, header and all.
# The admin, checked page by page in a browser, has no inline script or style either (its data
# rides in data- attributes and JSON blocks). connect-src 'self' is for its fetch() (the live
# preview of a study's body, the autocomplete of related fields) and for Lighthouse, as
# PageSpeed Insights runs it, which fetches /robots.txt from inside the page it audits; a
# public page has no script of its own to use it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "connect-src": [SELF],
        "img-src": [SELF, *filter(None, [MEDIA_ORIGIN])],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "upgrade-insecure-requests": PRODUCTION,
    }
}
# Staff are the only visitors with a session. A working day, then log in again: a session
# left open on a shared machine, or stolen, is worthless by the next morning. If it ends
# mid-edit, the live preview says so and nothing typed in the form is lost.
SESSION_COOKIE_AGE = 8 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# No other site can make a staff browser send the session, not even by a link; the cost is a
# log-in page when a link from elsewhere leads into the admin.
SESSION_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_SAMESITE = "Strict"

# Log-in limits (django-axes): five failures for one user name from one address lock that
# name out at that address, and five from one address, whatever the names, lock the address
# out; for 15 minutes, and each attempt during a lock-out restarts it. Never a user name
# alone: anyone who knows it could then lock its owner out from everywhere.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_LOCKOUT_CALLABLE = "portfolio.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "portfolio.security.client_ip"
# Failures and lock-outs are still logged (user name and address masked); not verbose: no
# "AXES: BEGIN" line from every process and every manage.py command.
AXES_VERBOSE = False
# How many proxies in front of the site append to X-Forwarded-For: the client's address is
# read that far from the right. 0 trusts no header: every client is REMOTE_ADDR, so behind a
# proxy all share one address (and one lock-out) until this is set.
_trusted_proxy_count = os.environ.get("DJANGO_TRUSTED_PROXY_COUNT", "").strip() or "0"
if not (_trusted_proxy_count.isascii() and _trusted_proxy_count.isdigit()):
    raise ImproperlyConfigured(
        f"DJANGO_TRUSTED_PROXY_COUNT must be a whole number, 0 or more, not {_trusted_proxy_count!r}."
    )
TRUSTED_PROXY_COUNT = int(_trusted_proxy_count)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# logging knows level names in capitals only; `info` would stop every command.
LOG_LEVEL = os.environ.get("DJANGO_LOG_LEVEL", "").strip().upper() or "INFO"
if LOG_LEVEL not in LOG_LEVELS:
    raise ImproperlyConfigured(
        f"DJANGO_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)} (in any case), "
        f"not {os.environ['DJANGO_LOG_LEVEL']!r}."
    )

# json: one object a line, for machines; production's. plain: one readable line a record, for
# a person at a terminal; the default with DEBUG, as under `make dev`.
LOG_FORMATS = ("json", "plain")
LOG_FORMAT = os.environ.get("DJANGO_LOG_FORMAT", "").strip().lower() or ("plain" if DEBUG else "json")
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(
        f"DJANGO_LOG_FORMAT must be json or plain (in any case), not {os.environ['DJANGO_LOG_FORMAT']!r}."
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # One JSON object a line, with the request's id, or one readable line; gunicorn's lines
    # share the format (gunicorn.conf.py). Secrets and share-preview tokens are redacted
    # either way (portfolio/jsonlog.py).
    "formatters": {
        "json": {"()": "portfolio.jsonlog.JsonFormatter"},
        "plain": {"()": "portfolio.jsonlog.PlainFormatter"},
    },
    "filters": {"request_id": {"()": "portfolio.requestid.RequestIdFilter"}},
    "handlers": {
        # The level here as well as on the root: a record logged below it on a logger with a
        # level of its own ("django" is INFO) would otherwise still reach the handler.
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
            "level": LOG_LEVEL,
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own configuration gives these handlers of their own: with DEBUG on, every
        # "django" line was written twice, once raw and once by ours, and runserver's went out
        # raw. Emptied, their lines go through the root's handler alone.
        "django": {"handlers": [], "propagate": True},
        # runserver's line for each request: every one while working on the site (DEBUG, as
        # under `make dev`), otherwise only failures.
        "django.server": {"handlers": [], "level": "INFO" if DEBUG else "WARNING", "propagate": True},
    },
}
