"""The citizen's account: /portal/konto/... (included by portal/urls.py)."""

from django.urls import path

from garnizon.portal import account_views

urlpatterns = [
    path("", account_views.account, name="account"),
    path("zaloguj/", account_views.login, name="login"),
    path("zaloguj/email/", account_views.login_email, name="login_email"),
    path("zaloguj/email/wyslano/", account_views.login_email_sent, name="login_email_sent"),
    path("zaloguj/link/<str:token>/", account_views.login_email_link, name="login_email_link"),
    path("saml/login/", account_views.saml_login, name="saml_login"),
    path("saml/acs/", account_views.saml_acs, name="saml_acs"),
    path("saml/metadata/", account_views.saml_metadata, name="saml_metadata"),
    path("saml/slo/", account_views.saml_slo, name="saml_slo"),
    path("wyloguj/", account_views.logout, name="logout"),
    path("wylogowano/", account_views.logged_out, name="logged_out"),
    path(
        "zgloszenia/<int:pk>/dodaj/",
        account_views.add_documents,
        name="add_documents",
    ),
]
