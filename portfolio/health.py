from django.http import HttpResponse
from django.views.decorators.cache import never_cache


@never_cache
def healthz(request):
    """Liveness for the container and load balancers: the process answers, nothing more."""
    return HttpResponse("ok\n", content_type="text/plain")
