"""Citizen identity: SAML login, the one-time e-mail link, the session, per-e-mail limits.

Nothing here reads the request: views pass in the session, the client address and
the URLs they need. A citizen is never a staff account: their id lives in the
session under `portal:citizen`, beside the drafts of their forms.

The e-mail link is single use without storing it: its signature covers the
address and the state of that address's citizen (none yet, or the time of their
last login). Using a link logs in, which changes that state, so every link sent
before stops working; links also expire after `email_link_minutes()`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import smtplib
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from garnizon.audit.models import AuditAction
from garnizon.audit.services import audit_record
from garnizon.common.errors import DomainError
from garnizon.common.ratelimit import RateCheck, first_use, rate_limit_hit
from garnizon.portal import conf
from garnizon.portal.models import Citizen, Submission, SubmissionAddition
from garnizon.portal.saml import (
    EMAIL,
    FAMILY_NAME,
    GIVEN_NAME,
    LogoutRequestIn,
    SamlIdentity,
    SamlSession,
)

log = logging.getLogger(__name__)

SESSION_KEY = "portal:citizen"
SAML_OUTSTANDING_KEY = "portal:saml:outstanding"
#: The login's NameID and SessionIndex, for single logout (`saml.SamlSession`).
SAML_SESSION_KEY = "portal:saml:session"
#: Our LogoutRequest awaiting the IdP's answer: {"id": request id, "citizen": pk}.
SAML_LOGOUT_KEY = "portal:saml:logout"
NEXT_KEY = "portal:login:next"
#: The name shown in the header (a key the templates can read: no colon).
NAME_KEY = "portal_citizen_name"
_LINK_SALT = "garnizon.portal.email-login"


def _setting(name: str, default: str) -> int:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return int(value)


def email_link_minutes() -> int:
    """How long an e-mail login link works."""
    return _setting("GARNIZON_PORTAL_EMAIL_LINK_MINUTES", "30")


def login_links_per_email() -> int:
    """Login links sent to one address per window (more requests are silently dropped)."""
    return _setting("GARNIZON_PORTAL_LOGIN_LINKS_PER_EMAIL", "3")


def login_links_per_address() -> int:
    """Login-link requests accepted from one client address per window."""
    return _setting("GARNIZON_PORTAL_LOGIN_LINKS_PER_ADDRESS", "10")


def filings_per_email() -> int:
    """Filings accepted for one e-mail address per window (`conf.rate_window_seconds`)."""
    return _setting("GARNIZON_PORTAL_EMAIL_RATE_LIMIT", "10")


# --- session ---------------------------------------------------------------------------


def citizen_from_session(session: SessionBase) -> Citizen | None:
    """The logged-in citizen of this session, or None."""
    citizen_id = session.get(SESSION_KEY)
    if not isinstance(citizen_id, int):
        return None
    return Citizen.objects.filter(pk=citizen_id).first()


def citizen_session_start(
    session: SessionBase, citizen: Citizen, saml_session: SamlSession | None = None
) -> None:
    """Log the citizen in: a new session key (no fixation), the drafts kept.

    A SAML login also keeps what single logout needs (`saml_session`).
    """
    session.cycle_key()
    session[SESSION_KEY] = citizen.pk
    session[NAME_KEY] = str(citizen)
    session.pop(SAML_OUTSTANDING_KEY, None)
    session.pop(SAML_LOGOUT_KEY, None)
    if saml_session is not None:
        session[SAML_SESSION_KEY] = saml_session.as_dict()
    else:
        session.pop(SAML_SESSION_KEY, None)


def citizen_saml_session(session: SessionBase) -> SamlSession | None:
    """The SAML login of this session (for single logout), or None (e-mail link, none)."""
    if not isinstance(session.get(SESSION_KEY), int):
        return None
    return SamlSession.from_dict(session.get(SAML_SESSION_KEY))


def citizen_logout(
    session: SessionBase,
    *,
    client_address: str | None = None,
    slo: str = "",
    slo_request: str = "",
) -> Citizen | None:
    """Forget everything this session held (local logout); return who was logged in.

    `slo` says which single logout this is part of: "sp" (we sent the node
    `slo_request`), "idp" (the node asked, `slo_request` is its request id) or ""
    (local only). The audit entry carries the method and these, never the NameID.
    """
    citizen = citizen_from_session(session)
    if citizen is not None:
        details: dict[str, Any] = {"portal": True, "method": citizen.method}
        if slo:
            details.update(slo=slo, slo_request=slo_request[:100])
        audit_record(
            actor=None,
            action=AuditAction.LOGOUT,
            obj=citizen,
            details=details,
            remote_addr=client_address,
        )
    session.flush()
    return citizen


def saml_logout_pending(session: SessionBase, request_id: str, citizen: Citizen) -> None:
    """Remember our LogoutRequest in the (new, anonymous) session until the node answers."""
    session[SAML_LOGOUT_KEY] = {"id": request_id, "citizen": citizen.pk}


def saml_logout_pending_pop(session: SessionBase) -> tuple[str, int | None]:
    """Our LogoutRequest's id and its citizen's pk, forgotten (each answer counts once)."""
    pending = session.pop(SAML_LOGOUT_KEY, None)
    if not isinstance(pending, dict) or not isinstance(pending.get("id"), str):
        return "", None
    citizen_id = pending.get("citizen")
    return pending["id"], citizen_id if isinstance(citizen_id, int) else None


def saml_logout_confirmed(
    request_id: str, citizen_id: int | None, *, client_address: str | None = None
) -> None:
    """Record that the node confirmed our LogoutRequest (the session ended before)."""
    _slo_audit(citizen_id, client_address, slo="sp", slo_request=request_id, outcome="confirmed")


def saml_logout_failed(
    reason: str,
    *,
    slo: str,
    citizen_id: int | None = None,
    slo_request: str = "",
    client_address: str | None = None,
) -> None:
    """Record a single-logout message refused or not sent (technical reason, no NameID).

    An `outcome: refused` entry under `logout`: no session ended because of it (for
    "sp" the session had already ended when our request went out).
    """
    log.warning("portal SAML logout (%s) refused: %s", slo, reason)
    _slo_audit(
        citizen_id,
        client_address,
        slo=slo,
        slo_request=slo_request,
        outcome="refused",
        reason=reason[:300],
    )


def _slo_audit(
    citizen_id: int | None, client_address: str | None, *, slo_request: str, **details: str
) -> None:
    """A `logout` entry about a single-logout message (no session ends with it)."""
    audit_record(
        actor=None,
        action=AuditAction.LOGOUT,
        object_type="portal.citizen",
        object_id=str(citizen_id or ""),
        details={"portal": True, "method": "saml", "slo_request": slo_request[:100], **details},
        remote_addr=client_address,
    )


def saml_logout_request_seen(request_id: str) -> bool:
    """True when this LogoutRequest from the node was already handled (a replay)."""
    return not first_use("portal.saml.logout", request_id, keep_seconds=24 * 3600)


def citizen_logout_by_idp(
    session: SessionBase, request: LogoutRequestIn, *, client_address: str | None = None
) -> str:
    """Act on a checked LogoutRequest from the node; say what happened.

    "logged_out": the session's citizen is the request's (issuer and NameID, and the
    SessionIndex when both sides have one), and the session ended. "no_session":
    nobody is logged in here, nothing to end. "mismatch": someone else is logged in
    here (another NameID, an e-mail-link citizen, another node session): the session
    stays and the refusal is recorded.
    """
    citizen = citizen_from_session(session)
    if citizen is None:
        return "no_session"
    stored = citizen_saml_session(session)
    reason = ""
    if (
        citizen.method != Citizen.Method.SAML
        or stored is None
        or (citizen.saml_issuer, citizen.saml_subject) != (request.issuer, request.name_id)
        or (stored.issuer, stored.name_id) != (request.issuer, request.name_id)
    ):
        reason = "name_id_mismatch"
    elif (
        request.session_indexes
        and stored.session_index
        and stored.session_index not in request.session_indexes
    ):
        reason = "session_index_mismatch"
    if reason:
        saml_logout_failed(
            reason,
            slo="idp",
            citizen_id=citizen.pk,
            slo_request=request.request_id,
            client_address=client_address,
        )
        return "mismatch"
    citizen_logout(
        session, client_address=client_address, slo="idp", slo_request=request.request_id
    )
    return "logged_out"


# --- SAML ----------------------------------------------------------------------------------


def citizen_login_saml(
    identity: SamlIdentity, *, client_address: str | None = None, language: str = ""
) -> Citizen:
    """Find or create the citizen of a validated assertion and record the login.

    Names and e-mail come from the attributes when the node sends them; an
    attribute it does not send leaves what we had.
    """
    if not identity.issuer or not identity.subject:
        raise DomainError(_("Węzeł krajowy nie przekazał identyfikatora. Zaloguj się ponownie."))
    first = identity.first(GIVEN_NAME)[:150]
    last = identity.first(FAMILY_NAME)[:150]
    email = identity.first(EMAIL)[:254]
    with transaction.atomic():
        citizen, created = Citizen.objects.select_for_update().get_or_create(
            method=Citizen.Method.SAML,
            saml_issuer=identity.issuer[:500],
            saml_subject=identity.subject[:500],
        )
        changed = ["last_login_at"]
        values = (
            ("first_name", first),
            ("last_name", last),
            ("email", email),
            ("language", language),
        )
        for name, value in values:
            if value and getattr(citizen, name) != value:
                setattr(citizen, name, value)
                changed.append(name)
        citizen.last_login_at = timezone.now()
        citizen.save(update_fields=changed)
        audit_record(
            actor=None,
            action=AuditAction.LOGIN,
            obj=citizen,
            details={"portal": True, "method": "saml", "created": created},
            remote_addr=client_address,
        )
    return citizen


def saml_login_failed(reason: str, *, client_address: str | None = None) -> None:
    """Record a refused SAML response (the reason is technical, never shown to the citizen)."""
    log.warning("portal SAML response refused: %s", reason)
    audit_record(
        actor=None,
        action=AuditAction.LOGIN_FAILED,
        object_type="portal.citizen",
        details={"portal": True, "method": "saml", "reason": reason[:300]},
        remote_addr=client_address,
    )


def saml_response_seen(in_response_to: str, assertion_id: str) -> bool:
    """True when this request's answer or this assertion was already used (a replay).

    The session already forgets a request id once it is answered; this also
    catches a copy of the response posted before the session was updated.
    """
    keep = 24 * 3600
    fresh = first_use("portal.saml.request", in_response_to, keep_seconds=keep)
    if assertion_id:
        fresh = first_use("portal.saml.assertion", assertion_id, keep_seconds=keep) and fresh
    return not fresh


# --- e-mail link -----------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    email = (email or "").strip()
    local, at, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}" if at else email


def _citizen_state(email: str) -> str:
    citizen = Citizen.objects.filter(method=Citizen.Method.EMAIL, email__iexact=email).first()
    if citizen is None:
        return "new"
    stamp = citizen.last_login_at.isoformat() if citizen.last_login_at else "never"
    return _digest(f"{citizen.pk}:{stamp}")[:32]


def email_login_token(email: str) -> str:
    """A signed, timestamped token for `email`, valid until that citizen's next login."""
    email = normalize_email(email)
    return signing.dumps({"e": email, "s": _citizen_state(email)}, salt=_LINK_SALT, compress=True)


def email_login_check(token: str) -> str:
    """The address a still-valid token stands for, or DomainError saying what to do."""
    try:
        data = signing.loads(token, salt=_LINK_SALT, max_age=email_link_minutes() * 60)
    except signing.SignatureExpired as error:
        raise DomainError(_expired_message(), code="expired") from error
    except signing.BadSignature as error:
        raise DomainError(_invalid_message(), code="invalid") from error
    email = data.get("e", "") if isinstance(data, dict) else ""
    if not email or data.get("s") != _citizen_state(email):
        raise DomainError(_used_message(), code="used")
    return email


def _expired_message() -> str:
    return _("Ten link wygasł. Poproś o nowy link do logowania.")


def _invalid_message() -> str:
    return _("Ten link jest nieprawidłowy. Skopiuj cały link z wiadomości albo poproś o nowy.")


def _used_message() -> str:
    return _("Ten link został już użyty. Poproś o nowy link do logowania.")


def email_login_request(*, email: str, link_base: str, client_address: str) -> None:
    """Send a one-time login link to `email` (`link_base` + token), within the limits.

    The message is written in the active language (the page's).

    Known and unknown addresses are treated alike, and a request over the
    per-address limit is dropped without a word, so the answer never tells
    whether an address is in use. Too many requests from one client address
    raise DomainError (code `rate`).
    """
    email = normalize_email(email)
    if _limit_hit("login:ip", client_address, login_links_per_address()):
        raise DomainError(
            _(
                "Z tego adresu poproszono w ostatnim czasie o zbyt wiele linków. Spróbuj "
                "ponownie za godzinę."
            ),
            code="rate",
        )
    if _limit_hit("login:email", email.lower(), login_links_per_email()):
        log.info("portal login link to %s dropped: per-e-mail limit", _digest(email)[:12])
        return
    link = link_base + email_login_token(email) + "/"
    minutes = email_link_minutes()
    subject = _("Link do logowania – e-Usługi Policji")
    body = _(
        "Dzień dobry,\n\n"
        "aby zalogować się do e-Usług Policji garnizonu lubelskiego, otwórz ten link:\n\n"
        "%(link)s\n\n"
        "Link działa przez %(minutes)s minut i tylko raz. Jeśli to nie Ty prosiłeś o link, "
        "zignoruj tę wiadomość: nikt nie zaloguje się bez dostępu do Twojej poczty.\n\n"
        "Komenda Wojewódzka Policji w Lublinie\n"
    ) % {"link": link, "minutes": minutes}
    try:
        send_mail(subject, body, None, [email])
    except (smtplib.SMTPException, OSError) as error:
        log.error("portal login link not sent: %s", error)
        raise DomainError(
            _("Nie udało się wysłać wiadomości. Spróbuj ponownie za kilka minut."), code="mail"
        ) from error


def citizen_login_email(
    token: str, *, client_address: str | None = None, language: str = ""
) -> Citizen:
    """Use a login link: the citizen of that address, created on first use. Single use."""
    email = email_login_check(token)
    try:
        with transaction.atomic():
            citizen = (
                Citizen.objects.select_for_update()
                .filter(method=Citizen.Method.EMAIL, email__iexact=email)
                .first()
            )
            # Checked again under the lock: two clicks at once log in only once.
            if email_login_check(token) != email:
                raise DomainError(_used_message(), code="used")
            created = citizen is None
            if citizen is None:
                citizen = Citizen.objects.create(method=Citizen.Method.EMAIL, email=email)
            citizen.last_login_at = timezone.now()
            citizen.language = language or citizen.language
            citizen.save(update_fields=["last_login_at", "language"])
            audit_record(
                actor=None,
                action=AuditAction.LOGIN,
                obj=citizen,
                details={"portal": True, "method": "email", "created": created},
                remote_addr=client_address,
            )
    except IntegrityError as error:  # the same first link used twice at once
        raise DomainError(_used_message(), code="used") from error
    return citizen


# --- rate limits -------------------------------------------------------------------------------


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _limit_hit(kind: str, value: str, limit: int) -> bool:
    """Counted in the database, so every web process shares the count (common.ratelimit)."""
    return rate_limit_hit(
        f"portal.{kind}", value, limit=limit, window_seconds=conf.rate_window_seconds()
    )


class FilingLimited(DomainError):
    """A filing over its address's (`limit == "address"`) or its e-mail's limit."""

    def __init__(self, limit: str) -> None:
        if limit == "address":
            message = gettext_lazy(
                "Z tego adresu wysłano w ostatnim czasie zbyt wiele zgłoszeń. Spróbuj "
                "ponownie za godzinę albo napisz do jednostki pocztą."
            )
        else:
            message = gettext_lazy(
                "Z tego adresu e-mail wysłano w ostatnim czasie zbyt wiele zgłoszeń. "
                "Spróbuj ponownie za godzinę albo napisz do jednostki pocztą."
            )
        super().__init__(message, code="rate_limited")
        self.limit = limit


def portal_filing_limit_checks(*, client_address: str, email: str) -> list[RateCheck]:
    """The limits one filing counts against: its address's, and its e-mail's if it has one.

    The portal counts them in the filing's own transaction (`portal_submission_file`
    with `limits`): on SQLite, no turn of the write lock of their own.
    """
    window = conf.rate_window_seconds()
    checks = [RateCheck("portal.filing.address", client_address, conf.rate_limit(), window)]
    email = normalize_email(email).lower()
    if email:
        checks.append(RateCheck("portal.rate:email", email, filings_per_email(), window))
    return checks


def filing_limits_passed(checks: Sequence[RateCheck], hits: Sequence[bool]) -> FilingLimited | None:
    """Which of a filing's limits (`portal_filing_limit_checks`) its counts passed, if any."""
    for check, hit in zip(checks, hits, strict=True):
        if hit:
            return FilingLimited("address" if check.name == "portal.filing.address" else "email")
    return None


# --- the citizen's filings ---------------------------------------------------------------------


def citizen_submissions(citizen: Citizen) -> list[Submission]:
    """The citizen's filings, newest first."""
    return list(
        Submission.objects.filter(citizen=citizen)
        .select_related("incoming_item", "incoming_item__case", "unit")
        .order_by("-created_at", "-id")
    )


def citizen_submission(citizen: Citizen | None, submission_id: int) -> Submission | None:
    """One of the citizen's filings, or None (someone else's looks the same as missing)."""
    if citizen is None:
        return None
    return (
        Submission.objects.filter(pk=submission_id, citizen=citizen)
        .select_related("incoming_item", "unit")
        .first()
    )


def submission_addition_add(
    *,
    citizen: Citizen,
    submission: Submission,
    attachments: list[dict[str, Any]],
    client_address: str | None = None,
) -> list[SubmissionAddition]:
    """Add stored files (from `portal_attachment_store`) to the citizen's filing.

    Each becomes a `SubmissionAddition` and goes to intake on the filing's
    register entry, in one transaction with the audit entry. The limits (how
    many files, their types and size) are `portal.additions.addition_limits`,
    counted with the filing's row locked, so two sendings at once cannot pass
    the total together.
    """
    from garnizon.documents.blobstore import get_blob_store
    from garnizon.intake.services import intake_add_file
    from garnizon.portal.additions import addition_limits
    from garnizon.portal.services import portal_actor_scope
    from garnizon.registry.models import Channel

    if submission.citizen_id != citizen.pk:
        raise DomainError(_("Nie znaleziono zgłoszenia."), code="not_found")
    limits = addition_limits(submission)
    limits.check_count(len(attachments))
    store = get_blob_store()
    for attachment in attachments:
        limits.check_file(attachment)
        if not store.exists(attachment["sha256"]):
            raise DomainError(
                _("Załącznik %(name)s zaginął. Dodaj go jeszcze raz.") % attachment,
                field="files",
            )
    item = submission.incoming_item
    added: list[SubmissionAddition] = []
    with transaction.atomic():
        Submission.objects.select_for_update().filter(pk=submission.pk).first()
        addition_limits(submission).check_count(len(attachments))  # again, under the lock
        actor, scope = portal_actor_scope(item.unit)
        for attachment in attachments:
            addition = SubmissionAddition.objects.create(
                submission=submission,
                name=attachment["name"],
                sha256=attachment["sha256"],
                size=attachment["size"],
                mime=attachment["mime"],
            )
            intake_add_file(
                path=store.path(attachment["sha256"]),
                unit=item.unit,
                channel=Channel.PORTAL,
                requested_by=actor,
                source=f"portal:{submission.pk}",
                filename=attachment["name"],
                source_key=f"portal:{submission.pk}:addition:{addition.pk}",
                incoming_item=item,
                scope=scope,
            )
            added.append(addition)
        audit_record(
            actor=None,
            action=AuditAction.UPDATE,
            obj=submission,
            details={
                "portal": True,
                "citizen": citizen.pk,
                "added": [{"name": a.name, "sha256": a.sha256} for a in added],
            },
            remote_addr=client_address,
        )
    return added


def filing_email(session: SessionBase, fields: dict[str, Any]) -> str:
    """The address a filing's notifications go to: the form's, else the citizen's."""
    email = str(fields.get("email") or "")
    if not email:
        citizen = citizen_from_session(session)
        email = citizen.email if citizen is not None else ""
    return email
