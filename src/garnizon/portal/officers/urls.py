"""Citizens' pages, mounted at /portal/dzielnicowy/ inside the portal's namespace."""

from django.urls import path

from garnizon.portal.officers import views

app_name = "portal_officers"

urlpatterns = [
    path("", views.find, name="find"),
    path("mapa.png", views.map_overview, name="map_overview"),
    path("mapa-powiekszenie.png", views.map_zoom, name="map_zoom"),
    path("<int:officer_id>/zdjecie.jpg", views.photo, name="photo"),
]
