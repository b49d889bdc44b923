"""Portal domain operations: store an attachment, file a submission, follow it up.

Views call these; nothing here reads the request. The portal files as one
service account (`portal`, no password) that holds a registry clerk's position in
each unit it files to, so every filing goes through the register's own
`incoming_items_register`
with its ordinary checks, numbering, deadline and audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from garnizon.audit import context as audit_context
from garnizon.common.errors import DomainError
from garnizon.common.ratelimit import RateCheck, rate_limits_hit, rate_limits_reached
from garnizon.documents.blobstore import BlobEmpty, BlobRef, BlobTooLarge, get_blob_store
from garnizon.documents.imagemeta import NotAnImage, strip_image_metadata
from garnizon.documents.metadata import detect_mime, safe_filename
from garnizon.intake.services import IntakeFile, intake_add_files
from garnizon.org.access import Grant, Scope
from garnizon.org.models import Cell, Person, Position, Role, Unit
from garnizon.portal import conf
from garnizon.portal.drafts import mark_draft_blob
from garnizon.portal.eservices import FLOWS
from garnizon.portal.group_commit import filing_group
from garnizon.portal.identity import FilingLimited, filing_limits_passed
from garnizon.portal.models import Citizen, EService, Submission
from garnizon.registry.models import Channel, IncomingItem
from garnizon.registry.services import IncomingRegistration, incoming_items_register
from garnizon.search.models import ObjectType
from garnizon.search.signals import left_to_intake

if TYPE_CHECKING:
    from garnizon.portal.flows import Flow, Registration

log = logging.getLogger(__name__)

PORTAL_USERNAME = "portal"


@dataclass(frozen=True)
class Status:
    code: str
    label: str


STATUS_LABELS = {
    "registered": gettext_lazy("Zarejestrowane"),
    "in_case": gettext_lazy("W sprawie"),
    "answered": gettext_lazy("Udzielono odpowiedzi"),
}


# --- attachments --------------------------------------------------------------------


def portal_attachment_store(
    *,
    upload: UploadedFile,
    types: dict[str, str] | None = None,
    max_bytes: int | None = None,
    strip_metadata: bool = False,
) -> dict[str, Any]:
    """Store one uploaded file in the blob store and describe it, or refuse it with a reason.

    The type is read from the content; the name the filer gave only labels it.
    `types` (MIME type -> name shown) and `max_bytes` default to the portal's.
    With `strip_metadata` a JPEG or PNG is stored without its metadata (GPS,
    camera, owner; documents/imagemeta.py): what is filed, hashed and kept is
    the cleaned file, and the original is left to the draft clean-up.
    """
    name = safe_filename(upload.name or "") or "zalacznik"
    limit = max_bytes or conf.max_attachment_bytes()
    types = types or conf.ALLOWED_TYPES
    if upload.size is not None and upload.size > limit:
        raise DomainError(_too_large(name, limit), field="files")
    upload.seek(0)
    try:
        ref = get_blob_store().put(upload, max_size=limit)
    except BlobTooLarge as error:
        raise DomainError(_too_large(name, limit), field="files") from error
    except BlobEmpty as error:
        raise DomainError(
            _("Plik %(name)s jest pusty. Wybierz plik z treścią.") % {"name": name},
            field="files",
        ) from error
    mark_draft_blob(ref.sha256)  # removed later if no filing takes it (portal/drafts.py)
    mime = detect_mime(get_blob_store().path(ref.sha256))
    if mime not in types:
        raise DomainError(
            _("Plik %(name)s ma niedozwolony rodzaj. Dodaj plik: %(types)s.")
            % {"name": name, "types": ", ".join(dict.fromkeys(types.values()))},
            field="files",
        )
    if strip_metadata and mime in ("image/jpeg", "image/png"):
        ref = _without_metadata(ref, mime, name)
    return {"name": name, "sha256": ref.sha256, "size": ref.size, "mime": mime}


def _without_metadata(ref: BlobRef, mime: str, name: str) -> BlobRef:
    store = get_blob_store()
    with store.open(ref.sha256) as handle:
        original = handle.read()
    try:
        cleaned = strip_image_metadata(original, mime)
    except NotAnImage as error:
        raise DomainError(
            _("Plik %(name)s jest uszkodzony i nie da się go odczytać. Dodaj inne zdjęcie.")
            % {"name": name},
            field="files",
        ) from error
    if cleaned == original:
        return ref
    cleaned_ref = store.put(io.BytesIO(cleaned))
    mark_draft_blob(cleaned_ref.sha256)  # like the original: kept only if filed
    return cleaned_ref


def _too_large(name: str, limit: int) -> str:
    return _("Plik %(name)s jest za duży. Plik może mieć najwyżej %(mb)s MB.") % {
        "name": name,
        "mb": limit // (1024 * 1024),
    }


# --- filing ------------------------------------------------------------------------------


def tracking_token_for(client_token: str) -> str:
    """The tracking token of a form: an HMAC of its secret form token.

    Derived, not stored, so a resubmitted form (double click, back button)
    leads to the same confirmation; only its SHA-256 is in the database.
    """
    return hmac.new(
        settings.SECRET_KEY.encode(), f"portal-tracking:{client_token}".encode(), hashlib.sha256
    ).hexdigest()


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def submission_for_token(token: str) -> Submission | None:
    """The filing a tracking token opens, or None (an unknown or malformed token)."""
    if not token or len(token) > 128:
        return None
    # get(), not first(): the hash is unique, and first() would order by id for nothing.
    try:
        return Submission.objects.select_related("incoming_item", "unit").get(
            tracking_token_sha256=token_sha256(token)
        )
    except Submission.DoesNotExist:
        return None


def canonical_json(*, service: str, unit: Unit, fields: dict[str, Any], attachments: list) -> str:
    """What was filed, as sorted-key JSON: the receipt's SHA-256 is of exactly this text."""
    document = {
        "service": service,
        "unit": unit.symbol,
        "fields": fields,
        "attachments": [
            {"name": a["name"], "sha256": a["sha256"], "size": a["size"]} for a in attachments
        ],
    }
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass
class PreparedFiling:
    """A filing checked and with its text stored, ready to be registered."""

    service: str
    flow: Flow
    unit: Unit
    fields: dict[str, Any]
    attachments: list[dict[str, Any]]
    client_token: str
    language: str
    client_address: str | None
    citizen: Citizen | None
    registration: Registration
    email: str
    canonical_json: str
    content_hash: str
    content_ref: BlobRef
    actor: Person
    scope: Scope
    # Counted in the filing's transaction; a filing over one is not registered.
    limits: Sequence[RateCheck] = ()


def portal_submission_file(
    *,
    service: str,
    unit: Unit,
    fields: dict[str, Any],
    attachments: list[dict[str, Any]],
    client_token: str,
    language: str = "pl",
    client_address: str | None = None,
    citizen: Citizen | None = None,
    limits: Sequence[RateCheck] = (),
) -> Submission:
    """Register a filing in the unit's incoming register, in one transaction.

    The entry, the submission record, the intake items of its content and
    attachments and the queued confirmation e-mail are written together or not
    at all. The same `client_token` a second time returns the first submission
    (the register's own replay check finds it, also for two racing requests).

    Filings that arrive in this process while another is being registered are
    registered together with it, in one transaction (group_commit.py).

    `limits` (`identity.portal_filing_limit_checks`) are counted in the same
    transaction; a filing over one raises `FilingLimited` and is not registered.
    A filing from an address or e-mail already at its limit is refused before
    anything is done for it (nothing written, not even its text to the blob store).

    The entry is not indexed for search here but by the intake item of its
    content, whose `index` step runs a moment later in a worker (search/steps.py):
    the filer's request does not wait for the text analysis, and on SQLite the
    filing takes one turn of the write lock instead of two.
    """
    passed = filing_limits_passed(limits, rate_limits_reached(limits))
    if passed is not None:
        raise passed
    prepared = portal_filing_prepare(
        service=service,
        unit=unit,
        fields=fields,
        attachments=attachments,
        client_token=client_token,
        language=language,
        client_address=client_address,
        citizen=citizen,
        limits=limits,
    )
    result = filing_group.register(prepared)
    if isinstance(result, DomainError):
        # Its filed text is in the blob store already: removed later unless
        # something comes to refer to it (portal/drafts.py).
        mark_draft_blob(prepared.content_ref.sha256)
        raise result
    return result


def portal_filing_prepare(
    *,
    service: str,
    unit: Unit,
    fields: dict[str, Any],
    attachments: list[dict[str, Any]],
    client_token: str,
    language: str = "pl",
    client_address: str | None = None,
    citizen: Citizen | None = None,
    limits: Sequence[RateCheck] = (),
) -> PreparedFiling:
    """Everything of a filing that needs no transaction: the checks, the filed text
    written to the blob store (its fsync is not made while the register, and on
    SQLite the database, is held) and the service account's Scope."""
    flow = FLOWS.get(service)
    if flow is None:
        raise DomainError(_("Nieznana e-usługa."))
    if len(attachments) > conf.max_attachments():
        raise DomainError(
            _("Możesz dodać najwyżej %(n)s załączników.") % {"n": conf.max_attachments()},
            field="files",
        )
    if flow.validate is not None:
        flow.validate(fields, attachments)
    store = get_blob_store()
    for attachment in attachments:
        if not store.exists(attachment["sha256"]):
            raise DomainError(
                _("Załącznik %(name)s zaginął. Dodaj go jeszcze raz.") % attachment,
                field="files",
            )
    registration = flow.register(fields, unit)
    text = canonical_json(service=service, unit=unit, fields=fields, attachments=attachments)
    content_hash = hashlib.sha256(text.encode()).hexdigest()
    content = content_text(
        service=service,
        unit=unit,
        fields=fields,
        labels=flow.labels,
        attachments=attachments,
        content_sha256=content_hash,
    ).encode()
    content_ref = store.put(io.BytesIO(content))
    actor, scope = portal_actor_scope(unit)
    return PreparedFiling(
        service=service,
        flow=flow,
        unit=unit,
        fields=fields,
        attachments=attachments,
        client_token=client_token,
        language=language,
        client_address=client_address,
        citizen=citizen,
        registration=registration,
        email=registration.email or (citizen.email if citizen is not None else ""),
        canonical_json=text,
        content_hash=content_hash,
        content_ref=content_ref,
        actor=actor,
        scope=scope,
        limits=limits,
    )


def portal_filings_register(
    filings: Sequence[PreparedFiling],
) -> list[Submission | DomainError]:
    """Register prepared filings in one transaction; one result per filing.

    A filing the register refuses gets its `DomainError` and the others are
    registered. Anything else that fails (a token taken by another process at the
    same moment, a service's own step refusing) rolls the batch back, and each
    filing is then registered alone, so one filing's problem is only its own.
    """
    if len(filings) > 1:
        try:
            return portal_filings_register_together(filings)
        except Exception:
            log.info("Portal: a batch of %s filings failed; registering each alone", len(filings))
    results: list[Submission | DomainError] = []
    for filing in filings:
        try:
            results.extend(portal_filings_register_together([filing]))
        except IntegrityError:
            # The same token raced in another process; its filing is the answer.
            submission = Submission.objects.filter(client_token=filing.client_token).first()
            if submission is None:
                raise
            results.append(submission)
        except DomainError as problem:
            results.append(problem)
    return results


def portal_filings_register_together(
    filings: Sequence[PreparedFiling],
) -> list[Submission | DomainError]:
    """Register prepared filings in one transaction (the caller's, if any), without
    `portal_filings_register`'s one-at-a-time fallback: anything that fails the batch
    as a whole raises, and nothing of it is written. A filing the register refuses
    gets its `DomainError` (`FilingLimited` over a rate limit)."""
    with transaction.atomic():
        checks = [check for filing in filings for check in filing.limits]
        hits = iter(rate_limits_hit(checks) if checks else [])
        limited: dict[int, FilingLimited] = {}
        for index, filing in enumerate(filings):
            passed = filing_limits_passed(filing.limits, [next(hits) for _check in filing.limits])
            if passed is not None:
                limited[index] = passed
        admitted = [filing for index, filing in enumerate(filings) if index not in limited]
        results = iter(_register_admitted(admitted) if admitted else [])
        return [
            limited[index] if index in limited else next(results) for index in range(len(filings))
        ]


def _register_admitted(filings: Sequence[PreparedFiling]) -> list[Submission | DomainError]:
    # Inside `portal_filings_register_together`'s transaction: no savepoint of its own.
    with transaction.atomic(savepoint=False), left_to_intake(ObjectType.INCOMING):
        entries = incoming_items_register(
            [
                IncomingRegistration(
                    scope=filing.scope,
                    actor=filing.actor,
                    unit=filing.unit,
                    subject=filing.registration.subject,
                    channel=Channel.PORTAL,
                    sender_name=filing.registration.sender_name,
                    attachments_count=len(filing.attachments),
                    kind=filing.registration.kind,
                    remarks="\n".join(filing.registration.remarks),
                    assigned_cell=filing.registration.cell,
                    client_token=filing.client_token,
                    remote_addr=filing.client_address,
                )
                for filing in filings
            ]
        )
        # A replayed entry (its token filed before, or twice in this batch) is the
        # first filing's: its submission exists or is made here for that first one.
        new = [
            (filing, entry)
            for filing, entry in zip(filings, entries, strict=True)
            if isinstance(entry, IncomingItem) and not getattr(entry, "replayed", False)
        ]
        replayed = {
            entry.pk
            for entry in entries
            if isinstance(entry, IncomingItem) and getattr(entry, "replayed", False)
        }
        submissions = Submission.objects.bulk_create(
            [
                Submission(
                    service=filing.service,
                    incoming_item=entry,
                    unit=filing.unit,
                    client_token=filing.client_token,
                    tracking_token_sha256=token_sha256(tracking_token_for(filing.client_token)),
                    canonical_json=filing.canonical_json,
                    content_sha256=filing.content_hash,
                    attachments=filing.attachments,
                    is_anonymous=filing.registration.anonymous,
                    language=filing.language,
                    client_address=filing.client_address,
                    citizen=filing.citizen,
                    email="" if filing.registration.anonymous else filing.email,
                )
                for filing, entry in new
            ]
        )
        by_entry = {submission.incoming_item_id: submission for submission in submissions}
        missing = replayed - by_entry.keys()
        if missing:
            by_entry.update(
                (submission.incoming_item_id, submission)
                for submission in Submission.objects.filter(incoming_item_id__in=missing)
            )
        from garnizon.portal.notifications import notify_filed_many

        # Queued in the filing's transaction: the task row commits with it (a worker
        # cannot see it earlier) and costs no write of its own after the commit.
        notify_filed_many([submission.pk for submission in submissions])
        for (filing, _entry), submission in zip(new, submissions, strict=True):
            if filing.flow.after_file is not None:
                # Perhaps on another request's thread (group_commit.py): its own address.
                with audit_context.remote_addr_set(filing.client_address):
                    filing.flow.after_file(submission, filing.fields)
        intake_add_files(
            [
                file
                for (filing, entry), submission in zip(new, submissions, strict=True)
                for file in _intake_files(filing, entry, submission)
            ]
        )
    return [by_entry[entry.pk] if isinstance(entry, IncomingItem) else entry for entry in entries]


def _intake_files(
    filing: PreparedFiling, item: IncomingItem, submission: Submission
) -> list[IntakeFile]:
    """The filed text (a UTF-8 file), then each attachment, into intake on the entry.

    All are already in the blob store, hashed when they came in, so nothing is
    read or written again while the caller's transaction holds the register.
    """
    store = get_blob_store()
    files = [
        (
            filing.content_ref.sha256,
            f"{item.registration_number.replace('/', '-')}-tresc.txt",
            "content",
        )
    ]
    files += [
        (attachment["sha256"], attachment["name"], str(index))
        for index, attachment in enumerate(submission.attachments, start=1)
    ]
    return [
        IntakeFile(
            path=store.path(sha256),
            stored_sha256=sha256,
            unit=item.unit,
            channel=Channel.PORTAL,
            requested_by=filing.actor,
            source=f"portal:{submission.pk}",
            filename=filename,
            source_key=f"portal:{submission.pk}:{key}",
            incoming_item=item,
            scope=filing.scope,
        )
        for sha256, filename, key in files
    ]


def content_text(
    *,
    service: str,
    unit: Unit,
    fields: dict[str, Any],
    labels: dict[str, str],
    attachments: list[dict[str, Any]],
    content_sha256: str,
) -> str:
    """The filing as plain Polish text for the staff: labels, values, attachments, hash.

    Written before the filing is registered, so it carries no registration number
    (the file is named after it and attached to the entry).
    """
    with translation.override("pl"):  # for the staff, whatever the filer's language
        title = str(EService(service).label)
    lines = [
        f"{title} – złożone przez portal e-usług",
        f"Jednostka: {unit.name}",
        "",
    ]
    for key, label in labels.items():
        if key in fields:
            value = fields[key]
            if isinstance(value, bool):
                value = "tak" if value else "nie"
            lines.append(f"{label}: {value or 'brak danych'}")
    lines.append("")
    for attachment in attachments:
        lines.append(f"Załącznik: {attachment['name']} SHA-256 {attachment['sha256']}")
    lines.append(f"SHA-256 zgłoszenia: {content_sha256}")
    return "\n".join(lines) + "\n"


def _portal_position(unit: Unit) -> Position | None:
    return (
        Position.objects.active()
        .filter(person__username=PORTAL_USERNAME, cell__unit=unit)
        .select_related("person", "cell")
        .first()
    )


# The service account's position per unit, kept for a minute: it changes only
# when a unit is first filed to, and reading it was the most expensive query of
# a filing. Any saved or deleted unit, cell, position or person empties the cache
# (in this process; another process keeps its copy up to the minute).
ACTOR_CACHE_SECONDS = 60.0
_actor_positions: dict[int, tuple[float, Position]] = {}


def _portal_position_cached(unit: Unit) -> Position | None:
    now = time.monotonic()
    held = _actor_positions.get(unit.pk)
    if held is not None and held[0] > now:
        return held[1]
    position = _portal_position(unit)
    if position is not None:
        # Only once committed: a position made in a transaction that rolls back
        # must not outlive it here.
        entry = (now + ACTOR_CACHE_SECONDS, position)
        transaction.on_commit(lambda: _actor_positions.__setitem__(unit.pk, entry))
    return position


@receiver(post_save, sender=Position, dispatch_uid="portal_actor_position_saved")
@receiver(post_delete, sender=Position, dispatch_uid="portal_actor_position_deleted")
@receiver(post_save, sender=Person, dispatch_uid="portal_actor_person_saved")
@receiver(post_delete, sender=Person, dispatch_uid="portal_actor_person_deleted")
@receiver(post_save, sender=Cell, dispatch_uid="portal_actor_cell_saved")
@receiver(post_delete, sender=Cell, dispatch_uid="portal_actor_cell_deleted")
@receiver(post_save, sender=Unit, dispatch_uid="portal_actor_unit_saved")
@receiver(post_delete, sender=Unit, dispatch_uid="portal_actor_unit_deleted")
def _forget_actor_positions(**kwargs: Any) -> None:
    _actor_positions.clear()


def portal_actor_scope(unit: Unit) -> tuple[Person, Scope]:
    """The service account and the part of its Scope that files into `unit`.

    The account holds a position in every unit it has filed to (21 in a running
    garrison); loading all of them for each filing cost more than the rest of
    the permission checks together, and only this unit's position is needed.
    """
    position = _portal_position_cached(unit)
    if position is None:  # the first filing to this unit: make the position
        with transaction.atomic():  # the lock that keeps racing first filings to one
            portal_actor(unit)
        position = _portal_position_cached(unit)
    if position is None:  # pragma: no cover - portal_actor has just made it
        raise DomainError(
            _("Jednostka %(unit)s nie przyjmuje jeszcze pism przez portal.") % {"unit": unit}
        )
    actor = position.person
    return actor, Scope(person=actor, grants=[Grant(position, None)], person_ids={actor.pk})


def portal_actor(unit: Unit) -> Person:
    """The portal's service account with a registry clerk's position in `unit`.

    Created on first use; it has no usable password, so nobody logs in as it.
    The position sits in the cell where the unit's registry clerks work (else
    the unit's first top-level cell).
    """
    # The usual case, without a lock: the account already holds a position in the unit
    # (a lock on the account's row here would make every filing in the garrison wait
    # for the one before it to commit).
    held = _portal_position(unit)
    if held is not None:
        return held.person
    actor, created = Person.objects.get_or_create(
        username=PORTAL_USERNAME,
        defaults={"first_name": "Portal", "last_name": "e-usług", "is_active": True},
    )
    if created:
        actor.set_unusable_password()
        actor.save(update_fields=["password"])
    # Two first filings to a unit at once must not give the account two positions there.
    # FOR NO KEY UPDATE: it serialises the portal's own first filings to a unit but
    # does not block the foreign-key checks (FOR KEY SHARE) other filings take on
    # this row while they hold the audit head; FOR UPDATE would deadlock with them.
    Person.objects.select_for_update(no_key=True).filter(pk=actor.pk).first()
    if not Position.objects.active().filter(person=actor, cell__unit=unit).exists():
        cell = (
            Cell.objects.filter(
                unit=unit, is_active=True, positions__role=Role.REGISTRY_CLERK
            ).first()
            or Cell.objects.filter(unit=unit, is_active=True, parent=None).order_by("path").first()
        )
        if cell is None:
            raise DomainError(
                _("Jednostka %(unit)s nie przyjmuje jeszcze pism przez portal.") % {"unit": unit}
            )
        Position.objects.create(
            person=actor, cell=cell, role=Role.REGISTRY_CLERK, title="portal e-usług"
        )
    return actor


# --- follow-up ---------------------------------------------------------------------------


def submission_status(submission: Submission, *, has_replies: bool | None = None) -> Status:
    """Registered, in a case, or answered (a portal reply, or a dispatch in the case).

    `has_replies` saves a query for a caller that has read the replies already.
    """
    item = submission.incoming_item
    if has_replies is None:
        has_replies = submission.replies.exists()
    if has_replies:
        return Status("answered", str(STATUS_LABELS["answered"]))
    if item.case_id is None:
        return Status("registered", str(STATUS_LABELS["registered"]))
    if item.case.outgoing_items.exists():
        return Status("answered", str(STATUS_LABELS["answered"]))
    return Status("in_case", str(STATUS_LABELS["in_case"]))
