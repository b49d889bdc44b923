from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "garnizon.cases"
    label = "cases"
