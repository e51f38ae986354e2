"""When a backing service is down: a styled 503 instead of a traceback, logged once per outage.

A database that cannot be reached (refused, gone away, closed under us) turns
any page into `503.html` with Retry-After. The page is rendered without a
request context, so it needs neither the database nor the cache. The first
failure is logged with its cause; the requests after it are not, until a
connection succeeds again and says so.
"""

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.db.backends.signals import connection_created
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from django.views import defaults

logger = logging.getLogger("portfolio.faults")

# Seconds a client (or a load balancer, or a CDN) should wait before asking again.
RETRY_AFTER = 30

DATABASE_ERRORS = (OperationalError, InterfaceError)
try:
    import psycopg
except ImportError:  # pragma: no cover: psycopg is a runtime dependency
    pass
else:
    # Django wraps the driver's errors in its own; these are for a driver call outside that wrapper.
    DATABASE_ERRORS += (psycopg.OperationalError, psycopg.InterfaceError)


def describe(error):
    """An error's class and the first line of its message: enough to act on, no stack, no payload."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


class Outage:
    """Whether a service is down in this process, so each outage is logged once, not per request."""

    def __init__(self, service):
        self.service = service
        self.down = False

    def failed(self, error):
        if not self.down:
            self.down = True
            logger.error("%s unavailable: %s (logged once until it is back)", self.service, describe(error))

    def recovered(self):
        if self.down:
            self.down = False
            logger.warning("%s reachable again", self.service)


database = Outage("database")


def database_connected(sender, **kwargs):
    database.recovered()


def is_database_outage(error):
    return isinstance(error, DATABASE_ERRORS)


def unavailable(error):
    """The 503 page for a request that met a database outage; logs the outage's first failure."""
    database.failed(error)
    html = render_to_string("503.html", {"retry_after": RETRY_AFTER})
    response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER)
    # no-store among them: a proxy must not serve this page in place of the real one.
    add_never_cache_headers(response)
    # Django logs every 5xx response; an outage is logged once, above.
    response._has_been_logged = True
    return response


class DatabaseOutageMiddleware:
    """Turns a database outage met by a view (or its template) into the 503 page."""

    def __init__(self, get_response):
        self.get_response = get_response
        # A new connection is the first sign the database is back.
        connection_created.connect(database_connected, dispatch_uid="portfolio.faults.database_connected")

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_database_outage(exception):
            return unavailable(exception)
        return None


def server_error(request):
    """handler500: an outage met outside a view (a middleware, an error page's own template) is a 503 too."""
    error = sys.exc_info()[1]
    if is_database_outage(error):
        return unavailable(error)
    return defaults.server_error(request)
