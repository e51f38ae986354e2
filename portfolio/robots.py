from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe


@require_safe
@cache_control(public=True, max_age=60 * 60 * 24)
def robots_txt(request):
    """Crawlers: everything but the admin, and where the sitemap is.

    A view, not a static file: the admin's path is a setting and the sitemap's
    address must be absolute. Share-preview pages stay crawlable on purpose:
    a crawler has to fetch them to read their noindex.
    """
    lines = [
        "User-agent: *",
        f"Disallow: {reverse('admin:index')}",
        "Allow: /",
        "",
        f"Sitemap: {request.build_absolute_uri(reverse('sitemap'))}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")
