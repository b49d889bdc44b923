from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "garnizon.intake"
    label = "intake"
    verbose_name = "Przyjmowanie plików"
