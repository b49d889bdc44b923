"""SAML single logout (HTTP-Redirect binding) against a real pysaml2 IdP in-process.

The IdP of tests/test_portal_identity.py, given a SingleLogoutService: it reads and
verifies the portal's signed LogoutRequest, answers with real signed LogoutResponses
(good and bad ones), and sends its own signed LogoutRequests, whose answers it checks
with the portal's certificate. Keys are generated at test time (`keys`).
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.test import Client
from django.urls import reverse
from saml2 import BINDING_HTTP_REDIRECT, samlp
from saml2.config import IdPConfig
from saml2.request import IncorrectlySigned
from saml2.s_utils import decode_base64_and_inflate, error_status_factory
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.sigver import verify_redirect_signature
from saml2.xmldsig import SIG_RSA_SHA1, SIG_RSA_SHA256

from garnizon.audit.models import AuditAction, AuditEntry
from garnizon.portal import identity, saml
from garnizon.portal.models import Citizen
from tests import test_portal_identity as base
from tests.test_portal_identity import (
    IDP_ENTITY,
    IdentityProvider,
    _idp_config,
    logged_in_citizen,
    login_by_email,
    post_acs,
    start_login,
    use_idp_metadata,
)

# The fixtures of the login tests, used here by name (keys, the IdP without SLO, isolation).
keys = base.keys
idp_metadata = base.idp_metadata
idp = base.idp
_isolated = base._isolated

IDP_SLO = "https://login.test.invalid/slo"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"


def _slo_config(key: tuple[str, str], metadata: dict, entity_id: str = IDP_ENTITY) -> dict:
    config = _idp_config(key, metadata)
    config["entityid"] = entity_id
    config["service"]["idp"]["endpoints"]["single_logout_service"] = [
        (IDP_SLO, BINDING_HTTP_REDIRECT)
    ]
    return config


class SloIdentityProvider(IdentityProvider):
    """The test IdP with a SingleLogoutService (HTTP-Redirect)."""

    def __init__(self, key: tuple[str, str], sp_metadata: str, entity_id: str = IDP_ENTITY):
        config = IdPConfig()
        config.load(_slo_config(key, {"inline": [sp_metadata]}, entity_id))
        self.server = Server(config=config)

    def read_logout_request(self, location: str):
        """Our LogoutRequest from a redirect URL; the IdP requires and checks its signature."""
        query = parse_qs(urlparse(location).query)
        request = self.server.parse_logout_request(
            query["SAMLRequest"][0],
            BINDING_HTTP_REDIRECT,
            relay_state=query["RelayState"][0] if "RelayState" in query else None,
            sigalg=query["SigAlg"][0],
            signature=query["Signature"][0],
        )
        return request.message

    def _to_portal(self, message, *, response: bool, relay_state: str, sign: bool, sigalg: str):
        info = self.server.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(message),
            saml.slo_url(),
            relay_state=relay_state,
            response=response,
            sign=sign,
            sigalg=sigalg,
        )
        url = urlparse(dict(info["headers"])["Location"])
        assert url.path == saml.SLO_PATH
        return f"{url.path}?{url.query}"

    def logout_response(
        self,
        request,
        *,
        in_response_to: str | None = None,
        status: tuple[str, str] | None = None,
        issue_instant: str | None = None,
        sign: bool = True,
        sigalg: str = SIG_RSA_SHA256,
    ) -> str:
        """The path (with query) of a LogoutResponse to `request`, as the browser brings it."""
        response = self.server.create_logout_response(
            request,
            [BINDING_HTTP_REDIRECT],
            status=error_status_factory(status) if status else None,
            sign=False,
        )
        if in_response_to is not None:
            response.in_response_to = in_response_to
        if issue_instant is not None:
            response.issue_instant = issue_instant
        return self._to_portal(response, response=True, relay_state="", sign=sign, sigalg=sigalg)

    def logout_request(
        self,
        subject: str,
        *,
        session_index: str = "",
        relay_state: str = "",
        destination: str | None = None,
        issue_instant: str | None = None,
        sign: bool = True,
        sigalg: str = SIG_RSA_SHA256,
    ) -> tuple[str, str]:
        """An IdP-initiated LogoutRequest: (its id, the path with query to our SLO)."""
        request_id, request = self.server.create_logout_request(
            destination=destination or saml.slo_url(),
            issuer_entity_id=saml.sp_entity_id(),
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=subject),
            session_indexes=[session_index] if session_index else None,
            sign=False,
        )
        if issue_instant is not None:
            request.issue_instant = issue_instant
        path = self._to_portal(
            request, response=False, relay_state=relay_state, sign=sign, sigalg=sigalg
        )
        return request_id, path

    def read_logout_response(self, location: str):
        """Our LogoutResponse from a redirect URL, its signature checked by the IdP here."""
        query = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
        assert query["SigAlg"] == SIG_RSA_SHA256
        sp_cert = sp_certificate_body()
        assert verify_redirect_signature(query, self.server.sec.sec_backend, sp_cert)
        xml = decode_base64_and_inflate(query["SAMLResponse"])
        return samlp.logout_response_from_string(xml), query

    def accepts_logout_response(self, location: str) -> bool:
        """pysaml2's own check of a successful answer (destination, issue instant, status)."""
        query = parse_qs(urlparse(location).query)
        parsed = self.server.parse_logout_request_response(
            query["SAMLResponse"][0], BINDING_HTTP_REDIRECT
        )
        return parsed is not None and parsed.status_ok()


def sp_certificate_body() -> str:
    """The SP certificate as metadata carries it (base64, no PEM armour)."""
    pem = Path(saml._setting("GARNIZON_SAML_SP_CERT")).read_text()
    return "".join(line for line in pem.splitlines() if "-----" not in line)


@pytest.fixture
def slo_metadata(keys, tmp_path, settings) -> Path:
    """Configure the portal's SP with metadata of an IdP that has a SingleLogoutService."""
    return use_idp_metadata(
        settings, keys["sp"], _slo_config(keys["idp"], {}), tmp_path / "idp-slo-metadata.xml"
    )


@pytest.fixture
def slo_idp(keys, slo_metadata) -> SloIdentityProvider:
    return SloIdentityProvider(keys["idp"], saml.sp_metadata_xml())


def saml_login(client: Client, idp: IdentityProvider, subject: str = "pz-0001") -> Citizen:
    response = post_acs(client, idp.respond(start_login(client, idp), subject=subject))
    assert response.status_code == 302, response.content.decode()[:1000]
    citizen = logged_in_citizen(client)
    assert citizen is not None and citizen.saml_subject == subject
    return citizen


def start_logout(client: Client, idp: SloIdentityProvider):
    """Press "Wyloguj": the browser goes to the IdP with our LogoutRequest."""
    response = client.post(reverse("portal:logout"))
    assert response.status_code == 302
    assert response["Location"].startswith(IDP_SLO + "?"), response["Location"]
    return response["Location"]


def logout_entries(**details) -> list[AuditEntry]:
    return [
        entry
        for entry in AuditEntry.objects.filter(action=AuditAction.LOGOUT).order_by("seq")
        if all(entry.details.get(k) == v for k, v in details.items())
    ]


def refused(slo: str) -> list[str]:
    return [e.details["reason"] for e in logout_entries(slo=slo, outcome="refused")]


# --- metadata ----------------------------------------------------------------------------------


def test_the_sp_metadata_lists_the_single_logout_service(db, slo_idp):
    xml = Client().get(reverse("portal:saml_metadata")).content.decode()
    assert "SingleLogoutService" in xml
    assert f'Binding="{BINDING_HTTP_REDIRECT}"' in xml
    assert f'Location="{saml.slo_url()}"' in xml
    # The IdP reads our SLO endpoint from that metadata.
    services = slo_idp.server.metadata.single_logout_service(
        saml.sp_entity_id(), BINDING_HTTP_REDIRECT, "spsso"
    )
    assert [s["location"] for s in services] == [saml.slo_url()]


# --- SP-initiated --------------------------------------------------------------------------------


def test_sp_initiated_logout_round_trip(db, slo_idp, caplog):
    caplog.set_level(logging.DEBUG)
    client = Client(REMOTE_ADDR="198.51.100.30")
    citizen = saml_login(client, slo_idp)
    stored = client.session[identity.SAML_SESSION_KEY]
    assert stored["name_id"] == "pz-0001" and stored["session_index"]

    location = start_logout(client, slo_idp)
    # The local session ended before the browser left for the node.
    assert logged_in_citizen(client) is None
    assert identity.SAML_SESSION_KEY not in client.session
    query = parse_qs(urlparse(location).query)
    assert query["SigAlg"] == [SIG_RSA_SHA256]

    request = slo_idp.read_logout_request(location)
    assert request.issuer.text == saml.sp_entity_id()
    assert request.destination == IDP_SLO
    assert request.name_id.text == "pz-0001"
    assert request.name_id.format == NAMEID_FORMAT_PERSISTENT
    assert [s.text for s in request.session_index] == [stored["session_index"]]
    assert request.not_on_or_after

    response = client.get(slo_idp.logout_response(request))
    assert response.status_code == 302 and response["Location"] == reverse("portal:logged_out")
    page = client.get(response["Location"])
    assert page.status_code == 200 and "Wylogowaliśmy Cię z e-Usług" in page.content.decode()

    ended = logout_entries(slo="sp", outcome=None)
    assert len(ended) == 1 and ended[0].object_id == str(citizen.pk)
    assert ended[0].details["method"] == "saml" and ended[0].details["slo_request"] == request.id
    confirmed = logout_entries(outcome="confirmed")
    assert len(confirmed) == 1 and confirmed[0].object_id == str(citizen.pk)
    # No personal data in the log or the audit details.
    assert "pz-0001" not in caplog.text and "Kowalski" not in caplog.text
    for entry in AuditEntry.objects.filter(action=AuditAction.LOGOUT):
        assert "pz-0001" not in str(entry.details)
    # The answer counts once: the same response again is refused.
    again = client.get(slo_idp.logout_response(request))
    assert again.status_code == 400
    assert refused("sp") == ["unsolicited"]


def test_the_logout_request_signature_is_checked_by_the_idp(db, keys, slo_idp, settings):
    client = Client()
    saml_login(client, slo_idp)
    location = start_logout(client, slo_idp)
    assert slo_idp.read_logout_request(location).id
    tampered = location + "&RelayState=x"
    with pytest.raises(IncorrectlySigned):
        slo_idp.read_logout_request(tampered)
    # A request signed with a key the IdP does not know for us is refused as well.
    saml_login(client, slo_idp)
    settings.GARNIZON_SAML_SP_KEY = keys["forger"][0]
    forged = start_logout(client, slo_idp)
    with pytest.raises(IncorrectlySigned):
        slo_idp.read_logout_request(forged)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("forged", "bad_signature"),
        ("unsigned", "unsigned"),
        ("sha1", "weak_algorithm"),
        ("wrong_in_response_to", "in_response_to"),
        ("other_issuer", "issuer"),
        ("stale", "stale"),
        ("failure_status", f"status:{saml.STATUS_RESPONDER}"),
    ],
)
def test_a_refused_logout_response_leaves_the_citizen_logged_out(db, keys, slo_idp, case, reason):
    client = Client()
    citizen = saml_login(client, slo_idp)
    request = slo_idp.read_logout_request(start_logout(client, slo_idp))
    if case == "forged":
        path = SloIdentityProvider(keys["forger"], saml.sp_metadata_xml()).logout_response(request)
    elif case == "other_issuer":
        # A valid signature (same key) but another entity as the issuer.
        other = SloIdentityProvider(keys["idp"], saml.sp_metadata_xml(), "https://other.invalid/")
        path = other.logout_response(request)
    else:
        path = slo_idp.logout_response(
            request,
            sign=case != "unsigned",
            sigalg=SIG_RSA_SHA1 if case == "sha1" else SIG_RSA_SHA256,
            in_response_to="id-not-ours" if case == "wrong_in_response_to" else None,
            issue_instant="2020-01-01T00:00:00Z" if case == "stale" else None,
            status=(saml.STATUS_RESPONDER, "failed") if case == "failure_status" else None,
        )
    response = client.get(path)
    assert response.status_code == 400
    body = response.content.decode()
    assert "login.gov.pl nie potwierdził wylogowania" in body and "zamknij przeglądarkę" in body
    # The local session was gone before the answer came, and stays gone.
    assert logged_in_citizen(client) is None
    [refusal] = refused("sp")
    assert refusal.startswith(reason)
    assert logout_entries(outcome="confirmed") == []
    assert logout_entries(slo="sp", outcome=None)[0].object_id == str(citizen.pk)


def test_a_logout_response_nobody_asked_for_is_refused(db, slo_idp):
    client = Client()
    saml_login(client, slo_idp)
    request = slo_idp.read_logout_request(start_logout(client, slo_idp))
    # Another browser brings the answer: it never sent that request.
    response = Client().get(slo_idp.logout_response(request))
    assert response.status_code == 400
    assert refused("sp") == ["unsolicited"]


def test_an_email_link_citizen_gets_the_local_logout(db, slo_idp, smtp_server):
    client = Client()
    citizen = login_by_email(client, "ewa@example.pl", smtp_server)
    assert identity.citizen_saml_session(client.session) is None
    response = client.post(reverse("portal:logout"))
    assert response.status_code == 302 and response["Location"] == reverse("portal:logged_out")
    assert logged_in_citizen(client) is None
    [entry] = logout_entries()
    assert entry.object_id == str(citizen.pk)
    assert entry.details == {"portal": True, "method": "email"}


def test_an_idp_without_a_logout_endpoint_gets_the_local_logout(db, idp):
    client = Client()
    saml_login(client, idp)
    response = client.post(reverse("portal:logout"))
    assert response.status_code == 302 and response["Location"] == reverse("portal:logged_out")
    assert logged_in_citizen(client) is None
    [entry] = logout_entries()
    assert entry.details == {"portal": True, "method": "saml"}


def test_a_logout_request_that_cannot_be_made_still_logs_out_here(db, slo_idp, settings):
    client = Client()
    citizen = saml_login(client, slo_idp)
    # The configuration now names another IdP than the one of this login.
    settings.GARNIZON_SAML_IDP_ENTITY_ID = "https://another.invalid/idp"
    response = client.post(reverse("portal:logout"))
    assert response.status_code == 302 and response["Location"] == reverse("portal:logged_out")
    assert logged_in_citizen(client) is None
    assert refused("sp") == ["session_of_another_idp"]
    [ended] = logout_entries(outcome=None)
    assert ended.object_id == str(citizen.pk) and "slo" not in ended.details


# --- IdP-initiated -------------------------------------------------------------------------------


def test_idp_initiated_logout_ends_the_session_and_answers_signed(db, slo_idp):
    client = Client()
    citizen = saml_login(client, slo_idp)
    session_index = client.session[identity.SAML_SESSION_KEY]["session_index"]
    request_id, path = slo_idp.logout_request(
        "pz-0001", session_index=session_index, relay_state="powrot-123"
    )
    response = client.get(path)
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(IDP_SLO + "?")
    assert logged_in_citizen(client) is None

    answer, query = slo_idp.read_logout_response(location)
    assert answer.status.status_code.value == SUCCESS
    assert answer.in_response_to == request_id
    assert answer.issuer.text == saml.sp_entity_id()
    assert answer.destination == IDP_SLO
    assert query["RelayState"] == "powrot-123"
    assert slo_idp.accepts_logout_response(location)
    # The signature covers the message and the RelayState: a changed one does not verify.
    changed = dict(query, RelayState="inny")
    assert not verify_redirect_signature(
        changed, slo_idp.server.sec.sec_backend, sp_certificate_body()
    )

    [entry] = logout_entries(slo="idp")
    assert entry.object_id == str(citizen.pk) and entry.details["slo_request"] == request_id
    assert "pz-0001" not in str(entry.details)


def test_an_idp_request_without_a_session_index_ends_the_session(db, slo_idp):
    client = Client()
    saml_login(client, slo_idp)
    _, path = slo_idp.logout_request("pz-0001")
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith(IDP_SLO)
    assert logged_in_citizen(client) is None


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unsigned", "unsigned"),
        ("forged", "bad_signature"),
        ("sha1", "weak_algorithm"),
        ("other_issuer", "issuer"),
        ("other_destination", "destination"),
        ("stale", "stale"),
        ("tampered", "bad_signature"),
    ],
)
def test_an_unsigned_or_forged_idp_request_is_refused_and_the_session_stays(
    db, keys, slo_idp, case, reason
):
    client = Client()
    citizen = saml_login(client, slo_idp)
    if case == "forged":
        sender = SloIdentityProvider(keys["forger"], saml.sp_metadata_xml())
    elif case == "other_issuer":
        sender = SloIdentityProvider(keys["idp"], saml.sp_metadata_xml(), "https://other.invalid/")
    else:
        sender = slo_idp
    _, path = sender.logout_request(
        "pz-0001",
        sign=case != "unsigned",
        sigalg=SIG_RSA_SHA1 if case == "sha1" else SIG_RSA_SHA256,
        destination="https://elsewhere.invalid/slo" if case == "other_destination" else None,
        issue_instant="2020-01-01T00:00:00Z" if case == "stale" else None,
    )
    if case == "tampered":
        path += "&" + urlencode({"RelayState": "dodane"})
    response = client.get(path)
    assert response.status_code == 400
    body = response.content.decode()
    assert "<h1" in body and "Nie wylogowano" in body and "wybierz „Wyloguj”" in body
    assert logged_in_citizen(client) == citizen
    assert refused("idp") == [reason]
    assert logout_entries(outcome=None) == []


def test_a_replayed_idp_request_is_refused(db, slo_idp):
    client = Client()
    saml_login(client, slo_idp)
    _, path = slo_idp.logout_request("pz-0001")
    assert client.get(path).status_code == 302
    assert logged_in_citizen(client) is None
    # Logged in again, the same request (e.g. from the browser history) does nothing.
    citizen = saml_login(client, slo_idp)
    assert client.get(path).status_code == 400
    assert logged_in_citizen(client) == citizen
    assert refused("idp") == ["replayed"]


def test_an_idp_request_for_someone_else_gets_an_error_and_the_session_stays(db, slo_idp):
    client = Client()
    citizen = saml_login(client, slo_idp)
    request_id, path = slo_idp.logout_request("pz-9999")
    response = client.get(path)
    assert response.status_code == 302
    answer, _ = slo_idp.read_logout_response(response["Location"])
    assert answer.in_response_to == request_id
    assert answer.status.status_code.value == saml.STATUS_REQUESTER
    assert answer.status.status_code.status_code.value == saml.STATUS_UNKNOWN_PRINCIPAL
    assert logged_in_citizen(client) == citizen
    assert refused("idp") == ["name_id_mismatch"]
    # Another session of the node (another SessionIndex) does not end this one either.
    _, path = slo_idp.logout_request("pz-0001", session_index="another-session")
    answer, _ = slo_idp.read_logout_response(client.get(path)["Location"])
    assert answer.status.status_code.value == saml.STATUS_REQUESTER
    assert logged_in_citizen(client) == citizen
    assert refused("idp")[-1] == "session_index_mismatch"


def test_an_idp_request_does_not_end_an_email_link_session(db, slo_idp, smtp_server):
    client = Client()
    citizen = login_by_email(client, "ewa@example.pl", smtp_server)
    _, path = slo_idp.logout_request("pz-0001")
    answer, _ = slo_idp.read_logout_response(client.get(path)["Location"])
    assert answer.status.status_code.value == saml.STATUS_REQUESTER
    assert logged_in_citizen(client) == citizen


def test_an_idp_request_without_a_session_here_is_answered_success(db, slo_idp):
    request_id, path = slo_idp.logout_request("pz-0001")
    response = Client().get(path)
    assert response.status_code == 302
    answer, _ = slo_idp.read_logout_response(response["Location"])
    assert answer.status.status_code.value == SUCCESS and answer.in_response_to == request_id
    assert logout_entries() == []


def test_the_slo_endpoint_refuses_other_requests(db, slo_idp, settings):
    client = Client()
    response = client.get(reverse("portal:saml_slo"))
    assert response.status_code == 400 and "Nie wylogowano" in response.content.decode()
    assert client.post(reverse("portal:saml_slo")).status_code == 405
    settings.GARNIZON_SAML_IDP_METADATA = ""
    assert client.get(reverse("portal:saml_slo")).status_code == 404


def test_an_issue_instant_in_the_future_is_refused(db, slo_idp):
    client = Client()
    citizen = saml_login(client, slo_idp)
    future = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    _, path = slo_idp.logout_request("pz-0001", issue_instant=future)
    assert client.get(path).status_code == 400
    assert logged_in_citizen(client) == citizen
    assert refused("idp") == ["stale"]
