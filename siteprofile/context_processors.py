from django.utils.functional import SimpleLazyObject

from siteprofile.models import SiteProfile


def profile(request):
    """`profile` in every template; loaded (from the cache) only when a template reads it."""
    return {"profile": SimpleLazyObject(SiteProfile.current)}
