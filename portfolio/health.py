import uuid

from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from portfolio import faults
from portfolio.cache import outage as cache_outage


@never_cache
def healthz(request):
    """Liveness for the container and load balancers: the process answers, nothing more."""
    return HttpResponse("ok\n", content_type="text/plain")


@never_cache
def readyz(request):
    """Readiness: whether this process can serve pages now, each dependency checked for real.

    200 when every check says "ok", else 503. A failure shows only its kind
    (the error's class): the details, which name hosts and users, go to the log.
    """
    checks = {"database": check_database(), "cache": check_cache()}
    ready = all(result == "ok" for result in checks.values())
    response = JsonResponse(checks, status=200 if ready else 503)
    # A load balancer asks every few seconds: the outage is logged once (portfolio.faults),
    # not once a probe as Django logs every 5xx.
    response._has_been_logged = True
    return response


def check_database():
    try:
        connection.ensure_connection()
        # A round trip that reads no table: the probe asks whether the server answers, not
        # what the site holds (no model query would be so cheap, or so sure to exist).
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:
        faults.database.failed(error)
        return f"error: {type(error).__name__}"
    faults.database.recovered()
    return "ok"


def check_cache():
    try:
        if check := getattr(cache, "check", None):
            # The Redis cache answers a miss while Redis is down; check() asks Redis itself.
            check()
        else:
            key, value = f"readyz:{uuid.uuid4().hex}", uuid.uuid4().hex
            cache.set(key, value, 10)
            if cache.get(key) != value:
                raise LookupError("the cache did not keep a value")
            cache.delete(key)
    except Exception as error:
        cache_outage.failed(error)
        return f"error: {type(error).__name__}"
    return "ok"
