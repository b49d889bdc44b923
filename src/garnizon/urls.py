from django.urls import include, path

from garnizon.org.admin import site as admin_site

urlpatterns = [
    path("api/", include("garnizon.api.urls")),
    path("admin/", admin_site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("documents/", include("garnizon.documents.urls")),
    path("intake/", include("garnizon.intake.urls")),
    path("portal/", include("garnizon.portal.urls")),
    path("e-uslugi/", include("garnizon.portal.staff_urls")),
    path("wizyty/", include("garnizon.portal.visits.staff_urls")),
    path("dzielnicowi/", include("garnizon.portal.officers.staff_urls")),
    path("", include("garnizon.web.urls")),
]
