from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "garnizon.registry"
    label = "registry"
