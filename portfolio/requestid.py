"""A request id on every response and every log line of the request that made it.

The proxy's X-Request-ID is kept when it looks like an id (letters, digits,
`.`, `_`, `-`, at most 64), so one id follows a request from the load balancer
through gunicorn's access log; otherwise the site makes one.
"""

import contextvars
import logging
import re
import uuid

from django.core.signals import request_finished

HEADER = "X-Request-ID"
SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

request_id = contextvars.ContextVar("request_id", default=None)


def incoming_id(request):
    value = request.headers.get(HEADER, "")
    return value if SANE_ID.fullmatch(value) else uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE: outside the page cache, so a cached page never carries an old id."""

    def __init__(self, get_response):
        self.get_response = get_response
        # Django logs a 4xx or 5xx response after the middleware has returned it,
        # so the id is kept until the request is finished, not just until then.
        request_finished.connect(forget_request_id, dispatch_uid="portfolio.requestid.forget")

    def __call__(self, request):
        request.id = incoming_id(request)
        request_id.set(request.id)
        response = self.get_response(request)
        response[HEADER] = request.id
        return response


def forget_request_id(sender, **kwargs):
    request_id.set(None)


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on each record (None outside a request)."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True
