from django.contrib.auth import views as auth_views
from django.urls import path

from garnizon.registry import label_views
from garnizon.search import views as search_views
from garnizon.web import views

app_name = "web"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="web/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.my_work, name="my_work"),
    path("overview/", views.overview, name="overview"),
    path("incoming/", views.incoming_list, name="incoming_list"),
    path("incoming/new/", views.incoming_new, name="incoming_new"),
    path("incoming/<int:item_id>/", views.incoming_detail, name="incoming_detail"),
    path("incoming/<int:item_id>/assign/", views.incoming_assign, name="incoming_assign"),
    path("incoming/<int:item_id>/open-case/", views.incoming_open_case, name="incoming_open_case"),
    path(
        "incoming/<int:item_id>/label.pdf",
        label_views.incoming_label_pdf,
        name="incoming_label_pdf",
    ),
    path(
        "incoming/<int:item_id>/label/print/",
        label_views.incoming_label_print,
        name="incoming_label_print",
    ),
    path("outgoing/", views.outgoing_list, name="outgoing_list"),
    path("outgoing/new/", views.outgoing_new, name="outgoing_new"),
    path("outgoing/<int:item_id>/", views.outgoing_detail, name="outgoing_detail"),
    path("cases/", views.case_search, name="case_search"),
    path("cases/new/", views.case_new, name="case_new"),
    path("cases/list/", views.case_list_export, name="case_list_export"),
    path("cases/<int:case_id>/", views.case_detail, name="case_detail"),
    path("cases/<int:case_id>/assign/", views.case_assign, name="case_assign"),
    path("cases/<int:case_id>/state/", views.case_state, name="case_state"),
    path("cases/<int:case_id>/share/", views.case_share, name="case_share"),
    path("cases/<int:case_id>/kind/", views.case_kind, name="case_kind"),
    path("cases/<int:case_id>/extend/", views.case_extend, name="case_extend"),
    path("address-book/", views.correspondent_list, name="correspondent_list"),
    path("address-book/new/", views.correspondent_new, name="correspondent_new"),
    path("deadlines/", views.deadline_calculator, name="deadline_calculator"),
    path("substitutions/", views.substitutions, name="substitutions"),
    path(
        "substitutions/<int:substitution_id>/end/", views.substitution_end, name="substitution_end"
    ),
    path("audit/", views.audit_log, name="audit_log"),
    path("search/", search_views.search_page, name="search"),
]
