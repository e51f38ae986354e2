from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from portfolio.health import healthz

admin.site.site_header = "Portfolio authoring"
admin.site.site_title = "Portfolio admin"
admin.site.index_title = "Case studies and tags"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path(settings.ADMIN_PATH, admin.site.urls),
    path("", include("casestudies.urls")),
    path("", include("siteprofile.urls")),
]
