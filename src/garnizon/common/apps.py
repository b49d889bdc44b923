from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "garnizon.common"
    label = "common"
