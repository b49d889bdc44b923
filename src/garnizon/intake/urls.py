from django.urls import path

from garnizon.intake import views

app_name = "intake"

urlpatterns = [
    path("", views.intake_list, name="list"),
    path("upload/", views.intake_upload, name="upload"),
    path("queue/", views.intake_queue, name="queue"),
    path("separator.pdf", views.separator_sheet, name="separator"),
    path("<int:item_id>/", views.intake_detail, name="detail"),
    path("<int:item_id>/retry/", views.intake_retry, name="retry"),
    path("<int:item_id>/match/", views.intake_match, name="match"),
    path("<int:item_id>/register/", views.intake_register_new, name="register_new"),
]
