"""The login node's production profile: HTTP-Artifact binding and ECDSA keys.

The IdP is pysaml2's (`saml2.server.Server`, as in tests/test_portal_identity.py). For the
artifact binding it also answers over real HTTP: a small HTTP server thread on 127.0.0.1
serves its ArtifactResolutionService (SOAP). It checks the portal's ArtifactResolve
signature with the SP certificate from the SP metadata, and answers with a signed
ArtifactResponse holding the signed (optionally encrypted) Response it made earlier.
Keys are generated at test time, RSA and EC P-256 (`ec_keys`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote_plus, urlparse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from lxml import etree
from saml2 import (
    BINDING_HTTP_ARTIFACT,
    BINDING_HTTP_POST,
    BINDING_SOAP,
    class_name,
    entity,
    samlp,
)
from saml2.config import IdPConfig
from saml2.entity import create_artifact
from saml2.metadata import entity_descriptor
from saml2.s_utils import sid
from saml2.saml import NAMEID_FORMAT_ENTITY, Issuer
from saml2.server import Server
from saml2.sigver import pre_signature_part
from saml2.time_util import instant
from saml2.xmldsig import DIGEST_SHA256, SIG_ECDSA_SHA256, SIG_RSA_SHA256

from garnizon.audit.models import AuditAction, AuditEntry
from garnizon.portal import saml
from garnizon.portal.models import Citizen
from tests import test_portal_identity as base
from tests.test_portal_identity import (
    IDP_ENTITY,
    IDP_SSO,
    IdentityProvider,
    _idp_config,
    logged_in_citizen,
    make_keypair,
    post_acs,
    refused_reasons,
    use_idp_metadata,
)
from tests.test_portal_slo import (
    IDP_SLO,
    SloIdentityProvider,
    _slo_config,
    logout_entries,
    start_logout,
)

keys = base.keys
idp_metadata = base.idp_metadata
_isolated = base._isolated

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
ART_PATH = "/ars"


def make_ec_keypair(folder: Path, name: str) -> tuple[str, str]:
    """A fresh EC P-256 key and self-signed certificate (PEM files); never committed."""
    return make_keypair(folder, name, key=ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="module")
def ec_keys(tmp_path_factory) -> dict[str, tuple[str, str]]:
    folder = tmp_path_factory.mktemp("saml-ec-keys")
    return {name: make_ec_keypair(folder, name) for name in ("sp", "idp", "forger")}


@contextlib.contextmanager
def idp_may_sign_ecdsa() -> Iterator[None]:
    """Let the test IdP (pysaml2's `Entity.sign`, an RSA-only allow-list) sign with ECDSA.

    Only while the IdP makes a response in the test: no portal code runs inside, so the
    portal is tested with pysaml2 as shipped (it signs its ArtifactResolve through xmlsec1
    itself and verifies with xmlsec1, neither of which reads this list).
    """
    saved = entity.SIG_ALLOWED_ALG
    entity.SIG_ALLOWED_ALG = (*saved, ("SIG_ECDSA_SHA256", SIG_ECDSA_SHA256))
    try:
        yield
    finally:
        entity.SIG_ALLOWED_ALG = saved


def respond_ec(idp: IdentityProvider, request, **kwargs) -> str:
    with idp_may_sign_ecdsa():
        return idp.respond(request, sign_alg=SIG_ECDSA_SHA256, **kwargs)


# --- the IdP's back channel over real HTTP -----------------------------------------------------


class ArtifactIdentityProvider(IdentityProvider):
    """pysaml2's IdP that answers by artifact and resolves artifacts over SOAP."""

    def __init__(self, key: tuple[str, str], sp_metadata: str, art_url: str, **kwargs):
        config = IdPConfig()
        config.load(_artifact_config(key, {"inline": [sp_metadata]}, art_url, **kwargs))
        self.server = Server(config=config)
        self.messages: dict[str, str] = {}
        self.resolves: list[samlp.ArtifactResolve] = []
        self.mode = "ok"
        self.signer: ArtifactIdentityProvider | None = None

    def respond_artifact(self, request, **kwargs) -> str:
        """Make the signed Response as for HTTP-POST, keep it, return its artifact."""
        with idp_may_sign_ecdsa():
            xml = base64.b64decode(self.respond(request, **kwargs)).decode()
        artifact = self.server.use_artifact(xml, 1)  # the index its metadata gives
        self.messages[artifact] = xml
        return artifact

    def resolve(self, body: bytes) -> tuple[int, bytes]:
        """The ArtifactResolutionService: check the signed request, answer with the Response."""
        envelope = etree.fromstring(body)
        found = envelope.find(f"{{{SOAP_NS}}}Body/{{{SAMLP_NS}}}ArtifactResolve")
        xml = etree.tostring(found).decode()
        # The IdP requires a valid signature by the SP certificate of the SP metadata.
        resolve = self.server.sec.correctly_signed_message(xml, "artifact_resolve", must=True)
        self.resolves.append(resolve)
        if self.mode == "slow":
            time.sleep(2)
        if self.mode == "error":
            return 500, b"internal error"
        if self.mode == "huge":
            return 200, b"<x>" + b" " * (saml.MAX_ARTIFACT_RESPONSE_BYTES + 10) + b"</x>"
        inner = self.messages.pop(resolve.artifact.text, "")
        signer = self.signer or self
        return 200, signer.artifact_response(resolve.id, inner)

    def artifact_response(self, in_response_to: str, inner: str) -> bytes:
        """A signed ArtifactResponse (SOAP) holding `inner` (empty for an unknown artifact)."""
        response = samlp.ArtifactResponse(
            id=sid(),
            version="2.0",
            issue_instant=instant(),
            in_response_to=in_response_to,
            issuer=Issuer(text=IDP_ENTITY, format=NAMEID_FORMAT_ENTITY),
            status=samlp.Status(status_code=samlp.StatusCode(value=SUCCESS)),
        )
        response.signature = pre_signature_part(
            response.id,
            self.server.sec.my_cert,
            9,  # Id="Signature9": the Response inside has Signature1 and Signature2
            sign_alg=self.sign_alg,
            digest_alg=DIGEST_SHA256,
        )
        text = str(response)
        if inner:
            inner = inner.split("?>", 1)[1].lstrip() if inner.startswith("<?xml") else inner
            closing = text.rindex("</")
            text = text[:closing] + inner + text[closing:]
        signed = self.server.sec.sign_statement(text, class_name(response), node_id=response.id)
        if signed.startswith("<?xml"):
            signed = signed.split("?>", 1)[1].lstrip()
        return (
            f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body>{signed}</soap:Body></soap:Envelope>'
        ).encode()

    sign_alg = SIG_RSA_SHA256


def _artifact_config(
    key: tuple[str, str],
    metadata: dict,
    art_url: str,
    *,
    slo: bool = False,
    lifetime_minutes: int = 15,
) -> dict:
    config = _slo_config(key, metadata) if slo else _idp_config(key, metadata, lifetime_minutes)
    config["service"]["idp"]["endpoints"]["artifact_resolution_service"] = [(art_url, BINDING_SOAP)]
    return config


class BackChannel:
    """A real HTTP server thread on 127.0.0.1 serving the IdP's ArtifactResolutionService."""

    def __init__(self) -> None:
        self.idp: ArtifactIdentityProvider | None = None
        self.calls = 0
        channel = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                channel.calls += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                assert self.path == ART_PATH
                assert self.headers.get("Content-Type", "").startswith("text/xml")
                status, answer = channel.idp.resolve(body)
                self.send_response(status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{ART_PATH}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def back_channel() -> Iterator[BackChannel]:
    channel = BackChannel()
    yield channel
    channel.close()


def _write_idp_metadata(
    key: tuple[str, str], art_url: str, folder: Path, *, slo: bool = False
) -> Path:
    config = IdPConfig()
    config.load(_artifact_config(key, {}, art_url, slo=slo))
    path = folder / "idp-artifact-metadata.xml"
    path.write_text(str(entity_descriptor(config)))
    return path


def configure(settings, sp: tuple[str, str], idp_key: tuple[str, str], channel, tmp_path, **kw):
    path = _write_idp_metadata(idp_key, channel.url, tmp_path, **kw)
    settings.GARNIZON_SAML_SP_KEY, settings.GARNIZON_SAML_SP_CERT = sp
    settings.GARNIZON_SAML_IDP_METADATA = str(path)
    settings.GARNIZON_SAML_RESPONSE_BINDING = "artifact"


@pytest.fixture
def art_idp(keys, back_channel, tmp_path, settings) -> ArtifactIdentityProvider:
    configure(settings, keys["sp"], keys["idp"], back_channel, tmp_path)
    idp = ArtifactIdentityProvider(keys["idp"], saml.sp_metadata_xml(), back_channel.url)
    back_channel.idp = idp
    return idp


def start_login(client: Client, idp: IdentityProvider):
    response = client.get(reverse("portal:saml_login"))
    assert response.status_code == 302, response.content.decode()[:500]
    assert response["Location"].startswith(IDP_SSO + "?")
    return idp.read_request(response["Location"])


def acs_get(client: Client, artifact: str, relay_state: str = ""):
    data = {"SAMLart": artifact}
    if relay_state:
        data["RelayState"] = relay_state
    return client.get(reverse("portal:saml_acs"), data)


# --- the artifact binding: the happy paths -----------------------------------------------------


def test_an_artifact_is_resolved_over_soap_and_logs_the_citizen_in(db, art_idp, back_channel):
    client = Client()
    request = start_login(client, art_idp)
    # The AuthnRequest asks for the artifact binding, to our ACS.
    assert request.protocol_binding == BINDING_HTTP_ARTIFACT
    assert request.assertion_consumer_service_url == saml.acs_url()
    artifact = art_idp.respond_artifact(request, subject="pz-art")
    response = acs_get(client, artifact, relay_state="abc")
    assert response.status_code == 302, response.content.decode()[:1000]
    assert response["Location"] == reverse("portal:account")
    citizen = logged_in_citizen(client)
    assert citizen is not None and citizen.saml_subject == "pz-art"
    assert (citizen.first_name, citizen.last_name) == ("Jan", "Kowalski")
    # One back-channel call, with a signed ArtifactResolve for that artifact, from us.
    assert back_channel.calls == 1
    resolve = art_idp.resolves[0]
    assert resolve.artifact.text == artifact
    assert resolve.issuer.text == saml.sp_entity_id()
    assert resolve.destination == back_channel.url
    assert resolve.signature is not None
    method = resolve.signature.signed_info.signature_method.algorithm
    assert method == SIG_RSA_SHA256
    assert AuditEntry.objects.filter(action=AuditAction.LOGIN).count() == 1


def test_an_encrypted_assertion_arrives_by_artifact(db, art_idp):
    client = Client()
    request = start_login(client, art_idp)
    artifact = art_idp.respond_artifact(request, subject="pz-enc", encrypt=True)
    assert "EncryptedAssertion" in art_idp.messages[artifact]
    response = client.post(reverse("portal:saml_acs"), {"SAMLart": artifact})
    assert response.status_code == 302, response.content.decode()[:1000]
    assert logged_in_citizen(client).saml_subject == "pz-enc"


def test_a_cross_site_artifact_post_goes_on_as_a_get_without_resolving(db, art_idp, back_channel):
    client = Client()
    request = start_login(client, art_idp)
    artifact = art_idp.respond_artifact(request)
    cookies = {key: morsel.value for key, morsel in client.cookies.items()}
    bare = Client()  # the cross-site POST: neither the session nor the pending cookie
    response = bare.post(reverse("portal:saml_acs"), {"SAMLart": artifact})
    assert response.status_code == 302
    assert back_channel.calls == 0  # the single-use artifact is not spent here
    target = urlparse(response["Location"])
    assert target.path == reverse("portal:saml_acs")
    assert parse_qs(target.query)["SAMLart"] == [artifact]
    # The browser follows with a top-level GET, which carries the SameSite=Lax session.
    client.cookies[django_settings.SESSION_COOKIE_NAME] = cookies[
        django_settings.SESSION_COOKIE_NAME
    ]
    del client.cookies["garnizon_saml"]
    final = client.get(response["Location"])
    assert final.status_code == 302, final.content.decode()[:1000]
    assert logged_in_citizen(client) is not None


def test_the_default_binding_stays_post_and_the_metadata_offers_both(db, keys, settings, tmp_path):
    channel = BackChannel()
    try:
        configure(settings, keys["sp"], keys["idp"], channel, tmp_path)
        del settings.GARNIZON_SAML_RESPONSE_BINDING
        idp = IdentityProvider(keys["idp"], saml.sp_metadata_xml())
        request = start_login(Client(), idp)
        assert request.protocol_binding == BINDING_HTTP_POST
        xml = Client().get(reverse("portal:saml_metadata")).content.decode()
        assert f'Binding="{BINDING_HTTP_POST}" Location="{saml.acs_url()}"' in xml
        assert f'Binding="{BINDING_HTTP_ARTIFACT}" Location="{saml.acs_url()}"' in xml
        # A GET without an artifact is not a binding the ACS knows.
        assert Client().get(reverse("portal:saml_acs")).status_code == 405
        settings.GARNIZON_SAML_RESPONSE_BINDING = "smoke-signals"
        assert Client().get(reverse("portal:saml_login")).status_code == 503
    finally:
        channel.close()


# --- the artifact binding: what is refused -----------------------------------------------------


def test_a_reused_artifact_is_refused_without_asking_the_node_again(db, art_idp, back_channel):
    client = Client()
    request = start_login(client, art_idp)
    artifact = art_idp.respond_artifact(request)
    assert acs_get(client, artifact).status_code == 302
    other = Client()
    start_login(other, art_idp)
    again = acs_get(other, artifact)
    assert again.status_code == 400
    assert "Nie udało się zalogować" in again.content.decode()
    assert logged_in_citizen(other) is None
    assert back_channel.calls == 1
    assert refused_reasons() == ["artifact_reused"]


def test_an_artifact_the_node_does_not_know_is_refused(db, art_idp, back_channel):
    client = Client()
    request = start_login(client, art_idp)
    artifact = art_idp.respond_artifact(request)
    art_idp.messages.clear()  # expired at the node
    response = acs_get(client, artifact)
    assert response.status_code == 400
    assert back_channel.calls == 1
    assert refused_reasons() == ["artifact_unknown"]
    assert Citizen.objects.count() == 0 and logged_in_citizen(client) is None


def test_an_artifact_of_another_source_is_refused_unresolved(db, art_idp, back_channel):
    client = Client()
    start_login(client, art_idp)
    foreign = create_artifact("https://other-idp.example/", b"h" * 20, 0)
    malformed = base64.b64encode(b"\x00\x05" + b"\x00" * 42).decode()
    assert acs_get(client, foreign).status_code == 400
    assert acs_get(client, malformed).status_code == 400
    assert acs_get(client, "not base64!").status_code == 400
    assert back_channel.calls == 0
    assert refused_reasons() == ["artifact_source", "artifact_malformed", "artifact_malformed"]


def test_an_artifact_nobody_here_asked_for_is_not_resolved(db, art_idp, back_channel):
    artifact = art_idp.respond_artifact(start_login(Client(), art_idp))
    stranger = Client()
    assert acs_get(stranger, artifact).status_code == 400
    assert back_channel.calls == 0
    assert refused_reasons() == ["unsolicited_artifact"]


def test_a_resolved_response_for_another_browsers_request_is_refused(db, art_idp):
    first, second = Client(), Client()
    request = start_login(first, art_idp)
    start_login(second, art_idp)
    artifact = art_idp.respond_artifact(request)
    assert acs_get(second, artifact).status_code == 400
    assert logged_in_citizen(second) is None
    assert refused_reasons()[0].startswith("UnsolicitedResponse")


def test_a_resolved_response_gets_the_post_checks(db, keys, art_idp, back_channel):
    """Signature, expiry and audience are checked as for a POSTed response."""
    client = Client()
    # Signed by another key (the IdP's back channel itself is genuine).
    forger = ArtifactIdentityProvider(keys["forger"], saml.sp_metadata_xml(), back_channel.url)
    request = start_login(client, art_idp)
    forged = forger.respond_artifact(request)
    art_idp.messages[forged] = forger.messages.pop(forged)
    assert acs_get(client, forged).status_code == 400
    # Expired: the assertion's NotOnOrAfter is ten minutes ago.
    old = ArtifactIdentityProvider(
        keys["idp"], saml.sp_metadata_xml(), back_channel.url, lifetime_minutes=-10
    )
    request = start_login(client, art_idp)
    expired = old.respond_artifact(request)
    art_idp.messages[expired] = old.messages.pop(expired)
    assert acs_get(client, expired).status_code == 400
    assert Citizen.objects.count() == 0
    assert refused_reasons() == [
        "SignatureError: Failed to verify signature",
        "VerificationError: Condition not OK",
    ]


def test_the_same_response_under_a_second_artifact_is_a_replay(db, art_idp):
    client = Client()
    request = start_login(client, art_idp)
    pending = client.cookies["garnizon_saml"].value
    first = art_idp.respond_artifact(request)
    second = art_idp.server.use_artifact(art_idp.messages[first], 1)
    assert second != first
    art_idp.messages[second] = art_idp.messages[first]
    assert acs_get(client, first).status_code == 302
    # Someone holding the pending cookie brings the same Response under another artifact.
    thief = Client()
    thief.cookies["garnizon_saml"] = pending
    assert acs_get(thief, second).status_code == 400
    assert logged_in_citizen(thief) is None
    assert refused_reasons() == ["replayed"]


def test_an_artifact_response_signed_by_another_key_is_refused(db, keys, art_idp, back_channel):
    client = Client()
    request = start_login(client, art_idp)
    artifact = art_idp.respond_artifact(request)
    art_idp.signer = ArtifactIdentityProvider(
        keys["forger"], saml.sp_metadata_xml(), back_channel.url
    )
    assert acs_get(client, artifact).status_code == 400
    assert refused_reasons() == ["artifact_response_signature: bad_signature"]
    assert logged_in_citizen(client) is None


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("error", "artifact_http_500"), ("huge", "artifact_too_large"), ("slow", "artifact_timeout")],
)
def test_a_failing_back_channel_ends_on_the_failure_page(
    db, art_idp, back_channel, settings, mode, reason
):
    settings.GARNIZON_SAML_ARTIFACT_TIMEOUT = "0.5"
    client = Client()
    artifact = art_idp.respond_artifact(start_login(client, art_idp))
    art_idp.mode = mode
    started = time.monotonic()
    response = acs_get(client, artifact)
    assert time.monotonic() - started < 1.8
    assert response.status_code == 400
    assert "Nie udało się zalogować" in response.content.decode()
    assert logged_in_citizen(client) is None
    assert refused_reasons() == [reason]


def test_plain_http_is_refused_for_a_node_that_is_not_local(db, keys, settings, tmp_path):
    path = _write_idp_metadata(keys["idp"], "http://login.test.invalid/ars", tmp_path)
    settings.GARNIZON_SAML_SP_KEY, settings.GARNIZON_SAML_SP_CERT = keys["sp"]
    settings.GARNIZON_SAML_IDP_METADATA = str(path)
    settings.GARNIZON_SAML_RESPONSE_BINDING = "artifact"
    idp = ArtifactIdentityProvider(keys["idp"], saml.sp_metadata_xml(), "http://x/")
    client = Client()
    artifact = idp.respond_artifact(start_login(client, idp))
    assert acs_get(client, artifact).status_code == 400
    assert refused_reasons() == ["artifact_endpoint_not_https"]


def test_an_artifact_index_the_metadata_does_not_name_is_refused(db, art_idp, back_channel):
    client = Client()
    start_login(client, art_idp)
    source = hashlib.sha1(IDP_ENTITY.encode()).digest()
    artifact = base64.b64encode(b"\x00\x04\x00\x07" + source + b"m" * 20).decode()
    assert acs_get(client, artifact).status_code == 400
    assert back_channel.calls == 0
    assert refused_reasons() == ["artifact_endpoint"]


# --- ECDSA ------------------------------------------------------------------------------------


def ec_idp_metadata(settings, tmp_path, sp: tuple[str, str], idp_key: tuple[str, str]) -> None:
    use_idp_metadata(settings, sp, _slo_config(idp_key, {}), tmp_path / "idp-ec-metadata.xml")


def test_an_ecdsa_signed_response_is_accepted_and_a_forged_one_refused(
    db, keys, ec_keys, settings, tmp_path
):
    ec_idp_metadata(settings, tmp_path, keys["sp"], ec_keys["idp"])
    idp = IdentityProvider(ec_keys["idp"], saml.sp_metadata_xml())
    client = Client()
    request = start_login(client, idp)
    saml_response = respond_ec(idp, request, subject="pz-ec")
    assert SIG_ECDSA_SHA256 in base64.b64decode(saml_response).decode()
    response = post_acs(client, saml_response)
    assert response.status_code == 302, response.content.decode()[:1000]
    assert logged_in_citizen(client).saml_subject == "pz-ec"
    forger = IdentityProvider(ec_keys["forger"], saml.sp_metadata_xml())
    other = Client()
    forged = respond_ec(forger, start_login(other, idp))
    assert post_acs(other, forged).status_code == 400
    assert refused_reasons() == ["SignatureError: Failed to verify signature"]


def test_an_ec_sp_key_signs_with_ecdsa_and_the_idp_accepts_it(
    db, ec_keys, back_channel, settings, tmp_path
):
    """EC keys on both sides, artifact binding: the node's production profile."""
    configure(settings, ec_keys["sp"], ec_keys["idp"], back_channel, tmp_path)
    idp = ArtifactIdentityProvider(ec_keys["idp"], saml.sp_metadata_xml(), back_channel.url)
    idp.sign_alg = SIG_ECDSA_SHA256
    back_channel.idp = idp
    client = Client()
    location = client.get(reverse("portal:saml_login"))["Location"]
    query = parse_qs(urlparse(location).query)
    assert query["SigAlg"] == [SIG_ECDSA_SHA256]
    assert verify_redirect(location, "SAMLRequest", ec_keys["sp"][1])
    assert not verify_redirect(location + "&RelayState=x", "SAMLRequest", ec_keys["sp"][1])
    request = samlp.authn_request_from_string(inflate(query["SAMLRequest"][0]))
    artifact = idp.respond_artifact(request, sign_alg=SIG_ECDSA_SHA256, subject="pz-wk")
    response = acs_get(client, artifact)
    assert response.status_code == 302, response.content.decode()[:1000]
    assert logged_in_citizen(client).saml_subject == "pz-wk"
    # The IdP checked our ArtifactResolve's ECDSA signature with the SP metadata's certificate.
    method = idp.resolves[0].signature.signed_info.signature_method.algorithm
    assert method == SIG_ECDSA_SHA256


def test_an_ec_signing_key_with_an_rsa_encryption_pair_takes_encrypted_assertions(
    db, keys, ec_keys, back_channel, settings, tmp_path
):
    """xmlsec1 1.2 has no ECDH-ES key agreement: encryption needs an RSA pair beside the EC key."""
    configure(settings, ec_keys["sp"], ec_keys["idp"], back_channel, tmp_path)
    settings.GARNIZON_SAML_ENC_KEY, settings.GARNIZON_SAML_ENC_CERT = keys["sp"]
    metadata = saml.sp_metadata_xml()
    idp = ArtifactIdentityProvider(ec_keys["idp"], metadata, back_channel.url)
    idp.sign_alg = SIG_ECDSA_SHA256
    back_channel.idp = idp
    client = Client()
    request = request_of(client.get(reverse("portal:saml_login"))["Location"])
    artifact = idp.respond_artifact(
        request, sign_alg=SIG_ECDSA_SHA256, encrypt=True, subject="pz-enc-ec"
    )
    assert "EncryptedAssertion" in idp.messages[artifact]
    response = acs_get(client, artifact)
    assert response.status_code == 302, response.content.decode()[:1000]
    assert logged_in_citizen(client).saml_subject == "pz-enc-ec"


def inflate(value: str) -> bytes:
    return zlib.decompress(base64.b64decode(value), -zlib.MAX_WBITS)


def request_of(location: str) -> samlp.AuthnRequest:
    """The AuthnRequest of an ECDSA-signed redirect (pysaml2's IdP checks RSA ones only)."""
    return samlp.authn_request_from_string(
        inflate(parse_qs(urlparse(location).query)["SAMLRequest"][0])
    )


def verify_redirect(location: str, kind: str, cert_path: str) -> bool:
    """Check a redirect signature (DER ECDSA) over the raw query parameters."""
    raw = dict(part.split("=", 1) for part in urlparse(location).query.split("&"))
    signed = "&".join(f"{n}={raw[n]}" for n in (kind, "RelayState", "SigAlg") if n in raw)
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    signature = base64.b64decode(parse_qs(f"s={raw['Signature']}")["s"][0])
    try:
        cert.public_key().verify(signature, signed.encode(), ec.ECDSA(hashes.SHA256()))
    except Exception:
        return False
    return True


def sign_redirect_ec(location: str, kind: str, key_path: str) -> str:
    """Sign an unsigned redirect URL with an EC key (DER), as a Java node does."""
    base_url, _, query = location.partition("?")
    raw = dict(part.split("=", 1) for part in query.split("&"))
    raw["SigAlg"] = quote_plus(SIG_ECDSA_SHA256)
    signed = "&".join(f"{n}={raw[n]}" for n in (kind, "RelayState", "SigAlg") if n in raw)
    key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    signature = key.sign(signed.encode(), ec.ECDSA(hashes.SHA256()))
    encoded = quote_plus(base64.b64encode(signature).decode())
    return f"{base_url}?{signed}&Signature={encoded}"


class EcSloIdentityProvider(SloIdentityProvider):
    """The SLO IdP whose redirect messages are signed with its EC key (pysaml2: RSA only)."""

    def __init__(self, key: tuple[str, str], sp_metadata: str):
        super().__init__(key, sp_metadata)
        self.key_path = key[0]

    def _to_portal(self, message, *, response: bool, relay_state: str, sign: bool, sigalg: str):
        path = super()._to_portal(
            message, response=response, relay_state=relay_state, sign=False, sigalg=sigalg
        )
        if not sign:
            return path
        return sign_redirect_ec(path, "SAMLResponse" if response else "SAMLRequest", self.key_path)


def test_single_logout_with_ec_keys_on_both_sides(db, ec_keys, settings, tmp_path):
    ec_idp_metadata(settings, tmp_path, ec_keys["sp"], ec_keys["idp"])
    idp = EcSloIdentityProvider(ec_keys["idp"], saml.sp_metadata_xml())
    # Log in (HTTP-POST, ECDSA-signed response), then log out: our LogoutRequest is ECDSA.
    client = Client()
    location = client.get(reverse("portal:saml_login"))["Location"]
    assert verify_redirect(location, "SAMLRequest", ec_keys["sp"][1])
    request = request_of(location)
    assert post_acs(client, respond_ec(idp, request)).status_code == 302
    location = start_logout(client, idp)
    assert location.startswith(IDP_SLO + "?")
    assert verify_redirect(location, "SAMLRequest", ec_keys["sp"][1])
    logout_request = samlp.logout_request_from_string(
        inflate(parse_qs(urlparse(location).query)["SAMLRequest"][0])
    )
    # The node's ECDSA-signed LogoutResponse is accepted.
    answer = client.get(idp.logout_response(logout_request))
    assert answer.status_code == 302 and answer["Location"] == reverse("portal:logged_out")
    assert logout_entries(outcome="confirmed")
    # IdP-initiated: an ECDSA-signed LogoutRequest ends the session; we answer with ECDSA.
    client = Client()
    location = client.get(reverse("portal:saml_login"))["Location"]
    request = request_of(location)
    assert post_acs(client, respond_ec(idp, request)).status_code == 302
    _, path = idp.logout_request("pz-0001")
    answer = client.get(path)
    assert answer.status_code == 302 and answer["Location"].startswith(IDP_SLO + "?")
    assert verify_redirect(answer["Location"], "SAMLResponse", ec_keys["sp"][1])
    assert logged_in_citizen(client) is None
    # A LogoutRequest signed by another EC key is refused.
    forger = EcSloIdentityProvider(ec_keys["forger"], saml.sp_metadata_xml())
    _, path = forger.logout_request("pz-0001")
    assert client.get(path).status_code == 400


def test_an_ec_key_on_another_curve_is_refused(db, keys, settings, tmp_path, idp_metadata):
    key = ec.generate_private_key(ec.SECP384R1())
    key_path = tmp_path / "p384.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings.GARNIZON_SAML_SP_KEY = str(key_path)
    with pytest.raises(saml.SamlError, match="P-256"):
        saml.sp_signature_algorithm()
    # The login button leads to the failure page, and the audit says why.
    response = Client().get(reverse("portal:saml_login"))
    assert response.status_code == 503
    assert refused_reasons() == ["configuration: EC key on secp384r1, P-256 expected"]
