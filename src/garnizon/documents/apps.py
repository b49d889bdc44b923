from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "garnizon.documents"
    label = "documents"
