from django.apps import AppConfig


class JrwaConfig(AppConfig):
    name = "garnizon.jrwa"
    label = "jrwa"
