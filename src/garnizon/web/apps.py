from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "garnizon.web"
    label = "web"
