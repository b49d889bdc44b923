from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OfficersConfig(AppConfig):
    name = "garnizon.portal.officers"
    label = "portal_officers"
    verbose_name = _("Dzielnicowi")
