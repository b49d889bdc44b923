from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "garnizon.search"
    label = "search"
    verbose_name = "Wyszukiwanie"

    def ready(self) -> None:
        from garnizon.search import signals  # noqa: F401  (connects the receivers)
