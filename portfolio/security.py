"""What keeps the site strict beyond Django's own settings: response headers and log-in limits.

settings.py wires these in: the two middlewares sit right after SecurityMiddleware, ahead
of whitenoise, so static files carry the same headers as pages.
"""

from csp.constants import HEADER
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.contrib import admin
from django.shortcuts import render
from django.utils import timezone


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's policy, its directives in one order."""

    def process_response(self, request, response):
        response = super().process_response(request, response)
        if HEADER in response:
            # django-csp's order changes from process to process; one order reads and diffs better.
            directives = sorted(part.strip() for part in response[HEADER].split(";"))
            directives.sort(key=lambda directive: not directive.startswith("default-src "))
            response[HEADER] = "; ".join(directives)
        return response


def security_headers(get_response):
    """The headers Django does not set itself: Permissions-Policy and Cross-Origin-Resource-Policy."""

    def middleware(request):
        response = get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        # Images may be shown by other sites (a feed reader, a link preview that hotlinks the
        # share card); nothing else of ours is for another origin to load.
        is_image = response.get("Content-Type", "").startswith("image/")
        response.headers.setdefault(
            "Cross-Origin-Resource-Policy", "cross-origin" if is_image else "same-origin"
        )
        return response

    return middleware


def client_ip(request):
    """The address log-in limits count by: X-Forwarded-For only as far as settings.TRUSTED_PROXY_COUNT says.

    Each trusted proxy appends the address it saw, so the client is the entry that many places
    from the right; anything further left was sent by the client and may be forged. With no
    trusted proxy (the default) the header is ignored.
    """
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= count:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR")


def lockout_response(request, original_response=None, credentials=None):
    """What django-axes answers a locked-out log-in: 429, the admin's look, and when to try again.

    Every attempt during a lock-out starts the cool-off again (axes' default), so "now plus the
    cool-off" is when this client may try again, at the latest.
    """
    cool_off = settings.AXES_COOLOFF_TIME
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed log-ins",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cool_off_minutes": round(cool_off.total_seconds() / 60),
        "retry_at": timezone.localtime(timezone.now() + cool_off),
    }
    response = render(request, "axes/lockout.html", context, status=429)
    response["Retry-After"] = str(round(cool_off.total_seconds()))
    return response
