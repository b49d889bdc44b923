"""Staff pages, mounted at /dzielnicowi/: the units' officers and their threat-map reports."""

from django.urls import path

from garnizon.portal.officers import views

app_name = "staff_officers"

urlpatterns = [
    path("", views.officer_list, name="list"),
    path("nowy/", views.officer_create, name="create"),
    path("<int:officer_id>/", views.officer_edit, name="edit"),
    path("<int:officer_id>/usun/", views.officer_delete, name="delete"),
    path("zagrozenia/", views.threat_list, name="threats"),
    path("zagrozenia/<int:report_id>/status/", views.threat_status, name="threat_status"),
]
