"""Whole public pages kept ready, so a visitor without a session is answered with stored bytes.

What is kept: the answer to an anonymous GET that is a 200 and says nothing
private (no Set-Cookie; no `private`, `no-store` or `no-cache`; a Vary on
nothing but Cookie), for PAGE_CACHE_SECONDS at most. The key is the scheme,
host, path and query string, since a page differs by nothing else for a visitor
without a session, and a digest of the code and templates, so that a release
never serves a page rendered by the one before it from a shared cache.

Who goes past it: the admin, and any request with a session or messages
cookie (the staff). Their pages are never stored, nor looked up, and are sent
with never-cache headers.

When a page is dropped: each entry records the content *generation* it was
rendered in. Every committed change that can show on a page starts a new
generation (casestudies/contentchanges.py says which). An entry of an older
generation is a miss, in every process at once, because the generation lives
where all of them look: in the shared cache with REDIS_URL, else in a file,
`var/cache-generation`, that each request stats (a worker cannot clear another
worker's memory cache). An entry also ends at the next scheduled publication, so
a study dated in the future appears on time. Values a page is drawn from may be
kept under the generation too (`remember`), and so are dropped with the pages.

Compression: public pages go gzipped to clients that accept it (Vary:
Accept-Encoding, q-values honoured), compressed once when rendered and kept so
with the entry. Pages for the staff are never compressed (see `gzipped`).

Headers on public pages: Cache-Control public with a short max-age and
stale-while-revalidate (max-age never past the next publication), an ETag (a
digest of the body) and Last-Modified. A generation begins on any change, a
draft's included, so it cannot date a page by itself: a page drawn again with
the ETag it had before keeps the Last-Modified it had then (kept beside the
entry, longer than it, and across releases); a page whose body changed is dated
by its generation's start, or by the last publication if later. A repeat request
that matches is a 304 straight from the entry. If the cache or the generation
cannot be read, pages are rendered and sent as usual, just not stored.
"""

import functools
import hashlib
import logging
import math
import os
import re
import secrets
import sys
import time
from pathlib import Path
from typing import NamedTuple

import django
from django.apps import apps
from django.conf import settings
from django.core.cache import cache, caches
from django.core.exceptions import DisallowedHost
from django.db import DatabaseError
from django.http import HttpResponse
from django.utils.cache import (
    add_never_cache_headers,
    get_conditional_response,
    patch_cache_control,
    patch_vary_headers,
)
from django.utils.http import http_date, parse_http_date_safe, quote_etag
from django.utils.text import compress_string

from portfolio.faults import Outage, describe

logger = logging.getLogger("portfolio.pagecache")

GENERATION_KEY = "pagecache:generation"
# What browsers and CDNs may keep: a minute, then a minute more while they revalidate.
BROWSER_MAX_AGE = 60
STALE_WHILE_REVALIDATE = 60
# Whoever carries one of these sees pages made for them (the staff; a message after a redirect).
PERSONAL_COOKIES = ("messages",)
SAFE_METHODS = ("GET", "HEAD")
# Below this, gzip's own header outweighs what it saves.
MIN_GZIP_BYTES = 200
COMPRESSIBLE_TYPES = ("text/", "application/atom+xml", "application/xml", "application/json")
# A weight in Accept-Encoding (RFC 9110, 12.4.2).
QVALUE = re.compile(r"0(\.\d{0,3})?|1(\.0{0,3})?")
LOCMEM = "django.core.cache.backends.locmem.LocMemCache"
# How long a page's ETag and Last-Modified are kept after it was last drawn: long past its entry,
# so that a page drawn again unchanged, after a draft's save or a release, keeps its date.
VALIDATORS_SECONDS = 30 * 24 * 3600
# What renders a page, besides the database: the code fingerprint reads these.
SOURCE_SUFFIXES = {".py", ".html", ".txt", ".xml", ".json"}

outage = Outage("page cache")


class Entry(NamedTuple):
    """A stored page: everything a hit needs, so that a hit does no work but sending it."""

    generation: str
    status: int
    headers: tuple
    content: bytes
    # The same body gzipped, when that is smaller (see `gzipped`).
    gzipped: bytes | None
    etag: str
    last_modified: int
    expires_at: float
    # The next scheduled publication, when the page's max-age (ours) must end by then.
    publication_at: float | None


class PageCacheMiddleware:
    """Right after SecurityMiddleware and whitenoise: a hit skips sessions, auth, CSRF and the view."""

    def __init__(self, get_response):
        self.get_response = get_response
        # Once, at start-up: with gunicorn's preload, in the master before it forks.
        code_version()

    def __call__(self, request):
        if _pending.generation:
            start_generation()
        if request.method not in SAFE_METHODS or is_admin(request):
            return self.get_response(request)
        if is_personal(request):
            response = self.get_response(request)
            if not response.has_header("Cache-Control"):
                add_never_cache_headers(response)
                patch_cache_control(response, private=True)
            return response
        if not settings.PAGE_CACHE_SECONDS:
            return finish(request, self.get_response(request))
        try:
            key = page_key(request)
        except DisallowedHost:
            # The view's turn to refuse it, as it would without this cache.
            return self.get_response(request)
        generation, entry = lookup(key)
        if entry is not None:
            return respond(request, entry)
        return finish(request, self.get_response(request), key, generation)


def is_admin(request):
    return request.path_info.startswith(f"/{settings.ADMIN_PATH}")


def is_personal(request):
    cookies = request.COOKIES
    return settings.SESSION_COOKIE_NAME in cookies or any(name in cookies for name in PERSONAL_COOKIES)


def page_key(request):
    return f"page:{code_version()}:{url_digest(request)}"


def validators_key(request):
    # Not under the code version: a release that leaves a page's body alone leaves its date alone.
    return f"page-validators:{url_digest(request)}"


def url_digest(request):
    # get_host() first: it refuses a host not in ALLOWED_HOSTS. The query string as sent (the
    # views redirect other spellings), the path as decoded: hashed, neither needs escaping.
    url = f"{request.get_host()} {request.scheme} {request.path} {request.META.get('QUERY_STRING', '')}"
    return hashlib.md5(url.encode(), usedforsecurity=False).hexdigest()


@functools.cache
def code_version():
    """A digest of what renders pages besides the database: code, templates, the static manifest."""
    digest = hashlib.blake2b(django.get_version().encode(), digest_size=8)
    base = Path(settings.BASE_DIR)
    roots = {Path(directory) for engine in settings.TEMPLATES for directory in engine.get("DIRS", [])}
    # The project's own apps; installed packages by their pins.
    roots |= {
        Path(app.path)
        for app in apps.get_app_configs()
        if Path(app.path).is_relative_to(base) and not Path(app.path).is_relative_to(sys.prefix)
    }
    roots.add(Path(__file__).parent)
    files = {path for root in roots for path in root.rglob("*") if path.suffix in SOURCE_SUFFIXES}
    files.add(base / "requirements.txt")
    if settings.STATIC_ROOT:
        # Pages name the hashed stylesheet; a new one is a new page.
        files.add(Path(settings.STATIC_ROOT) / "staticfiles.json")
    for path in sorted(files):
        if path.is_file():
            digest.update(os.path.relpath(path, base).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


# Looking up and storing


def generation_and(keys):
    """The current generation, and what the cache holds under each of `keys` (a dict)."""
    if generation_in_file():
        generation = file_generation(settings.PAGE_CACHE_GENERATION_FILE)
        return generation, caches["default"].get_many(keys) if generation else {}
    # One round trip for all.
    found = caches["default"].get_many([GENERATION_KEY, *keys])
    return found.pop(GENERATION_KEY, None) or shared_generation(), found


def lookup(key):
    """The current generation (None if it cannot be read) and the page stored for it, if any."""
    try:
        generation, found = generation_and([key])
    except Exception as error:
        outage.failed(error)
        return None, None
    entry = found.get(key)
    outage.recovered()
    if entry is None or entry.generation != generation or entry.expires_at <= time.time():
        return generation, None
    return generation, entry


def respond(request, entry):
    response = HttpResponse(entry.content, status=entry.status, headers=entry.headers)
    if entry.publication_at is not None:
        response.headers["Cache-Control"] = public_cache_control(entry.publication_at)
    encode(request, response, entry.gzipped)
    if "HTTP_IF_NONE_MATCH" in request.META or "HTTP_IF_MODIFIED_SINCE" in request.META:
        return get_conditional_response(
            request, etag=response["ETag"], last_modified=entry.last_modified, response=response
        )
    return response


# Compression. Only here, for the pages anyone may see: a page made for the staff carries
# a CSRF token, which compression beside reflected input could leak (BREACH); these pages
# carry nothing secret. Compressed once, when the page is rendered; a hit just sends it.


def gzipped(response):
    """The response's body gzipped, when it is text worth compressing; else None."""
    content_type = response.get("Content-Type", "")
    if (
        len(response.content) < MIN_GZIP_BYTES
        or not content_type.startswith(COMPRESSIBLE_TYPES)
        or response.has_header("Content-Encoding")
    ):
        return None
    smaller = compress_string(response.content)
    return smaller if len(smaller) < len(response.content) else None


def encode(request, response, gzipped_body):
    """Send the gzipped body to a client that accepts it."""
    patch_vary_headers(response, ["Accept-Encoding"])
    if gzipped_body is None or not prefers_gzip(request.headers.get("Accept-Encoding", "")):
        return
    response.content = gzipped_body
    response.headers["Content-Length"] = str(len(gzipped_body))
    response.headers["Content-Encoding"] = "gzip"
    # Another representation of the same page: a weak validator, as Django's GZipMiddleware does.
    if response.has_header("ETag") and not response["ETag"].startswith("W/"):
        response.headers["ETag"] = "W/" + response["ETag"]


def coding_weights(accept_encoding):
    """{coding: q} as the client sent them in Accept-Encoding, names in lower case."""
    weights = {}
    for item in accept_encoding.split(","):
        coding, *parameters = (part.strip() for part in item.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = (part.strip() for part in parameter.partition("="))
            if name.lower() == "q":
                # A weight that is not one is read as a refusal: the client gets nothing it did not ask for.
                weight = float(value) if QVALUE.fullmatch(value) else 0.0
        if coding:
            weights[coding.lower()] = weight
    return weights


def prefers_gzip(accept_encoding):
    """Whether gzip is acceptable (q above 0, its own or `*`'s) and wanted at least as much as
    no coding at all (`identity`, its own q or `*`'s; ranked last when the list names neither)."""
    weights = coding_weights(accept_encoding)
    anything = weights.get("*", 0.0)
    gzip = weights.get("gzip", weights.get("x-gzip", anything))
    return gzip > 0 and gzip >= weights.get("identity", anything)


def refused_codings_removed(get_response):
    """Ahead of whitenoise, which sends a file's gzip or brotli copy to any client that names the
    coding, even as refused (`gzip;q=0`): it is shown only the codings the client accepts."""

    def middleware(request):
        header = request.META.get("HTTP_ACCEPT_ENCODING", "")
        if "q=" in header.lower():
            weights = coding_weights(header)
            anything = weights.get("*", 0.0)
            accepted = [coding for coding in ("br", "gzip") if weights.get(coding, anything) > 0]
            request.META["HTTP_ACCEPT_ENCODING"] = ", ".join(accepted)
        return get_response(request)

    return middleware


def finish(request, response, key=None, generation=None):
    """Headers for an anonymous visitor's page; stored when it may be; a 304 if the visitor has it."""
    if response.status_code not in (200, 301):
        return response
    publication_at = last_change = None
    if generation is not None:
        try:
            publication_at, last_change = schedule(generation)
        except DatabaseError:
            # The page was rendered; without its bounds it is sent, not kept.
            key = generation = None
    # With the page cache off (DEBUG, tests), browsers are told nothing: they revalidate by ETag.
    own_cache_control = not response.has_header("Cache-Control") and bool(settings.PAGE_CACHE_SECONDS)
    if own_cache_control:
        if response.cookies:
            patch_cache_control(response, private=True)
        else:
            response.headers["Cache-Control"] = public_cache_control(publication_at)
    if response.status_code != 200 or response.streaming or not response.content or is_private(response):
        return response
    if not response.has_header("ETag"):
        response.headers["ETag"] = quote_etag(
            hashlib.md5(response.content, usedforsecurity=False).hexdigest()
        )
    last_modified = None
    if last_change is not None:
        drawn = drawn_before(request, response["ETag"]) or int(last_change)
        last_modified = max(drawn, parse_http_date_safe(response.get("Last-Modified", "")) or 0)
        response.headers["Last-Modified"] = http_date(last_modified)
    elif response.has_header("Last-Modified"):
        last_modified = parse_http_date_safe(response["Last-Modified"])
    body_gzipped = gzipped(response)
    if generation is not None:
        keep_validators(request, response["ETag"], last_modified)
    if generation is not None and key is not None and request.method == "GET" and storable(response):
        store(key, generation, response, body_gzipped, last_modified, publication_at, own_cache_control)
    encode(request, response, body_gzipped)
    return get_conditional_response(
        request, etag=response["ETag"], last_modified=last_modified, response=response
    )


def drawn_before(request, etag):
    """The Last-Modified this page had when last drawn, if it had this ETag then; else None."""
    try:
        kept = cache.get(validators_key(request))
    except Exception as error:
        outage.failed(error)
        return None
    return kept[1] if kept is not None and kept[0] == etag else None


def keep_validators(request, etag, last_modified):
    try:
        cache.set(validators_key(request), (etag, last_modified), VALIDATORS_SECONDS)
    except Exception as error:
        outage.failed(error)


def store(key, generation, response, body_gzipped, last_modified, publication_at, own_cache_control):
    now = time.time()
    seconds = settings.PAGE_CACHE_SECONDS
    if publication_at is not None:
        seconds = min(seconds, publication_at - now)
    if seconds < 1:
        return
    entry = Entry(
        generation=generation,
        status=response.status_code,
        headers=tuple(response.items()),
        content=response.content,
        gzipped=body_gzipped,
        etag=response["ETag"],
        last_modified=last_modified,
        expires_at=now + seconds,
        publication_at=publication_at if own_cache_control else None,
    )
    try:
        cache.set(key, entry, math.ceil(seconds))
    except Exception as error:
        outage.failed(error)


def public_cache_control(publication_at=None):
    remaining = math.inf if publication_at is None else publication_at - time.time()
    if remaining >= BROWSER_MAX_AGE + STALE_WHILE_REVALIDATE:
        return f"public, max-age={BROWSER_MAX_AGE}, stale-while-revalidate={STALE_WHILE_REVALIDATE}"
    # Kept no later than the next publication, and no stale copy shown past it.
    return f"public, max-age={max(0, min(BROWSER_MAX_AGE, int(remaining)))}"


def is_private(response):
    cache_control = response.get("Cache-Control", "").lower()
    return any(word in cache_control for word in ("private", "no-store", "no-cache"))


def storable(response):
    vary = {header.strip().lower() for header in response.get("Vary", "").split(",") if header.strip()}
    # Cookie: the only cookies that change a page (session, messages) go past the cache.
    return not response.cookies and vary <= {"cookie"}


class Schedule(NamedTuple):
    generation: str
    next_publication: float | None
    last_publication: float | None


_schedule = None


def schedule(generation):
    """(when the next scheduled study appears, when the site last changed): asked once a generation."""
    global _schedule
    known = _schedule
    now = time.time()
    if (
        known is None
        or known.generation != generation
        or (known.next_publication is not None and known.next_publication <= now)
    ):
        from casestudies.models import CaseStudy

        bounds = CaseStudy.objects.schedule()
        known = _schedule = Schedule(
            generation,
            bounds["next"] and bounds["next"].timestamp(),
            bounds["last"] and bounds["last"].timestamp(),
        )
    return known.next_publication, max(generation_time(generation), known.last_publication or 0)


# The generation: "<unix time> <random>", the same in every process


class _Pending:
    # Set when a new generation could not be written; each request of this process retries.
    generation = False


_pending = _Pending()
_file_seen = {}


def generation_in_file():
    # A memory cache is one per process: the generation must live outside it, where every worker looks.
    return settings.CACHES["default"]["BACKEND"] == LOCMEM


def remember(key, compute, seconds, *, timed=False):
    """`compute()`, kept in the cache for at most `seconds` (None: no bound) under the
    current content generation: a value pages are drawn from, out of date with them at
    the next change. A `timed` value (one drawn from `published()`) is kept no later
    than the next scheduled publication, as pages are."""
    return remember_each([key], lambda keys: {key: compute()}, seconds, timed=timed)[key]


def remember_each(keys, compute, seconds, *, timed=False):
    """`remember` for many values in one round trip: {key: value} for each of `keys`,
    where `compute(missing_keys)` gives those not kept for this generation.

    Computed afresh, not kept, when the generation cannot be read.
    """
    try:
        generation, found = generation_and(keys)
    except Exception as error:
        outage.failed(error)
        return compute(keys)
    kept = {key: value[1] for key, value in found.items() if generation and value[0] == generation}
    missing = [key for key in keys if key not in kept]
    if not missing:
        return kept
    computed = compute(missing)
    if timed and generation:
        next_publication, _ = schedule(generation)
        if next_publication is not None:
            until_then = math.floor(next_publication - time.time())
            seconds = until_then if seconds is None else min(seconds, until_then)
    # None: for as long as the cache keeps it.
    if generation and (seconds is None or seconds >= 1):
        try:
            cache.set_many({key: (generation, value) for key, value in computed.items()}, seconds)
        except Exception as error:
            outage.failed(error)
    return kept | computed


def new_generation():
    return f"{time.time():.6f} {secrets.token_hex(6)}"


def generation_time(generation):
    try:
        return float(generation.split(" ", 1)[0])
    except ValueError:
        return 0.0


def file_generation(path):
    """The generation in `path`, read again only when the file is replaced (a stat per request)."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return write_generation_file(path, new_generation())
    signature = (status.st_ino, status.st_mtime_ns, status.st_size)
    seen = _file_seen.get(path)
    if seen is not None and seen[0] == signature:
        return seen[1]
    with open(path) as file:
        generation = file.read().strip()
    _file_seen[path] = (signature, generation)
    return generation


def write_generation_file(path, generation):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside, then renamed over: a reader sees the old generation or the new, never half of one.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    temporary.write_text(generation)
    os.replace(temporary, path)
    return generation


def shared_generation():
    """The generation in the shared cache; a new one if it is missing (first use, evicted, flushed)."""
    cache.add(GENERATION_KEY, new_generation(), None)
    return cache.get(GENERATION_KEY)


def start_generation():
    """Every page stored so far is out of date, in every process.

    Kept with the page cache off too: the site profile's copy in each process follows it.
    """
    generation = new_generation()
    problem = "the cache did not keep it"
    try:
        if generation_in_file():
            write_generation_file(settings.PAGE_CACHE_GENERATION_FILE, generation)
            written = True
        else:
            cache.set(GENERATION_KEY, generation, None)
            # The resilient Redis cache answers a failed write with silence: read it back.
            written = cache.get(GENERATION_KEY) == generation
    except Exception as error:
        problem = describe(error)
        written = False
    if written:
        _pending.generation = False
    elif not _pending.generation:
        # Once, not per retry.
        _pending.generation = True
        logger.error(
            "could not start a new page-cache generation (%s): pages stored before this change may "
            "be served until it can (retried on each request) or until they expire",
            problem,
        )
