from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from casestudies import media, sitemaps
from portfolio.health import healthz, readyz
from portfolio.robots import robots_txt

# A database outage met outside a view is a 503 too, not a 500.
handler500 = "portfolio.faults.server_error"

admin.site.site_header = "Portfolio authoring"
admin.site.site_title = "Portfolio admin"
admin.site.index_title = "Case studies and tags"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("robots.txt", robots_txt, name="robots_txt"),
    path("sitemap.xml", sitemaps.index, name="sitemap"),
    path("sitemap-<section>.xml", sitemaps.section, name="sitemap_section"),
    path(settings.ADMIN_PATH, admin.site.urls),
    path("", include("casestudies.urls")),
    path("", include("siteprofile.urls")),
]
# Uploaded images, when the site keeps them itself; with S3, pages point at the bucket instead.
if settings.MEDIA_URL.startswith("/"):
    urlpatterns.append(path(f"{settings.MEDIA_URL.lstrip('/')}<path:name>", media.serve, name="media"))
