"""The portal as a SAML 2.0 service provider of the national login node (pysaml2 + xmlsec1).

Configured from Django settings, else the environment (settings win, as in tests):

- `GARNIZON_SAML_SP_KEY`, `GARNIZON_SAML_SP_CERT`: PEM files of the key that signs
  AuthnRequests (and, unless the next pair is set, decrypts assertions);
- `GARNIZON_SAML_ENC_KEY`, `GARNIZON_SAML_ENC_CERT`: an optional separate encryption pair;
- `GARNIZON_SAML_IDP_METADATA`: the identity provider's metadata, a file or an https URL;
- `GARNIZON_SAML_IDP_ENTITY_ID`: which IdP of the metadata to use (default: the only one);
- `GARNIZON_SAML_SP_ENTITY_ID`: the portal's entity id (default: its metadata URL).

With no key, certificate or metadata configured, `is_configured()` is False and the
login page offers only the e-mail link. Nothing here reads the request: the views pass
the URLs and the stored request ids in and get plain data back.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_PERSISTENT
from saml2.sigver import get_xmlsec_binary
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

# pysaml2 logs the NameID and the attributes (personal data) at INFO: keep them out of the
# logs unless GARNIZON_SAML_DEBUG=1 asks for them while setting up the connection.
if os.environ.get("GARNIZON_SAML_DEBUG") != "1":
    logging.getLogger("saml2").setLevel(logging.WARNING)

ACS_PATH = "/portal/konto/saml/acs/"
METADATA_PATH = "/portal/konto/saml/metadata/"
# Clock difference tolerated between the node and us (seconds).
CLOCK_SKEW = 60

# Attribute names seen from identity providers: friendly LDAP names (pysaml2 maps the
# urn:oid: forms to these) and the eIDAS natural-person names the national node uses.
GIVEN_NAME = ("givenName", "FirstName", "CurrentGivenName", "urn:oid:2.5.4.42")
FAMILY_NAME = ("sn", "surname", "LastName", "CurrentFamilyName", "urn:oid:2.5.4.4")
EMAIL = ("mail", "email", "Email", "urn:oid:0.9.2342.19200300.100.1.3")
# Signature and digest algorithms refused in a response (SHA-1 is broken for signatures).
WEAK_ALGORITHMS = (
    b"http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    b"http://www.w3.org/2000/09/xmldsig#dsa-sha1",
    b"http://www.w3.org/2000/09/xmldsig#sha1",
)


class SamlError(Exception):
    """The response was refused: `reason` is a short English code for the log and audit."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SamlIdentity:
    """Who the identity provider says logged in."""

    issuer: str
    subject: str
    in_response_to: str
    assertion_id: str
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def first(self, names: tuple[str, ...]) -> str:
        for name in names:
            for key, values in self.attributes.items():
                if (key == name or key.rsplit("/", 1)[-1] == name) and values:
                    return str(values[0]).strip()
        return ""


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
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "service": {
            "sp": {
                "name": "e-Usługi Policji garnizonu lubelskiego",
                "endpoints": {"assertion_consumer_service": [(acs_url(), BINDING_HTTP_POST)]},
                "authn_requests_signed": True,
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
    request_id, info = client.prepare_for_authenticate(
        entityid=idp_entity_id(client),
        relay_state=relay_state,
        binding=BINDING_HTTP_REDIRECT,
        sign=True,
        sigalg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256,
        response_binding=BINDING_HTTP_POST,
        nameid_format=NAMEID_FORMAT_PERSISTENT,
    )
    location = dict(info["headers"])["Location"]
    return request_id, location


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
    return SamlIdentity(
        issuer=issuer,
        subject=name_id.text.strip(),
        in_response_to=response.in_response_to,
        assertion_id=getattr(assertion, "id", "") or "",
        attributes=attributes,
    )


def sp_metadata_xml() -> str:
    """The SP's metadata (entity id, ACS, signing and encryption certificates) to register."""
    return str(entity_descriptor(sp_config()))
