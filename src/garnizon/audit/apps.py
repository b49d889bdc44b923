from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "garnizon.audit"
    label = "audit"
