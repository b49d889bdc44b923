from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VisitsConfig(AppConfig):
    name = "garnizon.portal.visits"
    label = "portal_visits"
    verbose_name = _("Wizyty")
