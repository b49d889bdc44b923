from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "garnizon.audit"
    label = "audit"
    verbose_name = "Dziennik zdarzeń"

    def ready(self) -> None:
        # Imported here: signals imports models, which are not ready at import time.
        from garnizon.audit.signals import connect_login_signals

        connect_login_signals()
