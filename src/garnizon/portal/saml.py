"""The portal as a SAML 2.0 service provider of the national login node (pysaml2 + xmlsec1).

Configured from Django settings, else the environment (settings win, as in tests):

- `GARNIZON_SAML_SP_KEY`, `GARNIZON_SAML_SP_CERT`: PEM files of the key that signs
  AuthnRequests (and, unless the next pair is set, decrypts assertions);
- `GARNIZON_SAML_ENC_KEY`, `GARNIZON_SAML_ENC_CERT`: an optional separate encryption pair;
- `GARNIZON_SAML_IDP_METADATA`: the identity provider's metadata, a file or an https URL;
- `GARNIZON_SAML_IDP_ENTITY_ID`: which IdP of the metadata to use (default: the only one);
- `GARNIZON_SAML_SP_ENTITY_ID`: the portal's entity id (default: its metadata URL);
- `GARNIZON_SAML_RESPONSE_BINDING`: `post` (default) or `artifact`, how the AuthnRequest
  asks the IdP to send its response;
- `GARNIZON_SAML_ARTIFACT_TIMEOUT`: seconds for the artifact resolution call (default 10);
- `GARNIZON_SAML_ARTIFACT_ALLOW_HTTP`: `1` allows plain HTTP to the IdP's
  ArtifactResolutionService (otherwise HTTPS only, except for a loopback address).

With no key, certificate or metadata configured, `is_configured()` is False and the
login page offers only the e-mail link. Nothing here reads the request: the views pass
the URLs, the query string and the stored request ids in and get plain data back.

Single logout (SLO) uses the HTTP-Redirect binding in both directions. A redirect
message carries its signature in the query string (SigAlg, Signature), not in the XML,
and pysaml2 does not check it for responses, so `_verified_redirect` checks it here,
over the parameters exactly as received (SAML bindings 3.4.4.1), with the IdP's signing
certificates from its metadata.

HTTP-Artifact binding: the browser brings a `SAMLart`; `resolve_artifact` checks that its
SourceID is the configured IdP's, sends a signed ArtifactResolve over SOAP to the IdP's
ArtifactResolutionService (back channel, HTTPS, timeout, size limit) and takes the
Response out of the ArtifactResponse with lxml, which keeps its prefixes and namespace
declarations, so its signatures still verify; `parse_response` then checks it as a
POSTed one.

Keys: the SP key may be RSA or EC P-256; with an EC key the SP signs with ecdsa-sha256
(XML signatures through xmlsec1, redirect signatures here, as pysaml2 signs redirect
messages with RSA only). IdP signatures may be RSA or ECDSA (SHA-256 or stronger).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import hashlib
import ipaddress
import logging
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote_plus, urlparse

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.conf import settings
from lxml import etree
from saml2 import (
    BINDING_HTTP_ARTIFACT,
    BINDING_HTTP_POST,
    BINDING_HTTP_REDIRECT,
    BINDING_SOAP,
    class_name,
    samlp,
)
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.s_utils import sid
from saml2.saml import NAMEID_FORMAT_ENTITY, NAMEID_FORMAT_PERSISTENT, Issuer, NameID
from saml2.sigver import get_xmlsec_binary, pem_format, pre_signature_part
from saml2.time_util import in_a_while, instant
from saml2.xmldsig import (
    DIGEST_SHA256,
    SIG_ECDSA_SHA256,
    SIG_ECDSA_SHA384,
    SIG_ECDSA_SHA512,
    SIG_RSA_SHA256,
    SIG_RSA_SHA384,
    SIG_RSA_SHA512,
)

# pysaml2 logs the NameID and the attributes (personal data) at INFO: keep them out of the
# logs unless GARNIZON_SAML_DEBUG=1 asks for them while setting up the connection.
if os.environ.get("GARNIZON_SAML_DEBUG") != "1":
    logging.getLogger("saml2").setLevel(logging.WARNING)

ACS_PATH = "/portal/konto/saml/acs/"
METADATA_PATH = "/portal/konto/saml/metadata/"
SLO_PATH = "/portal/konto/saml/slo/"
# Clock difference tolerated between the node and us (seconds).
CLOCK_SKEW = 60
# How old a logout message may be (its IssueInstant), besides the clock skew: the browser
# carries it straight from the node, so minutes are plenty; older ones are replays.
LOGOUT_MESSAGE_MAX_AGE = 300
# Our LogoutRequest expires (NotOnOrAfter) this long after it is made.
LOGOUT_REQUEST_MINUTES = 5
# Redirect-binding signatures we accept (hash function for each); SHA-1 is refused.
REDIRECT_SIGNATURE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    SIG_RSA_SHA256: hashes.SHA256,
    SIG_RSA_SHA384: hashes.SHA384,
    SIG_RSA_SHA512: hashes.SHA512,
    SIG_ECDSA_SHA256: hashes.SHA256,
    SIG_ECDSA_SHA384: hashes.SHA384,
    SIG_ECDSA_SHA512: hashes.SHA512,
}
ECDSA_ALGORITHMS = (SIG_ECDSA_SHA256, SIG_ECDSA_SHA384, SIG_ECDSA_SHA512)
# A redirect message larger than this (query string, inflated XML) is refused unread.
MAX_QUERY_BYTES = 64 * 1024
MAX_INFLATED_BYTES = 256 * 1024
# Status codes of a LogoutResponse (SAML core 3.2.2.2).
# HTTP-Artifact binding (SAML bindings 3.6.4): type code 0x0004, a 2-byte endpoint index,
# the SHA-1 of the issuer's entity id (SourceID) and a 20-byte message handle.
ARTIFACT_TYPE_CODE = b"\x00\x04"
ARTIFACT_LENGTH = 44
ARTIFACT_TIMEOUT = 10
# An ArtifactResponse larger than this is refused (read no further).
MAX_ARTIFACT_RESPONSE_BYTES = 1024 * 1024
SOAP_ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"
SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_UNKNOWN_PRINCIPAL = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal"

# Attribute names seen from identity providers: friendly LDAP names (pysaml2 maps the
# urn:oid: forms to these) and the eIDAS natural-person names the national node uses.
GIVEN_NAME = ("givenName", "FirstName", "CurrentGivenName", "urn:oid:2.5.4.42")
FAMILY_NAME = ("sn", "surname", "LastName", "CurrentFamilyName", "urn:oid:2.5.4.4")
EMAIL = ("mail", "email", "Email", "urn:oid:0.9.2342.19200300.100.1.3")
# Signature and digest algorithms refused in a response (SHA-1 is broken for signatures).
WEAK_ALGORITHMS = (
    b"http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    b"http://www.w3.org/2000/09/xmldsig#dsa-sha1",
    b"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
    b"http://www.w3.org/2000/09/xmldsig#sha1",
)


class SamlError(Exception):
    """The response was refused: `reason` is a short English code for the log and audit."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SamlSession:
    """What single logout needs of a login: kept in the citizen's session.

    The NameID exactly as the assertion gave it (a LogoutRequest must repeat its
    format and qualifiers) and the SessionIndex of the node's session.
    """

    issuer: str
    name_id: str
    name_id_format: str = ""
    name_qualifier: str = ""
    sp_name_qualifier: str = ""
    session_index: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "issuer": self.issuer,
            "name_id": self.name_id,
            "name_id_format": self.name_id_format,
            "name_qualifier": self.name_qualifier,
            "sp_name_qualifier": self.sp_name_qualifier,
            "session_index": self.session_index,
        }

    @classmethod
    def from_dict(cls, data: Any) -> SamlSession | None:
        """The stored form back, or None when it is missing or not what we stored."""
        if not isinstance(data, dict):
            return None
        names = ("issuer", "name_id", "name_id_format", "name_qualifier")
        values = {name: data.get(name, "") for name in (*names, "sp_name_qualifier")}
        values["session_index"] = data.get("session_index", "")
        if not all(isinstance(v, str) for v in values.values()):
            return None
        if not values["issuer"] or not values["name_id"]:
            return None
        return cls(**values)


@dataclass(frozen=True)
class SamlIdentity:
    """Who the identity provider says logged in."""

    issuer: str
    subject: str
    in_response_to: str
    assertion_id: str
    attributes: dict[str, list[str]] = field(default_factory=dict)
    name_id_format: str = ""
    name_qualifier: str = ""
    sp_name_qualifier: str = ""
    session_index: str = ""

    def first(self, names: tuple[str, ...]) -> str:
        for name in names:
            for key, values in self.attributes.items():
                if (key == name or key.rsplit("/", 1)[-1] == name) and values:
                    return str(values[0]).strip()
        return ""

    def logout_session(self) -> SamlSession:
        """What to keep in the session for a later single logout."""
        return SamlSession(
            issuer=self.issuer,
            name_id=self.subject,
            name_id_format=self.name_id_format,
            name_qualifier=self.name_qualifier,
            sp_name_qualifier=self.sp_name_qualifier,
            session_index=self.session_index,
        )


@dataclass(frozen=True)
class LogoutRequestIn:
    """A LogoutRequest from the IdP whose signature, issuer and destination were checked."""

    request_id: str
    issuer: str
    name_id: str
    session_indexes: tuple[str, ...]
    relay_state: str = ""


def _setting(name: str, default: str = "") -> str:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return str(value or "")


def portal_base_url() -> str:
    return str(getattr(settings, "GARNIZON_PORTAL_URL", "http://127.0.0.1:8000")).rstrip("/")


def is_configured() -> bool:
    """True when the SP has its key, its certificate and the IdP's metadata."""
    return all(
        _setting(name)
        for name in ("GARNIZON_SAML_SP_KEY", "GARNIZON_SAML_SP_CERT", "GARNIZON_SAML_IDP_METADATA")
    )


def sp_entity_id() -> str:
    return _setting("GARNIZON_SAML_SP_ENTITY_ID") or portal_base_url() + METADATA_PATH


def acs_url() -> str:
    return portal_base_url() + ACS_PATH


def slo_url() -> str:
    return portal_base_url() + SLO_PATH


def response_binding() -> str:
    """The binding the AuthnRequest asks for: HTTP-POST (default) or HTTP-Artifact."""
    wanted = _setting("GARNIZON_SAML_RESPONSE_BINDING", "post").strip().lower() or "post"
    if wanted == "post":
        return BINDING_HTTP_POST
    if wanted == "artifact":
        return BINDING_HTTP_ARTIFACT
    raise SamlError(f"configuration: GARNIZON_SAML_RESPONSE_BINDING={wanted!r}")


def _load_sp_key(path: str) -> Any:
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)


def sp_signature_algorithm() -> str:
    """ecdsa-sha256 for an EC P-256 key, else rsa-sha256 (also when the key cannot be read:
    pysaml2 then reports the broken configuration itself)."""
    path = _setting("GARNIZON_SAML_SP_KEY")
    try:
        key = _load_sp_key(path)
    except (OSError, ValueError, TypeError):
        return SIG_RSA_SHA256
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise SamlError(f"configuration: EC key on {key.curve.name}, P-256 expected")
        return SIG_ECDSA_SHA256
    return SIG_RSA_SHA256


def _config_dict() -> dict[str, Any]:
    key = _setting("GARNIZON_SAML_SP_KEY")
    cert = _setting("GARNIZON_SAML_SP_CERT")
    enc_key = _setting("GARNIZON_SAML_ENC_KEY") or key
    enc_cert = _setting("GARNIZON_SAML_ENC_CERT") or cert
    metadata = _setting("GARNIZON_SAML_IDP_METADATA")
    if metadata.startswith(("https://", "http://")):
        sources: dict[str, Any] = {"remote": [{"url": metadata}]}
    else:
        sources = {"local": [metadata]}
    return {
        "entityid": sp_entity_id(),
        "key_file": key,
        "cert_file": cert,
        "encryption_keypairs": [{"key_file": enc_key, "cert_file": enc_cert}],
        "xmlsec_binary": get_xmlsec_binary(["/usr/bin", "/usr/local/bin"]),
        "metadata": sources,
        "accepted_time_diff": CLOCK_SKEW,
        "signing_algorithm": sp_signature_algorithm(),
        "digest_algorithm": DIGEST_SHA256,
        "service": {
            "sp": {
                "name": "e-Usługi Policji garnizonu lubelskiego",
                "endpoints": {
                    "assertion_consumer_service": [
                        (acs_url(), BINDING_HTTP_POST),
                        (acs_url(), BINDING_HTTP_ARTIFACT),
                    ],
                    "single_logout_service": [(slo_url(), BINDING_HTTP_REDIRECT)],
                },
                "authn_requests_signed": True,
                "logout_requests_signed": True,
                "logout_responses_signed": True,
                # The response or each assertion must carry a valid signature.
                "want_response_signed": False,
                "want_assertions_signed": False,
                "want_assertions_or_response_signed": True,
                "allow_unsolicited": False,
                "name_id_format": NAMEID_FORMAT_PERSISTENT,
                "name_id_format_allow_create": True,
            }
        },
    }


_cache_lock = threading.Lock()
_cached: dict[tuple, SPConfig] = {}


def _cache_key(config: dict[str, Any]) -> tuple:
    files = [config["key_file"], config["cert_file"]]
    files += [p for pair in config["encryption_keypairs"] for p in pair.values()]
    files += config["metadata"].get("local", [])
    mtimes = tuple(Path(f).stat().st_mtime_ns if Path(f).exists() else 0 for f in files)
    return (repr(sorted(config.items(), key=lambda kv: kv[0])), mtimes)


def sp_config() -> SPConfig:
    """The pysaml2 SP configuration, parsed once per set of settings and files."""
    config = _config_dict()
    key = _cache_key(config)
    with _cache_lock:
        cached = _cached.get(key)
        if cached is None:
            cached = SPConfig()
            cached.load(config)
            _cached.clear()
            _cached[key] = cached
        return cached


def _client() -> Saml2Client:
    """The pysaml2 client; a broken configuration or unreachable metadata is a SamlError."""
    try:
        return Saml2Client(config=sp_config())
    except SamlError:
        raise
    except Exception as error:  # pysaml2 and urllib raise many unrelated types
        raise SamlError(f"configuration: {type(error).__name__}: {error}"[:300]) from error


def idp_entity_id(client: Saml2Client | None = None) -> str:
    wanted = _setting("GARNIZON_SAML_IDP_ENTITY_ID")
    if wanted:
        return wanted
    client = client or _client()
    idps = list(client.metadata.identity_providers())
    if len(idps) != 1:
        raise SamlError("idp_ambiguous" if idps else "idp_missing")
    return idps[0]


def authn_request_redirect(relay_state: str = "") -> tuple[str, str]:
    """A signed AuthnRequest for the HTTP-Redirect binding: (request id, URL to send to)."""
    client = _client()
    binding = response_binding()
    try:
        request_id, info = client.prepare_for_authenticate(
            entityid=idp_entity_id(client),
            relay_state=relay_state,
            binding=BINDING_HTTP_REDIRECT,
            sign=_pysaml2_signs(),
            sigalg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
            response_binding=binding,
            nameid_format=NAMEID_FORMAT_PERSISTENT,
        )
    except SamlError:
        raise
    except Exception as error:  # pysaml2 raises many unrelated types
        raise SamlError(f"{type(error).__name__}: {error}"[:300]) from error
    return request_id, _redirect_location(info, "SAMLRequest")


def parse_response(saml_response: str, outstanding: dict[str, str]) -> SamlIdentity:
    """Validate an HTTP-POST SAMLResponse against the requests this browser sent.

    pysaml2 checks the signature (of the response or of each assertion), decrypts
    encrypted assertions with our key, and checks the destination, the audience,
    InResponseTo against `outstanding`, the issue instant and NotOnOrAfter.
    Raises SamlError on any failure.
    """
    if not saml_response or len(saml_response) > 512 * 1024:
        raise SamlError("missing_or_too_large")
    try:
        xml = base64.b64decode(saml_response, validate=False)
    except (binascii.Error, ValueError) as error:
        raise SamlError("not_base64") from error
    if any(algorithm in xml for algorithm in WEAK_ALGORITHMS):
        raise SamlError("weak_algorithm")
    client = _client()
    try:
        response = client.parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding=outstanding
        )
    except Exception as error:  # pysaml2 raises many unrelated types
        raise SamlError(f"{type(error).__name__}: {error}"[:300]) from error
    if response is None:
        raise SamlError("invalid_response")
    if not response.in_response_to or response.in_response_to not in outstanding:
        raise SamlError("unsolicited")
    name_id = response.name_id
    if name_id is None or not (name_id.text or "").strip():
        raise SamlError("no_name_id")
    if name_id.format not in (None, NAMEID_FORMAT_PERSISTENT):
        raise SamlError(f"name_id_format:{name_id.format}")
    issuer = response.issuer() or ""
    assertion = response.assertion
    attributes: dict[str, list[str]] = {}
    for key, values in (response.ava or {}).items():
        attributes[str(key)] = [str(v) for v in values]
    statements = getattr(assertion, "authn_statement", None) or []
    session_index = next((s.session_index for s in statements if s.session_index), "")
    return SamlIdentity(
        issuer=issuer,
        subject=name_id.text.strip(),
        in_response_to=response.in_response_to,
        assertion_id=getattr(assertion, "id", "") or "",
        attributes=attributes,
        name_id_format=name_id.format or "",
        name_qualifier=name_id.name_qualifier or "",
        sp_name_qualifier=name_id.sp_name_qualifier or "",
        session_index=str(session_index or ""),
    )


# --- HTTP-Artifact binding ---------------------------------------------------------------


def _artifact_endpoint(client: Saml2Client, idp: str, saml_art: str) -> str:
    """The IdP's ArtifactResolutionService for this artifact; SamlError when it is not
    an artifact of the configured IdP or names no endpoint of its metadata."""
    if not saml_art or len(saml_art) > 200:
        raise SamlError("artifact_malformed")
    try:
        raw = base64.b64decode(saml_art, validate=True)
    except (binascii.Error, ValueError) as error:
        raise SamlError("artifact_malformed") from error
    if len(raw) != ARTIFACT_LENGTH or raw[:2] != ARTIFACT_TYPE_CODE:
        raise SamlError("artifact_malformed")
    if raw[4:24] != hashlib.sha1(idp.encode()).digest():
        raise SamlError("artifact_source")
    try:
        services = client.metadata.artifact_resolution_service(idp, BINDING_SOAP, "idpsso")
    except Exception:  # pysaml2: UnsupportedBinding, an unknown entity
        services = []
    # The index is a 2-byte big-endian integer; pysaml2's own IdP writes it as two ASCII
    # hex digits ("00"), which is accepted too.
    wanted = {str(int.from_bytes(raw[2:4], "big"))}
    with contextlib.suppress(UnicodeDecodeError, ValueError):
        wanted.add(str(int(raw[2:4].decode("ascii"), 16)))
    for service in services or []:
        if str(service.get("index", "")) in wanted and service.get("location"):
            return str(service["location"])
    raise SamlError("artifact_endpoint")


def _check_back_channel_url(url: str) -> None:
    """HTTPS, or plain HTTP to a loopback address or with GARNIZON_SAML_ARTIFACT_ALLOW_HTTP."""
    parsed = urlparse(url)
    if parsed.scheme == "https":
        return
    if parsed.scheme != "http":
        raise SamlError("artifact_endpoint_scheme")
    if _setting("GARNIZON_SAML_ARTIFACT_ALLOW_HTTP") == "1":
        return
    host = parsed.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SamlError("artifact_endpoint_not_https")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The back channel answers itself; a redirect elsewhere is an error."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post_soap(url: str, envelope: bytes) -> bytes:
    """POST a SOAP envelope; the answer's body (at most MAX_ARTIFACT_RESPONSE_BYTES)."""
    try:
        timeout = float(_setting("GARNIZON_SAML_ARTIFACT_TIMEOUT") or ARTIFACT_TIMEOUT)
    except ValueError:
        timeout = ARTIFACT_TIMEOUT
    handlers: list[Any] = [_NoRedirect()]
    host = urlparse(url).hostname or ""
    if host == "localhost" or host.startswith("127.") or host == "::1":
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(
        url,
        data=envelope,
        method="POST",
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": "http://www.oasis-open.org/committees/security",
            "Accept": "text/xml",
        },
    )
    # The timeout bounds each socket operation; the deadline bounds the whole answer,
    # so a node that trickles bytes cannot hold the request longer.
    deadline = time.monotonic() + timeout
    try:
        with opener.open(request, timeout=timeout) as answer:
            chunks: list[bytes] = []
            size = 0
            while size <= MAX_ARTIFACT_RESPONSE_BYTES:
                chunk = answer.read(min(65536, MAX_ARTIFACT_RESPONSE_BYTES + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if time.monotonic() > deadline:
                    raise TimeoutError("artifact resolution deadline")
            body = b"".join(chunks)
    except urllib.error.HTTPError as error:
        raise SamlError(f"artifact_http_{error.code}") from error
    except TimeoutError as error:
        raise SamlError("artifact_timeout") from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise SamlError("artifact_timeout") from error
        raise SamlError(f"artifact_unreachable: {reason}"[:300]) from error
    if len(body) > MAX_ARTIFACT_RESPONSE_BYTES:
        raise SamlError("artifact_too_large")
    return body


_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


def _artifact_response(body: bytes, client: Saml2Client, idp: str, resolve_id: str) -> bytes:
    """The Response inside the SOAP-enveloped ArtifactResponse, byte-for-byte serialised.

    Checked here: a SOAP envelope with one ArtifactResponse, its Issuer (the IdP),
    InResponseTo (our ArtifactResolve), Status Success, its signature when it has one;
    then exactly one samlp:Response inside.
    """
    try:
        tree = etree.fromstring(body, parser=_SAFE_PARSER)
    except etree.XMLSyntaxError as error:
        raise SamlError("artifact_not_xml") from error
    if tree.getroottree().docinfo.doctype:
        raise SamlError("artifact_doctype")
    if tree.tag != f"{{{SOAP_ENVELOPE}}}Envelope":
        raise SamlError("artifact_not_soap")
    found = tree.findall(f"{{{SOAP_ENVELOPE}}}Body/{{{SAMLP_NS}}}ArtifactResponse")
    if len(found) != 1:
        raise SamlError("artifact_no_artifact_response")
    element = found[0]
    xml = etree.tostring(element)
    message = _parse_xml(samlp.artifact_response_from_string, xml)
    _check_artifact_response_signature(element, xml, client, idp)
    issuer = (message.issuer.text or "").strip() if message.issuer is not None else ""
    if issuer != idp:
        raise SamlError("artifact_issuer")
    if message.in_response_to != resolve_id:
        raise SamlError("artifact_in_response_to")
    status = _status_codes(message)
    if not status or status[0] != STATUS_SUCCESS:
        raise SamlError("artifact_status:" + ",".join(status))
    responses = element.findall(f"{{{SAMLP_NS}}}Response")
    if len(responses) != 1:
        # An unknown or used artifact gets Success with nothing inside (bindings 3.6.6).
        raise SamlError("artifact_unknown")
    return etree.tostring(responses[0])


DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
# What the SAML signature profile (core 5.4) allows in an enveloped signature.
SIGNATURE_TRANSFORMS = {
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
}


def _check_artifact_response_signature(
    element: Any, xml: bytes, client: Saml2Client, idp: str
) -> None:
    """Check the ArtifactResponse's own signature, when it has one, with the IdP's
    certificates (xmlsec1 over the bytes received).

    pysaml2's check validates a re-serialised copy against the schema, which loses the
    namespace declarations of the Response inside, so the SAML signature profile is
    checked here: one enveloped signature, a direct child and the first signature in
    document order, one Reference to this element's unique ID, allowed transforms only.
    An unsigned ArtifactResponse is accepted (TLS authenticates the back channel); the
    Response inside must be signed either way.
    """
    signatures = element.findall(f"{{{DSIG_NS}}}Signature")
    if not signatures:
        return
    first = next(element.iter(f"{{{DSIG_NS}}}Signature"))
    if len(signatures) != 1 or first is not signatures[0]:
        raise SamlError("artifact_response_signature: placement")
    ident = element.get("ID") or ""
    if not ident or len(element.getroottree().xpath("//*[@ID=$i]", i=ident)) != 1:
        raise SamlError("artifact_response_signature: id")
    references = first.findall(f"{{{DSIG_NS}}}SignedInfo/{{{DSIG_NS}}}Reference")
    if len(references) != 1 or references[0].get("URI") != f"#{ident}":
        raise SamlError("artifact_response_signature: reference")
    transforms = {t.get("Algorithm") for t in references[0].iter(f"{{{DSIG_NS}}}Transform")}
    if not transforms <= SIGNATURE_TRANSFORMS:
        raise SamlError("artifact_response_signature: transform")
    if any(algorithm in xml for algorithm in WEAK_ALGORITHMS):
        raise SamlError("weak_algorithm")
    certificates = [cert for _, cert in client.metadata.certs(idp, "idpsso", "signing")]
    if not certificates:
        raise SamlError("no_idp_certificate")
    node = f"{SAMLP_NS}:ArtifactResponse"
    for certificate in certificates:
        with tempfile.NamedTemporaryFile(suffix=".pem") as cert_file:
            cert_file.write(pem_format(certificate))
            cert_file.flush()
            try:
                if client.sec.verify_signature(
                    xml.decode(), cert_file=cert_file.name, node_name=node, node_id=ident
                ):
                    return
            except Exception:  # pysaml2: SignatureError, XmlsecError
                continue
    raise SamlError("artifact_response_signature: bad_signature")


def resolve_artifact(saml_art: str) -> str:
    """Resolve a `SAMLart` at the IdP: the base64 Response it stands for, or SamlError.

    The artifact must come from the configured IdP (SourceID); the ArtifactResolve is
    signed with the SP key and sent over SOAP to the ArtifactResolutionService that the
    artifact's endpoint index names in the IdP's metadata.
    """
    client = _client()
    idp = idp_entity_id(client)
    location = _artifact_endpoint(client, idp, saml_art)
    _check_back_channel_url(location)
    algorithm = sp_signature_algorithm()
    try:
        # Signed here rather than by pysaml2's `sign=True`, which allows RSA only.
        resolve_id, message = client.create_artifact_resolve(saml_art, location, sid(), sign=False)
        message.signature = pre_signature_part(
            message.id, client.sec.my_cert, 1, sign_alg=algorithm, digest_alg=DIGEST_SHA256
        )
        signed_xml = client.sec.sign_statement(
            str(message), class_name(message), node_id=message.id
        )
    except Exception as error:  # pysaml2 and xmlsec1 raise many unrelated types
        raise SamlError(f"artifact_resolve: {type(error).__name__}: {error}"[:300]) from error
    if signed_xml.startswith("<?xml"):
        signed_xml = signed_xml.split("?>", 1)[1].lstrip()
    envelope = (
        f'<soap11:Envelope xmlns:soap11="{SOAP_ENVELOPE}"><soap11:Body>'
        f"{signed_xml}</soap11:Body></soap11:Envelope>"
    ).encode()
    body = _post_soap(location, envelope)
    response = _artifact_response(body, client, idp, str(resolve_id))
    return base64.b64encode(response).decode("ascii")


def artifact_fingerprint(saml_art: str) -> str:
    """A short digest of the artifact, to remember it as used (never stored in clear)."""
    return hashlib.sha256(saml_art.encode()).hexdigest()[:40]


def sp_metadata_xml() -> str:
    """The SP's metadata (entity id, ACS, SLO, signing and encryption certificates)."""
    return str(entity_descriptor(sp_config()))


# --- single logout (HTTP-Redirect binding) ---------------------------------------------------


def _idp_slo_endpoint(client: Saml2Client, idp: str) -> tuple[str, str] | None:
    """(Location, ResponseLocation) of the IdP's HTTP-Redirect SingleLogoutService, or None."""
    try:
        services = client.metadata.single_logout_service(idp, BINDING_HTTP_REDIRECT, "idpsso")
    except Exception:  # pysaml2: UnsupportedBinding, an unknown entity
        return None
    for service in services or []:
        location = service.get("location")
        if location:
            return location, service.get("response_location") or location
    return None


def logout_request_redirect(session: SamlSession) -> tuple[str, str] | None:
    """A signed LogoutRequest for the session's login: (request id, URL to send to).

    None when the IdP's metadata has no HTTP-Redirect SingleLogoutService (local
    logout only). The request repeats the assertion's NameID (format, qualifiers) and
    SessionIndex and expires after `LOGOUT_REQUEST_MINUTES`.
    """
    try:
        client = _client()
        idp = idp_entity_id(client)
        if session.issuer != idp:
            raise SamlError("session_of_another_idp")
        endpoint = _idp_slo_endpoint(client, idp)
        if endpoint is None:
            return None
        name_id = NameID(
            text=session.name_id,
            format=session.name_id_format or None,
            name_qualifier=session.name_qualifier or None,
            sp_name_qualifier=session.sp_name_qualifier or None,
        )
        request_id, message = client.create_logout_request(
            destination=endpoint[0],
            issuer_entity_id=idp,
            name_id=name_id,
            session_indexes=[session.session_index] if session.session_index else None,
            expire=in_a_while(minutes=LOGOUT_REQUEST_MINUTES),
            sign=False,
        )
        info = client.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(message),
            endpoint[0],
            sign=_pysaml2_signs(),
            sigalg=SIG_RSA_SHA256,
        )
        location = _redirect_location(info, "SAMLRequest")
    except SamlError:
        raise
    except Exception as error:  # pysaml2 raises many unrelated types
        raise SamlError(f"{type(error).__name__}: {error}"[:300]) from error
    return str(request_id), location


def parse_logout_response(query_string: str, expected_request_id: str) -> None:
    """Accept the IdP's LogoutResponse to our request `expected_request_id`, or SamlError.

    Checked: the redirect signature (IdP's certificate), Issuer (the configured IdP),
    Destination (our SLO URL), IssueInstant, InResponseTo and the Success status.
    """
    try:
        client = _client()
        idp = idp_entity_id(client)
        xml, _ = _verified_redirect(query_string, "SAMLResponse", client, idp)
        message = _parse_xml(samlp.logout_response_from_string, xml)
        _check_logout_message(message, idp)
        if not expected_request_id:
            raise SamlError("unsolicited")
        if message.in_response_to != expected_request_id:
            raise SamlError("in_response_to")
        status = _status_codes(message)
        if not status or status[0] != STATUS_SUCCESS:
            raise SamlError("status:" + ",".join(status))
    except SamlError:
        raise
    except Exception as error:  # pysaml2 raises many unrelated types
        raise SamlError(f"{type(error).__name__}: {error}"[:300]) from error


def parse_logout_request(query_string: str) -> LogoutRequestIn:
    """The IdP's LogoutRequest, or SamlError when any check fails.

    Checked: the redirect signature (IdP's certificate), Issuer (the configured IdP),
    Destination (our SLO URL), IssueInstant, NotOnOrAfter and a plain NameID (an
    EncryptedID is refused). Whether the NameID is this session's citizen, and replays,
    are for the caller (identity).
    """
    try:
        client = _client()
        idp = idp_entity_id(client)
        xml, relay_state = _verified_redirect(query_string, "SAMLRequest", client, idp)
        message = _parse_xml(samlp.logout_request_from_string, xml)
        _check_logout_message(message, idp)
        if not message.id:
            raise SamlError("no_id")
        if message.not_on_or_after and _instant(message.not_on_or_after) < _now() - _skew():
            raise SamlError("expired")
        if message.name_id is None:
            raise SamlError("encrypted_id" if message.encrypted_id is not None else "no_name_id")
        name_id = (message.name_id.text or "").strip()
        if not name_id:
            raise SamlError("no_name_id")
        indexes = tuple(
            (index.text or "").strip() for index in message.session_index or [] if index.text
        )
    except SamlError:
        raise
    except Exception as error:  # pysaml2 raises many unrelated types
        raise SamlError(f"{type(error).__name__}: {error}"[:300]) from error
    return LogoutRequestIn(
        request_id=str(message.id),
        issuer=idp,
        name_id=name_id,
        session_indexes=indexes,
        relay_state=relay_state,
    )


def logout_response_redirect(
    request: LogoutRequestIn, *, status: str = STATUS_SUCCESS, sub_status: str = ""
) -> str:
    """The URL that takes a signed LogoutResponse to the IdP (its ResponseLocation)."""
    try:
        client = _client()
        idp = idp_entity_id(client)
        endpoint = _idp_slo_endpoint(client, idp)
        if endpoint is None:
            raise SamlError("idp_without_slo")
        destination = endpoint[1]
        inner = samlp.StatusCode(value=sub_status) if sub_status else None
        response = samlp.LogoutResponse(
            id=sid(),
            version="2.0",
            issue_instant=instant(),
            destination=destination,
            in_response_to=request.request_id,
            issuer=Issuer(text=client.config.entityid, format=NAMEID_FORMAT_ENTITY),
            status=samlp.Status(status_code=samlp.StatusCode(value=status, status_code=inner)),
        )
        info = client.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(response),
            destination,
            relay_state=request.relay_state,
            response=True,
            sign=_pysaml2_signs(),
            sigalg=SIG_RSA_SHA256,
        )
        location = _redirect_location(info, "SAMLResponse")
    except SamlError:
        raise
    except Exception as error:  # pysaml2 raises many unrelated types
        raise SamlError(f"{type(error).__name__}: {error}"[:300]) from error
    return location


def _verified_redirect(
    query_string: str, kind: str, client: Saml2Client, idp: str
) -> tuple[bytes, str]:
    """Check a redirect message's signature; return its inflated XML and its RelayState.

    The signed octets are `kind=...&RelayState=...&SigAlg=...` with each value exactly
    as it came in the URL (not decoded and encoded again), as SAML bindings 3.4.4.1 asks.
    """
    if len(query_string) > MAX_QUERY_BYTES:
        raise SamlError("too_large")
    raw: dict[str, str] = {}
    for part in query_string.split("&"):
        name, _, value = part.partition("=")
        name = unquote_plus(name)
        if name in (kind, "RelayState", "SigAlg", "Signature"):
            if name in raw:
                raise SamlError(f"duplicate:{name}")
            raw[name] = value
    if not raw.get(kind):
        raise SamlError("missing_message")
    if not raw.get("Signature") or not raw.get("SigAlg"):
        raise SamlError("unsigned")
    algorithm = unquote_plus(raw["SigAlg"])
    hash_type = REDIRECT_SIGNATURE_HASHES.get(algorithm)
    if hash_type is None:
        raise SamlError("weak_algorithm" if algorithm.endswith("sha1") else "unknown_algorithm")
    try:
        signature = base64.b64decode(unquote_plus(raw["Signature"]), validate=True)
        signed = "&".join(
            f"{name}={raw[name]}" for name in (kind, "RelayState", "SigAlg") if name in raw
        ).encode("ascii")
    except (binascii.Error, ValueError) as error:  # UnicodeEncodeError is a ValueError
        raise SamlError("malformed_signature") from error
    certificates = [cert for _, cert in client.metadata.certs(idp, "idpsso", "signing")]
    if not certificates:
        raise SamlError("no_idp_certificate")
    if not any(_verifies(cert, signature, signed, algorithm) for cert in certificates):
        raise SamlError("bad_signature")
    try:
        deflated = base64.b64decode(unquote_plus(raw[kind]), validate=True)
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        xml = inflater.decompress(deflated, MAX_INFLATED_BYTES)
    except (binascii.Error, ValueError, zlib.error) as error:
        raise SamlError("not_deflated") from error
    if inflater.unconsumed_tail:
        raise SamlError("too_large")
    return xml, unquote_plus(raw.get("RelayState", ""))


def _verifies(certificate: str, signature: bytes, signed: bytes, algorithm: str) -> bool:
    """Whether `signature` over `signed` verifies with the certificate's RSA or EC key.

    An ECDSA signature is accepted DER-encoded (what Java and OpenSSL produce for the
    redirect binding) or as r||s (the XML-DSig form, RFC 4050).
    """
    hash_type = REDIRECT_SIGNATURE_HASHES.get(algorithm)
    if hash_type is None:
        return False
    try:
        key = x509.load_pem_x509_certificate(pem_format(certificate)).public_key()
    except ValueError:
        return False
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm not in ECDSA_ALGORITHMS:
            key.verify(signature, signed, padding.PKCS1v15(), hash_type())
            return True
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm in ECDSA_ALGORITHMS:
            size = (key.curve.key_size + 7) // 8
            forms = [signature]
            if len(signature) == 2 * size:
                r = int.from_bytes(signature[:size], "big")
                s = int.from_bytes(signature[size:], "big")
                forms.append(encode_dss_signature(r, s))
            for form in forms:
                try:
                    key.verify(form, signed, ec.ECDSA(hash_type()))
                    return True
                except (InvalidSignature, ValueError):
                    continue
    except InvalidSignature:
        return False
    return False


def _pysaml2_signs() -> bool:
    """pysaml2 signs redirect messages with RSA only; with an EC key we sign them here."""
    return sp_signature_algorithm() not in ECDSA_ALGORITHMS


def _redirect_location(info: dict[str, Any], kind: str) -> str:
    """The URL of a redirect message pysaml2 prepared, signed here if the SP key is EC."""
    location = dict(info["headers"])["Location"]
    algorithm = sp_signature_algorithm()
    if algorithm in ECDSA_ALGORITHMS:
        location = _sign_redirect(location, kind, algorithm)
    return location


def _sign_redirect(location: str, kind: str, algorithm: str) -> str:
    """Add SigAlg and Signature to an unsigned redirect URL, signing with the SP key.

    The signed octets are `kind=...&RelayState=...&SigAlg=...` as they stand in the URL
    (SAML bindings 3.4.4.1); an ECDSA signature is DER-encoded, as Java and OpenSSL make it.
    """
    base, _, query = location.partition("?")
    raw: dict[str, str] = {}
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name in (kind, "RelayState") and value:
            raw[name] = value
    raw["SigAlg"] = quote_plus(algorithm)
    signed = "&".join(
        f"{name}={raw[name]}" for name in (kind, "RelayState", "SigAlg") if name in raw
    ).encode("ascii")
    key = _load_sp_key(_setting("GARNIZON_SAML_SP_KEY"))
    hash_type = REDIRECT_SIGNATURE_HASHES[algorithm]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(signed, ec.ECDSA(hash_type()))
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(signed, padding.PKCS1v15(), hash_type())
    else:
        raise SamlError("configuration: unsupported SP key type")
    encoded = quote_plus(base64.b64encode(signature).decode("ascii"))
    return f"{base}?{signed.decode('ascii')}&Signature={encoded}"


def _parse_xml(parser: Any, xml: bytes) -> Any:
    try:
        message = parser(xml)
    except Exception as error:  # defusedxml and ElementTree raise several types
        raise SamlError(f"not_xml: {type(error).__name__}") from error
    if message is None:
        raise SamlError("wrong_message_type")
    return message


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _skew() -> datetime.timedelta:
    return datetime.timedelta(seconds=CLOCK_SKEW)


def _instant(value: str) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(value.strip())
    except ValueError as error:
        raise SamlError("bad_instant") from error
    if moment.tzinfo is None:
        raise SamlError("bad_instant")
    return moment


def _check_logout_message(message: Any, idp: str) -> None:
    """What a LogoutRequest and a LogoutResponse from the IdP must both satisfy."""
    if message.version != "2.0":
        raise SamlError("version")
    issuer = (message.issuer.text or "").strip() if message.issuer is not None else ""
    if issuer != idp:
        raise SamlError("issuer")
    # A signed redirect message must name where it was sent (SAML bindings 3.4.5.2).
    if (message.destination or "") != slo_url():
        raise SamlError("destination")
    if not message.issue_instant:
        raise SamlError("bad_instant")
    issued = _instant(message.issue_instant)
    now = _now()
    max_age = datetime.timedelta(seconds=LOGOUT_MESSAGE_MAX_AGE)
    if issued > now + _skew() or issued < now - max_age - _skew():
        raise SamlError("stale")


def _status_codes(message: Any) -> list[str]:
    """The status code and its nested codes, outermost first."""
    codes: list[str] = []
    code = message.status.status_code if message.status is not None else None
    while code is not None and len(codes) < 4:
        codes.append(str(code.value or ""))
        code = code.status_code
    return codes
