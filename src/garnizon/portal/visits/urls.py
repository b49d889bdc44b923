from django.urls import path

from garnizon.portal.visits import views

app_name = "portal_visits"

urlpatterns = [
    path("", views.start, name="start"),
    path("sprawdz/", views.check, name="check"),
    path("wizyta/<str:token>/", views.booking, name="booking"),
    path("wizyta/<str:token>/odwolaj/", views.cancel, name="cancel"),
    path("wizyta/<str:token>/wizyta.ics", views.ics, name="ics"),
    path("<slug:slug>/", views.step, name="step"),
]
