from django.urls import path  # noqa: F401

app_name = "staff_visits"

urlpatterns: list = []
