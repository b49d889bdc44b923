"""Staff pages for portal filings, mounted at `/e-uslugi/`."""

from django.urls import path

from garnizon.portal import staff_views

app_name = "portal_staff"

urlpatterns = [
    path("", staff_views.submission_list, name="submission_list"),
    path("<int:submission_id>/", staff_views.submission_detail, name="submission_detail"),
    path("<int:submission_id>/odpowiedz/", staff_views.reply_new, name="reply_new"),
    path("<int:submission_id>/publikacja/", staff_views.publish, name="publish"),
]
