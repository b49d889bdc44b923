from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "garnizon.api"
    label = "api"
