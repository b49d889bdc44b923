from django.urls import include, path

from garnizon.portal import reply_views, views

app_name = "portal"

urlpatterns = [
    path("", views.start, name="start"),
    path("deklaracja-dostepnosci/", views.accessibility, name="accessibility"),
    path("jezyk/<str:code>/", views.language, name="language"),
    path("wizyty/", include("garnizon.portal.visits.urls")),
    path("dzielnicowy/", include("garnizon.portal.officers.urls")),
    path("wyslano/<str:token>/", views.confirmation, name="confirmation"),
    path("sledzenie/<str:token>/", views.tracking, name="tracking"),
    path("sledzenie/<str:token>/potwierdzenie.pdf", views.receipt, name="receipt"),
    path(
        "sledzenie/<str:token>/odpowiedz/<int:reply_id>/<int:index>/",
        reply_views.reply_file,
        name="reply_file",
    ),
    path("petycje/", reply_views.petitions, name="petitions"),
    path("konto/", include("garnizon.portal.account_urls")),
    path("<slug:service>/", views.service_start, name="service"),
    path("<slug:service>/sprawdz/", views.check, name="check"),
    path("<slug:service>/<slug:slug>/", views.step, name="step"),
]
