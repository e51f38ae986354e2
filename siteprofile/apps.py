from django.apps import AppConfig


class SiteProfileConfig(AppConfig):
    name = "siteprofile"
    verbose_name = "Site profile"
