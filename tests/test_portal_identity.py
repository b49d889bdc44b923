"""Citizen login and the citizen's own pages, through Django's test client.

SAML: a real pysaml2 identity provider (`saml2.server.Server`) runs in-process with
its own key and certificate, generated here at test time. It reads the portal's real
AuthnRequest from the redirect (checking its signature) and answers with a real signed
(in one test also encrypted) response, which the test posts to the portal's ACS.

E-mail login: the link travels through a real SMTP server (aiosmtpd, `smtp_server`).
"""

from __future__ import annotations

import base64
import datetime
import re
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings as django_settings
from django.core import signing
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig, SPConfig
from saml2.metadata import entity_descriptor
from saml2.response import IncorrectlySigned
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

from garnizon.audit.models import AuditAction, AuditEntry
from garnizon.common.errors import DomainError
from garnizon.common.ratelimit import rate_limits_hit
from garnizon.intake.models import IntakeItem
from garnizon.portal import identity, saml
from garnizon.portal.additions import addition_limits
from garnizon.portal.models import Citizen, Submission, SubmissionAddition
from garnizon.portal.services import portal_attachment_store
from garnizon.registry.models import IncomingItem
from tests.test_portal import (
    confirmation_token,
    fill_letter,
    pdf_bytes,
    step_url,
    submit,
    upload,
)

IDP_ENTITY = "https://login.test.invalid/idp"
IDP_SSO = "https://login.test.invalid/sso"
AUTHN = {"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"}
ATTRIBUTES = {"givenName": ["Jan"], "sn": ["Kowalski"], "mail": ["jan.kowalski@example.pl"]}


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_MAX_UPLOAD_MB = 1
    cache.clear()
    with translation.override("pl"):
        yield
    cache.clear()


# --- a real identity provider --------------------------------------------------------------------


def make_keypair(folder: Path, name: str, key: Any = None) -> tuple[str, str]:
    """A fresh key (RSA 2048 unless given) and self-signed certificate (PEM files);
    never committed."""
    if key is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_path), str(cert_path)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, tuple[str, str]]:
    folder = tmp_path_factory.mktemp("saml-keys")
    return {name: make_keypair(folder, name) for name in ("sp", "idp", "forger")}


class IdentityProvider:
    """pysaml2's IdP, configured with the portal's real SP metadata."""

    def __init__(
        self, key: tuple[str, str], sp_metadata: str | list[str], lifetime_minutes: int = 15
    ):
        inline = [sp_metadata] if isinstance(sp_metadata, str) else sp_metadata
        config = IdPConfig()
        config.load(_idp_config(key, {"inline": inline}, lifetime_minutes))
        self.server = Server(config=config)

    def read_request(self, location: str):
        """The AuthnRequest of a redirect URL, its signature checked (the IdP requires it)."""
        query = parse_qs(urlparse(location).query)
        request = self.server.parse_authn_request(
            query["SAMLRequest"][0],
            BINDING_HTTP_REDIRECT,
            relay_state=query["RelayState"][0] if "RelayState" in query else None,
            sigalg=query["SigAlg"][0],
            signature=query["Signature"][0],
        )
        return request.message

    def respond(
        self,
        request,
        *,
        subject: str = "pz-0001",
        attributes: dict | None = None,
        encrypt: bool = False,
        audience: str | None = None,
        in_response_to: str | None = "request",
        name_id_format: str = NAMEID_FORMAT_PERSISTENT,
        sign_alg: str = SIG_RSA_SHA256,
        digest_alg: str = DIGEST_SHA256,
    ) -> str:
        response = self.server.create_authn_response(
            dict(ATTRIBUTES if attributes is None else attributes),
            in_response_to=request.id if in_response_to == "request" else in_response_to,
            destination=request.assertion_consumer_service_url,
            sp_entity_id=audience or request.issuer.text,
            name_id=NameID(format=name_id_format, text=subject),
            authn=AUTHN,
            sign_response=True,
            sign_assertion=True,
            encrypt_assertion=encrypt,
            encrypt_cert_assertion=None,
            sign_alg=sign_alg,
            digest_alg=digest_alg,
        )
        return base64.b64encode(str(response).encode()).decode()


def _idp_config(key: tuple[str, str], metadata: dict, lifetime_minutes: int = 15) -> dict:
    return {
        "entityid": IDP_ENTITY,
        "key_file": key[0],
        "cert_file": key[1],
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "metadata": metadata,
        "service": {
            "idp": {
                "endpoints": {"single_sign_on_service": [(IDP_SSO, BINDING_HTTP_REDIRECT)]},
                "want_authn_requests_signed": True,
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "policy": {
                    "default": {
                        "lifetime": {"minutes": lifetime_minutes},
                        "attribute_restrictions": None,
                        "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
                    }
                },
            }
        },
    }


def use_idp_metadata(settings, sp: tuple[str, str], idp_config: dict, path: Path) -> Path:
    """Write the test IdP's metadata (from its pysaml2 config) to `path` and configure the
    portal's SP with it and with the SP key pair `sp`; return `path`."""
    config = IdPConfig()
    config.load(idp_config)
    path.write_text(str(entity_descriptor(config)))
    settings.GARNIZON_SAML_SP_KEY, settings.GARNIZON_SAML_SP_CERT = sp
    settings.GARNIZON_SAML_IDP_METADATA = str(path)
    return path


@pytest.fixture
def idp_metadata(keys, tmp_path, settings) -> Path:
    """Configure the portal's SP with the IdP's metadata file; return that file."""
    return use_idp_metadata(
        settings, keys["sp"], _idp_config(keys["idp"], {}), tmp_path / "idp-metadata.xml"
    )


@pytest.fixture
def idp(keys, idp_metadata) -> IdentityProvider:
    return IdentityProvider(keys["idp"], saml.sp_metadata_xml())


def start_login(client: Client, idp: IdentityProvider, next_url: str = ""):
    url = reverse("portal:saml_login") + (f"?next={next_url}" if next_url else "")
    response = client.get(url)
    assert response.status_code == 302, response.content.decode()[:500]
    assert response["Location"].startswith(IDP_SSO + "?")
    return idp.read_request(response["Location"])


def post_acs(client: Client, saml_response: str, **extra):
    return client.post(reverse("portal:saml_acs"), {"SAMLResponse": saml_response, **extra})


def logged_in_citizen(client: Client) -> Citizen | None:
    return identity.citizen_from_session(client.session)


def refused_reasons() -> list[str]:
    return [
        e.details.get("reason", "")
        for e in AuditEntry.objects.filter(action=AuditAction.LOGIN_FAILED)
    ]


# --- SAML: the happy paths -----------------------------------------------------------------------


def test_saml_login_creates_the_citizen_from_a_signed_response(db, idp):
    client = Client()
    client.get(reverse("portal:start"))
    old_key = client.session.session_key
    request = start_login(client, idp)
    # The request the IdP read: ours, for our ACS, asking for a persistent NameID.
    assert request.issuer.text == saml.sp_entity_id()
    assert request.assertion_consumer_service_url == saml.acs_url()
    assert request.name_id_policy.format == NAMEID_FORMAT_PERSISTENT
    assert request.id in client.session[identity.SAML_OUTSTANDING_KEY]

    response = post_acs(client, idp.respond(request))
    assert response.status_code == 302, response.content.decode()[:1000]
    assert response["Location"] == reverse("portal:account")
    citizen = Citizen.objects.get()
    assert citizen.method == Citizen.Method.SAML
    assert (citizen.saml_issuer, citizen.saml_subject) == (IDP_ENTITY, "pz-0001")
    assert (citizen.first_name, citizen.last_name) == ("Jan", "Kowalski")
    assert citizen.email == "jan.kowalski@example.pl"
    assert citizen.last_login_at is not None
    assert logged_in_citizen(client) == citizen
    # A new session key (no fixation); the request id is used up.
    assert client.session.session_key != old_key
    assert identity.SAML_OUTSTANDING_KEY not in client.session
    entry = AuditEntry.objects.get(action=AuditAction.LOGIN)
    assert entry.object_type == "portal.citizen" and entry.details["method"] == "saml"
    # The header now names the citizen and offers to log out.
    page = client.get(reverse("portal:account")).content.decode()
    assert "Jan Kowalski" in page and "Wyloguj" in page and "Zaloguj się</a>" not in page


def test_saml_login_accepts_an_encrypted_assertion(db, idp):
    client = Client()
    request = start_login(client, idp)
    saml_response = idp.respond(request, encrypt=True, subject="pz-enc")
    xml = base64.b64decode(saml_response).decode()
    assert "EncryptedAssertion" in xml and "pz-enc" not in xml
    response = post_acs(client, saml_response)
    assert response.status_code == 302, response.content.decode()[:1000]
    assert logged_in_citizen(client).saml_subject == "pz-enc"


def test_a_second_login_finds_the_same_citizen_and_updates_attributes(db, idp):
    first = Client()
    post_acs(first, idp.respond(start_login(first, idp)))
    second = Client()
    attributes = {"givenName": ["Janina"], "sn": ["Kowalska"]}
    response = post_acs(second, idp.respond(start_login(second, idp), attributes=attributes))
    assert response.status_code == 302
    citizen = Citizen.objects.get()
    assert (citizen.first_name, citizen.last_name) == ("Janina", "Kowalska")
    # An attribute the node did not send leaves what we had.
    assert citizen.email == "jan.kowalski@example.pl"
    assert logged_in_citizen(second) == citizen


def test_saml_login_returns_to_the_page_that_asked(db, idp):
    client = Client()
    request = start_login(client, idp, next_url="/portal/pismo/")
    assert post_acs(client, idp.respond(request))["Location"] == "/portal/pismo/"
    # An outside address is never a place to return to.
    client = Client()
    request = start_login(client, idp, next_url="https://evil.example/")
    assert post_acs(client, idp.respond(request))["Location"] == reverse("portal:account")


def test_the_authn_request_is_signed_and_a_tampered_one_is_refused_by_the_idp(db, idp):
    response = Client().get(reverse("portal:saml_login"))
    location = response["Location"]
    query = parse_qs(urlparse(location).query)
    assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert idp.read_request(location).id
    forged = (
        location.replace("RelayState=", "RelayState=x")
        if "RelayState=" in location
        else (location + "&RelayState=x")
    )
    with pytest.raises(IncorrectlySigned):
        idp.read_request(forged)


def test_a_cross_site_post_without_the_session_cookie_continues_from_our_page(db, idp):
    """The node posts cross-site: a SameSite=Lax session cookie does not come along."""
    client = Client()
    request = start_login(client, idp)
    saml_response = idp.respond(request)
    cookies = {key: morsel.value for key, morsel in client.cookies.items()}
    bare = Client()  # the browser's POST as the ACS sees it: no cookies at all
    page = bare.post(reverse("portal:saml_acs"), {"SAMLResponse": saml_response})
    assert page.status_code == 200
    assert 'name="kontynuuj" value="1"' in page.content.decode()
    assert Citizen.objects.count() == 0
    # "Continue" posts again from our origin, with the session cookie.
    for key, value in cookies.items():
        if key != "garnizon_saml":
            client.cookies[key] = value
    del client.cookies["garnizon_saml"]
    response = post_acs(client, saml_response, kontynuuj="1")
    assert response.status_code == 302, response.content.decode()[:1000]
    assert logged_in_citizen(client) is not None


def test_the_pending_cookie_alone_carries_the_request_to_the_acs(db, idp):
    client = Client()
    request = start_login(client, idp)
    cookie = client.cookies["garnizon_saml"]
    assert cookie["path"] == saml.ACS_PATH and cookie["httponly"]
    # The session cookie is not sent (SameSite=Lax); the pending cookie is.
    del client.cookies[django_settings.SESSION_COOKIE_NAME]
    response = post_acs(client, idp.respond(request))
    assert response.status_code == 302, response.content.decode()[:1000]
    assert logged_in_citizen(client) is not None


# --- SAML: what is refused -----------------------------------------------------------------------


def test_a_response_signed_with_another_key_is_refused(db, keys, idp):
    client = Client()
    request = start_login(client, idp)
    forger = IdentityProvider(keys["forger"], saml.sp_metadata_xml())
    response = post_acs(client, forger.respond(request))
    assert response.status_code == 400
    assert "Nie udało się zalogować" in response.content.decode()
    assert Citizen.objects.count() == 0 and logged_in_citizen(client) is None
    assert refused_reasons() == ["SignatureError: Failed to verify signature"]


def test_a_response_changed_after_signing_is_refused(db, idp):
    client = Client()
    request = start_login(client, idp)
    xml = base64.b64decode(idp.respond(request, subject="pz-0001")).decode()
    tampered = base64.b64encode(xml.replace("pz-0001", "pz-9999").encode()).decode()
    assert post_acs(client, tampered).status_code == 400
    assert Citizen.objects.count() == 0
    assert refused_reasons() == ["SignatureError: Failed to verify signature"]


def test_a_response_signed_with_sha1_is_refused(db, idp):
    client = Client()
    request = start_login(client, idp)
    weak = idp.respond(request, sign_alg=SIG_RSA_SHA1, digest_alg=DIGEST_SHA1)
    assert post_acs(client, weak).status_code == 400
    assert refused_reasons() == ["weak_algorithm"]
    assert Citizen.objects.count() == 0


def test_a_response_for_another_audience_is_refused(db, keys, idp):
    client = Client()
    request = start_login(client, idp)
    # The IdP also serves another SP; its response for that SP is posted to us.
    other = saml._config_dict() | {"entityid": "https://other.example/sp"}
    other_config = SPConfig()
    other_config.load(other)
    both = IdentityProvider(
        keys["idp"], [saml.sp_metadata_xml(), str(entity_descriptor(other_config))]
    )
    saml_response = both.respond(request, audience="https://other.example/sp")
    assert "Audience>https://other.example/sp</" in base64.b64decode(saml_response).decode()
    response = post_acs(client, saml_response)
    assert response.status_code == 400
    assert Citizen.objects.count() == 0 and logged_in_citizen(client) is None
    assert "AudienceRestrictions conditions not satisfied" in refused_reasons()[0]


def test_an_expired_response_is_refused(db, keys, idp):
    client = Client()
    request = start_login(client, idp)
    # The IdP's policy gives the assertion a NotOnOrAfter ten minutes in the past.
    expired = IdentityProvider(keys["idp"], saml.sp_metadata_xml(), lifetime_minutes=-10)
    saml_response = expired.respond(request)
    xml = base64.b64decode(saml_response).decode()
    not_after = re.search(r'Conditions[^>]*NotOnOrAfter="([^"]+)"', xml).group(1)
    assert datetime.datetime.fromisoformat(not_after.replace("Z", "+00:00")) < (
        datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    )
    response = post_acs(client, saml_response)
    assert response.status_code == 400
    assert Citizen.objects.count() == 0
    assert refused_reasons() == ["VerificationError: Condition not OK"]


def test_a_replayed_response_is_refused(db, idp):
    client = Client()
    request = start_login(client, idp)
    saml_response = idp.respond(request)
    pending = client.cookies["garnizon_saml"].value
    assert post_acs(client, saml_response).status_code == 302
    citizen = logged_in_citizen(client)
    # The same response again, in the same browser: the request is used up.
    again = post_acs(client, saml_response, kontynuuj="1")
    assert again.status_code == 400
    # Even with the pending cookie put back, the response was already used.
    thief = Client()
    thief.cookies["garnizon_saml"] = pending
    replay = post_acs(thief, saml_response)
    assert replay.status_code == 400
    assert logged_in_citizen(thief) is None
    assert "replayed" in refused_reasons()
    assert AuditEntry.objects.filter(action=AuditAction.LOGIN).count() == 1
    assert logged_in_citizen(client) == citizen


def test_an_unsolicited_response_is_refused(db, idp):
    client = Client()
    request = start_login(client, idp)
    # An IdP-initiated response (no InResponseTo), and one answering another request.
    for in_response_to in (None, "id-not-ours"):
        response = post_acs(client, idp.respond(request, in_response_to=in_response_to))
        assert response.status_code == 400
    # Another browser posting a response to our request: it never asked.
    other = Client()
    assert post_acs(other, idp.respond(request), kontynuuj="1").status_code == 400
    assert Citizen.objects.count() == 0
    reasons = refused_reasons()
    assert len(reasons) == 3 and all(r.startswith("UnsolicitedResponse") for r in reasons)


def test_a_transient_name_id_is_refused(db, idp):
    client = Client()
    request = start_login(client, idp)
    response = post_acs(client, idp.respond(request, name_id_format=NAMEID_FORMAT_TRANSIENT))
    assert response.status_code == 400
    assert Citizen.objects.count() == 0


def test_without_configuration_there_is_no_saml_button(db, settings):
    for name in ("GARNIZON_SAML_SP_KEY", "GARNIZON_SAML_SP_CERT", "GARNIZON_SAML_IDP_METADATA"):
        setattr(settings, name, "")
    page = Client().get(reverse("portal:login"))
    assert page.status_code == 200
    body = page.content.decode()
    assert reverse("portal:saml_login") not in body
    assert reverse("portal:login_email") in body
    assert Client().get(reverse("portal:saml_login")).status_code == 404
    assert Client().get(reverse("portal:saml_metadata")).status_code == 404


def test_the_login_page_offers_saml_and_the_metadata_describes_the_sp(db, idp):
    body = Client().get(reverse("portal:login")).content.decode()
    assert reverse("portal:saml_login") in body and reverse("portal:login_email") in body
    metadata = Client().get(reverse("portal:saml_metadata"))
    assert metadata.status_code == 200
    xml = metadata.content.decode()
    assert saml.sp_entity_id() in xml and saml.acs_url() in xml
    assert 'AuthnRequestsSigned="true"' in xml
    assert 'use="signing"' in xml and 'use="encryption"' in xml


# --- e-mail link ---------------------------------------------------------------------------------


def link_from(message) -> str:
    body = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"https?://\S+/portal/konto/zaloguj/link/\S+/", body)
    assert match, body
    return urlparse(match.group(0)).path


def request_link(client: Client, email: str):
    return client.post(reverse("portal:login_email"), {"email": email})


def test_the_email_link_logs_in_once(db, smtp_server):
    client = Client(REMOTE_ADDR="198.51.100.1")
    response = request_link(client, "anna@example.pl")
    assert response.status_code == 302 and response["Location"] == reverse(
        "portal:login_email_sent"
    )
    inbox = client.get(response["Location"]).content.decode()
    assert "Sprawdź skrzynkę e-mail" in inbox and "anna@example.pl" in inbox
    assert len(smtp_server) == 1
    message = smtp_server[0]
    assert message.envelope_to == ["anna@example.pl"]
    assert "Link do logowania" in message["Subject"]
    path = link_from(message)
    # Opening the link (a mail scanner does this too) does not log in yet.
    confirm = client.get(path)
    assert confirm.status_code == 200 and "anna@example.pl" in confirm.content.decode()
    assert Citizen.objects.count() == 0
    old_key = client.session.session_key
    response = client.post(path)
    assert response.status_code == 302 and response["Location"] == reverse("portal:account")
    citizen = Citizen.objects.get()
    assert (citizen.method, citizen.email) == (Citizen.Method.EMAIL, "anna@example.pl")
    assert logged_in_citizen(client) == citizen
    assert client.session.session_key != old_key
    # Single use: the same link again, in this browser or any other, is refused.
    for other in (client, Client()):
        again = other.post(path)
        assert again.status_code == 400
        assert "został już użyty" in again.content.decode()
    assert AuditEntry.objects.filter(action=AuditAction.LOGIN).count() == 1


def test_a_new_link_works_for_a_known_address_and_old_ones_stop(db, smtp_server):
    client = Client()
    request_link(client, "anna@example.pl")
    request_link(client, "anna@example.pl")
    first, second = (link_from(m) for m in smtp_server)
    assert client.post(second).status_code == 302
    # Logging in ended every link sent before.
    assert Client().post(first).status_code == 400
    request_link(Client(), "anna@example.pl")
    third = link_from(smtp_server[2])
    other = Client()
    assert other.post(third).status_code == 302
    assert logged_in_citizen(other) == Citizen.objects.get()


def test_an_expired_or_forged_link_is_refused(db, settings):
    class PastSigner(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time()) - 31 * 60)

    token = PastSigner(salt="garnizon.portal.email-login").sign_object(
        {"e": "anna@example.pl", "s": "new"}, compress=True
    )
    response = Client().post(reverse("portal:login_email_link", args=[token]))
    assert response.status_code == 400
    assert "wygasł" in response.content.decode()
    # Within the configured time the same kind of token works.
    settings.GARNIZON_PORTAL_EMAIL_LINK_MINUTES = 60
    assert Client().post(reverse("portal:login_email_link", args=[token])).status_code == 302
    forged = identity.email_login_token("anna@example.pl").replace(":", ":x", 1)
    response = Client().get(reverse("portal:login_email_link", args=[forged]))
    assert response.status_code == 400 and "nieprawidłowy" in response.content.decode()


def test_the_answer_never_reveals_whether_an_address_is_known(db, smtp_server):
    Citizen.objects.create(method=Citizen.Method.EMAIL, email="znany@example.pl")
    pages = []
    for email in ("znany@example.pl", "nieznany@example.pl"):
        client = Client()
        response = request_link(client, email)
        page = client.get(response["Location"])
        text = page.content.decode().replace(email, "ADDRESS")
        text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)
        pages.append((response.status_code, response["Location"], page.status_code, text))
    assert pages[0] == pages[1]
    assert sorted(m.envelope_to[0] for m in smtp_server) == [
        "nieznany@example.pl",
        "znany@example.pl",
    ]


def test_link_requests_are_limited_per_address_and_per_client(db, smtp_server, settings):
    settings.GARNIZON_PORTAL_LOGIN_LINKS_PER_EMAIL = 2
    settings.GARNIZON_PORTAL_LOGIN_LINKS_PER_ADDRESS = 4
    responses = [request_link(Client(REMOTE_ADDR="198.51.100.7"), "a@example.pl") for _ in "123"]
    # The third request for one address looks the same but sends nothing.
    assert [r.status_code for r in responses] == [302, 302, 302]
    assert len(smtp_server) == 2
    # Another address from the same client still gets its link, until the client's limit.
    assert request_link(Client(REMOTE_ADDR="198.51.100.7"), "b@example.pl").status_code == 302
    assert len(smtp_server) == 3
    refused = request_link(Client(REMOTE_ADDR="198.51.100.7"), "c@example.pl")
    assert refused.status_code == 429
    assert "zbyt wiele linków" in refused.content.decode()
    assert len(smtp_server) == 3
    assert request_link(Client(REMOTE_ADDR="198.51.100.8"), "c@example.pl").status_code == 302


def test_the_email_page_shows_errors_in_a_summary(db, smtp_server):
    response = request_link(Client(), "not-an-address")
    assert response.status_code == 400
    body = response.content.decode()
    assert 'class="p-error-summary"' in body and 'href="#id_email"' in body
    assert 'aria-invalid="true"' in body
    assert "<title>Błąd:" in body
    assert smtp_server == []


# --- session, header, logout ---------------------------------------------------------------------


def login_by_email(client: Client, email: str, smtp_messages) -> Citizen:
    count = len(smtp_messages)
    request_link(client, email)
    assert len(smtp_messages) == count + 1
    assert client.post(link_from(smtp_messages[-1])).status_code == 302
    return logged_in_citizen(client)


def test_the_header_offers_login_then_logout(db, smtp_server):
    client = Client()
    page = client.get(reverse("portal:start")).content.decode()
    assert f'href="{reverse("portal:login")}"' in page and "Wyloguj" not in page
    login_by_email(client, "ewa@example.pl", smtp_server)
    page = client.get(reverse("portal:start")).content.decode()
    assert "ewa@example.pl" in page and "Wyloguj" in page
    response = client.post(reverse("portal:logout"))
    assert response.status_code == 302
    assert logged_in_citizen(client) is None
    page = client.get(reverse("portal:start")).content.decode()
    assert "Wyloguj" not in page
    assert client.get(reverse("portal:account")).status_code == 302
    assert AuditEntry.objects.filter(action=AuditAction.LOGOUT).count() == 1
    # Logging out takes a POST (a link elsewhere cannot log the citizen out).
    assert client.get(reverse("portal:logout")).status_code == 405


# --- my filings and adding documents -------------------------------------------------------------


def test_a_logged_in_citizens_email_is_filled_in_on_the_forms(garrison, smtp_server):
    client = Client()
    login_by_email(client, "jan@example.pl", smtp_server)
    client.post(step_url("pismo", "jednostka"), {"unit": garrison.kwp.pk})
    page = client.get(step_url("pismo", "nadawca")).content.decode()
    assert 'value="jan@example.pl"' in page
    # A visitor's form stays empty.
    visitor = Client()
    visitor.post(step_url("pismo", "jednostka"), {"unit": garrison.kwp.pk})
    assert "jan@example.pl" not in visitor.get(step_url("pismo", "nadawca")).content.decode()


def test_filing_while_logged_in_links_it_to_the_citizen(garrison, smtp_server):
    client = Client()
    citizen = login_by_email(client, "jan@example.pl", smtp_server)
    fill_letter(client, garrison.kwp)
    token = confirmation_token(submit(client, "pismo")[0])
    submission = Submission.objects.get()
    assert submission.citizen == citizen
    # Filed anonymously by a visitor: not the citizen's.
    visitor = Client()
    fill_letter(visitor, garrison.kmp, subject="Inne pismo")
    confirmation_token(submit(visitor, "pismo")[0])
    assert Submission.objects.filter(citizen=None).count() == 1

    fill_letter(client, garrison.kmp, subject="Drugie pismo")
    confirmation_token(submit(client, "pismo")[0])
    page = client.get(reverse("portal:account"))
    assert page.status_code == 200
    body = page.content.decode()
    numbers = [
        s.incoming_item.registration_number
        for s in Submission.objects.filter(citizen=citizen).order_by("-created_at", "-id")
    ]
    assert len(numbers) == 2
    # Newest first, each with its status, tracking link and add-documents link.
    assert body.index(numbers[0]) < body.index(numbers[1])
    assert reverse("portal:tracking", args=[token]) in body
    assert "Zarejestrowane" in body
    assert reverse("portal:add_documents", args=[submission.pk]) in body
    visitor_number = Submission.objects.get(citizen=None).incoming_item.registration_number
    assert visitor_number not in body


def test_the_account_needs_a_login(db):
    response = Client().get(reverse("portal:account"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('portal:login')}?next={reverse('portal:account')}"


def test_adding_documents_sends_them_to_intake_on_the_entry(garrison, smtp_server):
    client = Client(REMOTE_ADDR="198.51.100.20")
    citizen = login_by_email(client, "jan@example.pl", smtp_server)
    fill_letter(client, garrison.kwp)
    confirmation_token(submit(client, "pismo")[0])
    submission = Submission.objects.get()
    item = submission.incoming_item
    url = reverse("portal:add_documents", args=[submission.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"files": [upload("uzupelnienie.pdf", pdf_bytes())]})
    assert response.status_code == 302, response.content.decode()[:2000]
    addition = SubmissionAddition.objects.get()
    assert addition.submission == submission and addition.name == "uzupelnienie.pdf"
    assert addition.mime == "application/pdf"
    intake = IntakeItem.objects.filter(incoming_item=item, original_filename="uzupelnienie.pdf")
    assert intake.count() == 1
    assert intake.get().blob_sha256 == addition.sha256
    assert AuditEntry.objects.filter(
        action=AuditAction.UPDATE, object_type="portal.submission", object_id=str(submission.pk)
    ).exists()
    page = client.get(url).content.decode()
    assert "Wysłano pliki" in page and "uzupelnienie.pdf" in page
    # The notice shows once.
    assert "Wysłano pliki" not in client.get(url).content.decode()
    assert citizen.submissions.get() == submission


def test_adding_a_refused_file_shows_the_reason_and_adds_nothing(garrison, smtp_server):
    client = Client()
    login_by_email(client, "jan@example.pl", smtp_server)
    fill_letter(client, garrison.kwp)
    confirmation_token(submit(client, "pismo")[0])
    submission = Submission.objects.get()
    url = reverse("portal:add_documents", args=[submission.pk])
    count = IntakeItem.objects.count()
    response = client.post(url, {"files": [upload("program.exe", b"MZ\x90\x00binary")]})
    assert response.status_code == 400
    body = response.content.decode()
    assert "niedozwolony rodzaj" in body and 'class="p-error-summary"' in body
    response = client.post(url, {})
    assert response.status_code == 400 and "Wybierz co najmniej jeden plik" in (
        response.content.decode()
    )
    assert SubmissionAddition.objects.count() == 0
    assert IntakeItem.objects.count() == count


def filing_to_add_to(garrison, smtp_server) -> tuple[Client, Submission, str]:
    client = Client()
    login_by_email(client, "jan@example.pl", smtp_server)
    fill_letter(client, garrison.kwp)
    confirmation_token(submit(client, "pismo")[0])
    submission = Submission.objects.get()
    return client, submission, reverse("portal:add_documents", args=[submission.pk])


def files_hint(body: str) -> str:
    hint = re.search(r'id="id_files-hint"[^>]*>([^<]*)<', body)
    assert hint, "no hint on the file field"
    return " ".join(hint.group(1).split())


def pdfs(count: int, prefix: str = "plik") -> list:
    return [upload(f"{prefix}{n}.pdf", pdf_bytes()) for n in range(count)]


def test_the_add_documents_page_states_the_limits_the_service_applies(
    garrison, smtp_server, settings
):
    settings.GARNIZON_PORTAL_MAX_ATTACHMENTS = 2
    client, submission, url = filing_to_add_to(garrison, smtp_server)
    limits = addition_limits(submission)
    assert (limits.max_mb, limits.per_sending, limits.per_submission, limits.left) == (1, 2, 4, 4)
    hint = files_hint(client.get(url).content.decode())
    assert hint == (
        "PDF, JPG, PNG, TIFF, TXT, ODT, DOCX; każdy plik do 1 MB; najwyżej 2 plików naraz "
        "i 4 do jednego zgłoszenia (pozostało: 4)."
    )
    assert client.post(url, {"files": pdfs(2)}).status_code == 302
    assert "(pozostało: 2)" in files_hint(client.get(url).content.decode())


def test_adding_more_files_at_once_than_allowed_is_refused(garrison, smtp_server, settings):
    settings.GARNIZON_PORTAL_MAX_ATTACHMENTS = 2
    client, _, url = filing_to_add_to(garrison, smtp_server)
    response = client.post(url, {"files": pdfs(3)})
    assert response.status_code == 400
    assert "Możesz dodać najwyżej 2 plików." in response.content.decode()
    assert SubmissionAddition.objects.count() == 0


def test_adding_past_the_filings_total_is_refused(garrison, smtp_server, settings):
    settings.GARNIZON_PORTAL_MAX_ATTACHMENTS = 2
    client, _, url = filing_to_add_to(garrison, smtp_server)
    assert client.post(url, {"files": pdfs(2, "a")}).status_code == 302
    assert client.post(url, {"files": pdfs(2, "b")}).status_code == 302
    page = client.get(url).content.decode()
    assert "(pozostało: 0)" in files_hint(page)
    response = client.post(url, {"files": pdfs(1, "c")})
    assert response.status_code == 400
    assert "Do jednego zgłoszenia możesz dosłać najwyżej 4 plików." in response.content.decode()
    assert SubmissionAddition.objects.count() == 4


def test_adding_a_file_over_the_size_limit_is_refused(garrison, smtp_server):
    client, _, url = filing_to_add_to(garrison, smtp_server)
    big = b"%PDF-1.4\n" + b"0" * (1024 * 1024 + 10)
    response = client.post(url, {"files": [upload("duzy.pdf", big)]})
    assert response.status_code == 400
    assert "Plik jest za duży. Plik może mieć najwyżej 1 MB." in response.content.decode()
    assert SubmissionAddition.objects.count() == 0


def test_adding_a_file_of_another_type_is_refused_by_the_page_and_the_service(
    garrison, smtp_server
):
    client, submission, url = filing_to_add_to(garrison, smtp_server)
    response = client.post(url, {"files": [upload("program.exe", b"MZ\x90\x00binary")]})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Plik program.exe ma niedozwolony rodzaj. Dodaj plik: PDF, JPG" in body
    # The service does not take a file stored under other limits either.
    stored = portal_attachment_store(
        upload=SimpleUploadedFile("program.exe", b"MZ\x90\x00binary"),
        types={"application/x-dosexec": "EXE", "application/octet-stream": "BIN"},
    )
    with pytest.raises(DomainError) as refused:
        identity.submission_addition_add(
            citizen=submission.citizen, submission=submission, attachments=[stored]
        )
    assert "niedozwolony rodzaj" in refused.value.message
    assert SubmissionAddition.objects.count() == 0


def test_only_the_owner_sees_or_adds_to_a_filing(garrison, smtp_server):
    owner = Client()
    login_by_email(owner, "jan@example.pl", smtp_server)
    fill_letter(owner, garrison.kwp)
    confirmation_token(submit(owner, "pismo")[0])
    submission = Submission.objects.get()
    url = reverse("portal:add_documents", args=[submission.pk])
    stranger = Client()
    login_by_email(stranger, "obcy@example.pl", smtp_server)
    assert stranger.get(url).status_code == 404
    assert stranger.post(url, {"files": [upload("a.pdf", pdf_bytes())]}).status_code == 404
    assert (
        submission.incoming_item.registration_number
        not in stranger.get(reverse("portal:account")).content.decode()
    )
    # Not logged in: to the login page, then back.
    response = Client().get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:login"))
    assert SubmissionAddition.objects.count() == 0


def test_filings_are_limited_per_email_address(garrison, settings):
    settings.GARNIZON_PORTAL_EMAIL_RATE_LIMIT = 1
    first = Client(REMOTE_ADDR="203.0.113.21")
    fill_letter(first, garrison.kwp, email="spam@example.pl")
    confirmation_token(submit(first, "pismo")[0])
    # Another client address, the same e-mail: refused.
    second = Client(REMOTE_ADDR="203.0.113.22")
    fill_letter(second, garrison.kwp, email="Spam@EXAMPLE.pl")
    response, _ = submit(second, "pismo")
    assert response.status_code == 429
    assert "zbyt wiele zgłoszeń" in response.content.decode()
    assert IncomingItem.objects.count() == 1
    # Another address is fine.
    third = Client(REMOTE_ADDR="203.0.113.22")
    fill_letter(third, garrison.kwp, email="inny@example.pl")
    confirmation_token(submit(third, "pismo")[0])
    assert IncomingItem.objects.count() == 2


def test_the_per_email_counter_counts_each_address_separately(db, settings):
    settings.GARNIZON_PORTAL_EMAIL_RATE_LIMIT = 2
    settings.GARNIZON_PORTAL_RATE_LIMIT = 100

    def passed(email: str, address: str = "198.51.100.1") -> str | None:
        # What the filing's transaction counts (portal_filings_register_together).
        checks = identity.portal_filing_limit_checks(client_address=address, email=email)
        limited = identity.filing_limits_passed(checks, rate_limits_hit(checks))
        return limited.limit if limited is not None else None

    assert [passed("x@example.pl") for _ in range(3)] == [None, None, "email"]
    assert passed("y@example.pl") is None
    assert passed("") is None  # no e-mail: only the address counts
    settings.GARNIZON_PORTAL_RATE_LIMIT = 5
    assert passed("z@example.pl") == "address"  # the 6th from this address
    assert passed("z@example.pl", address="198.51.100.2") is None  # z's 2nd filing


def test_a_broken_saml_configuration_shows_a_page_not_a_crash(db, keys, settings, tmp_path):
    settings.GARNIZON_SAML_SP_KEY, settings.GARNIZON_SAML_SP_CERT = keys["sp"]
    settings.GARNIZON_SAML_IDP_METADATA = str(tmp_path / "missing.xml")
    response = Client().get(reverse("portal:saml_login"))
    assert response.status_code == 503
    assert "Nie udało się zalogować" in response.content.decode()
    assert refused_reasons()[0].startswith("configuration:")


def test_a_mail_server_that_is_down_gives_a_clear_page(db, settings):
    # A port nothing listens on: the SMTP connection is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
        }
    }
    response = request_link(Client(), "anna@example.pl")
    assert response.status_code == 503
    assert "Nie udało się wysłać wiadomości" in response.content.decode()


def test_the_citizen_keeps_the_language_of_the_login(db, smtp_server):
    client = Client()
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    request_link(client, "anna@example.pl")
    assert client.post(link_from(smtp_server[0])).status_code == 302
    assert Citizen.objects.get().language == "en"
