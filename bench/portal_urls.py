"""The project's URLs plus `/bench/minimal/`: the least a Django view can do.

It goes through the same middleware (sessions, CSRF, locale, security headers)
as every portal page, so its throughput is the ceiling a real page can reach
on the same server.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from garnizon.urls import urlpatterns as project_urlpatterns


def minimal(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/minimal/", minimal), *project_urlpatterns]
