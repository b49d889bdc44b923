from django.urls import path

from garnizon.documents import views

app_name = "documents"

urlpatterns = [
    path("upload/<str:target>/<int:target_id>/", views.document_upload, name="upload"),
    path("<int:document_id>/", views.document_detail, name="detail"),
    path("<int:document_id>/versions/", views.version_upload, name="version_upload"),
    path("versions/<int:version_id>/download/", views.version_download, name="download"),
    path("versions/<int:version_id>/preview/", views.version_preview, name="preview"),
    path("versions/<int:version_id>/thumbnail/", views.version_thumbnail, name="thumbnail"),
]
