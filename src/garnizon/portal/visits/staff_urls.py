from django.urls import path

from garnizon.portal.visits import staff_views as views

app_name = "staff_visits"

urlpatterns = [
    path("", views.index, name="index"),
    path("jednostka/<int:unit_id>/rodzaj/nowy/", views.kind_new, name="kind_new"),
    path("jednostka/<int:unit_id>/dzien/", views.day, name="day"),
    path("jednostka/<int:unit_id>/dni-wolne/", views.closed_day_add, name="closed_day_add"),
    path("dni-wolne/<int:closed_id>/usun/", views.closed_day_delete, name="closed_day_delete"),
    path("rodzaj/<int:kind_id>/", views.kind_detail, name="kind"),
    path("rodzaj/<int:kind_id>/godziny/", views.rule_add, name="rule_add"),
    path("rodzaj/<int:kind_id>/generuj/", views.generate, name="generate"),
    path("godziny/<int:rule_id>/usun/", views.rule_delete, name="rule_delete"),
    path("termin/<int:slot_id>/odwolaj/", views.slot_cancel, name="slot_cancel"),
    path("rezerwacja/<int:booking_id>/odwolaj/", views.booking_cancel, name="booking_cancel"),
]
