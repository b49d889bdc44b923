from django.apps import AppConfig


class OrgConfig(AppConfig):
    name = "garnizon.org"
    label = "org"
