"""E-mail to filers, through a real SMTP server (aiosmtpd): the filing confirmation and the
note that an answer is waiting; queued after the commit, retried when the relay fails."""

from __future__ import annotations

import datetime

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django_tasks_db.models import DBTaskResult

from garnizon.audit.models import AuditEntry
from garnizon.portal import notifications
from garnizon.portal.models import Submission
from garnizon.portal.notifications import FILED, MAX_ATTEMPTS, REPLY, deliver
from garnizon.portal.replies import portal_reply_send
from garnizon.portal.services import portal_submission_file, tracking_token_for
from garnizon.portal.tasks import deliver_portal_notification
from tests.test_portal import confirmation_token, fill_complaint, fill_letter, submit
from tests.workers import run_db_worker_batch

pytestmark = pytest.mark.django_db

PORTAL_URL = "https://e-uslugi.lublin.policja.example"


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_PORTAL_URL = PORTAL_URL
    settings.DEFAULT_FROM_EMAIL = "e-uslugi@lublin.policja.example"
    cache.clear()
    with translation.override("pl"):
        yield
    cache.clear()


def queued(kind: str | None = None) -> list[DBTaskResult]:
    """The queued notifications, oldest first; of one kind (FILED, REPLY) if given."""
    tasks = DBTaskResult.objects.filter(task_path=deliver_portal_notification.module_path)
    return [
        task for task in tasks.order_by("id") if kind is None or task.args_kwargs["args"][0] == kind
    ]


def run_queued(kind: str | None = None) -> list[str]:
    """What `db_worker` does with each queued notification, in this process."""
    results = []
    for task in queued(kind):
        results.append(deliver(*task.args_kwargs["args"]))
        task.delete()
    return results


def file_complaint(garrison, *, language: str = "pl", anonymous: bool = False, token: str = "c"):
    fields = {
        "kind": "skarga",
        "subject": "Zachowanie funkcjonariusza",
        "text": "Opis zdarzenia.",
        "anonymous": anonymous,
    }
    if not anonymous:
        fields |= {"name": "Anna Nowak", "email": "anna@example.pl", "address": "", "is_mp": False}
    return portal_submission_file(
        service="skarga",
        unit=garrison.kwp,
        fields=fields,
        attachments=[],
        client_token=token * 64,
        language=language,
    )


# --- the filing confirmation ---------------------------------------------------------------------


def test_filing_queues_a_confirmation_after_the_commit_with_the_number_deadline_and_link(
    garrison, smtp_server, django_capture_on_commit_callbacks
):
    client = Client()
    fill_complaint(client, garrison.kwp)
    with django_capture_on_commit_callbacks(execute=True):
        response, _ = submit(client, "skarga")
    token = confirmation_token(response)
    submission = Submission.objects.get()
    [task] = queued()
    assert task.args_kwargs["args"] == [FILED, submission.pk, 1]

    assert run_queued() == ["sent"]
    [message] = smtp_server
    item = submission.incoming_item
    assert message.envelope_to == ["anna@example.pl"]
    assert message["From"] == "e-uslugi@lublin.policja.example"
    assert item.registration_number in message["Subject"]
    body = message.get_content()
    assert item.registration_number in body
    assert date_format(item.due_date, "DATE_FORMAT") in body
    link = f"{PORTAL_URL}/portal/sledzenie/{token}/"
    assert link in body
    assert Client().get(link.removeprefix(PORTAL_URL)).status_code == 200
    assert AuditEntry.objects.filter(
        object_type="portal.notification", object_id=f"filed:{submission.pk}"
    ).exists()


def test_nothing_is_queued_when_the_filing_rolls_back(
    garrison, monkeypatch, django_capture_on_commit_callbacks
):
    from garnizon.portal import services

    def intake_down(*args, **kwargs):
        raise RuntimeError("intake unavailable")

    monkeypatch.setattr(services, "intake_add_files", intake_down)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        file_complaint(garrison)
    assert Submission.objects.count() == 0
    assert queued() == []


def test_the_confirmation_is_in_the_filers_language(garrison, smtp_server):
    submission = file_complaint(garrison, language="uk")
    assert deliver(FILED, submission.pk) == "sent"
    [message] = smtp_server
    assert message["Content-Language"] == "uk"
    with translation.override("uk"):
        due = date_format(submission.incoming_item.due_date, "DATE_FORMAT")
    assert due in message.get_content()  # Ukrainian month name, from Django's own catalogue
    assert any(ord(ch) > 0x400 for ch in due)


def test_an_anonymous_filing_gets_no_email(garrison, smtp_server):
    submission = file_complaint(garrison, anonymous=True)
    assert submission.email == ""
    assert deliver(FILED, submission.pk) == "skipped"
    assert smtp_server == []


def test_the_confirmation_is_sent_once_even_if_the_task_runs_twice(garrison, smtp_server):
    submission = file_complaint(garrison)
    assert deliver(FILED, submission.pk) == "sent"
    assert deliver(FILED, submission.pk) == "already sent"
    assert len(smtp_server) == 1


# --- the answer note -----------------------------------------------------------------------------


def test_a_reply_sends_a_link_without_the_content_and_records_when(
    garrison, smtp_server, django_capture_on_commit_callbacks
):
    client = Client()
    fill_letter(client, garrison.kwp, email="jan@example.pl")
    response, _ = submit(client, "pismo")
    token = confirmation_token(response)
    submission = Submission.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        reply = portal_reply_send(
            actor=garrison.people["clerk"],
            submission=submission,
            subject="Odpowiedź na pismo",
            body="Poufna treść odpowiedzi: dzielnicowy przyjdzie we wtorek.",
        )
    [task] = queued(REPLY)
    assert task.args_kwargs["args"] == [REPLY, reply.pk, 1]
    assert run_queued(REPLY) == ["sent"]
    [message] = smtp_server
    body = message.get_content()
    assert f"{PORTAL_URL}/portal/sledzenie/{token}/" in body
    assert "Poufna" not in body and "wtorek" not in body and "Poufna" not in message["Subject"]
    assert submission.incoming_item.registration_number in message["Subject"]
    reply.refresh_from_db()
    assert reply.notified_at is not None
    assert deliver(REPLY, reply.pk) == "already sent" and len(smtp_server) == 1
    staff_page = _staff_detail(garrison, submission)
    assert timezone.localtime(reply.notified_at).strftime("%d.%m.%Y %H:%M") in staff_page


def _staff_detail(garrison, submission) -> str:
    from tests.factories import PASSWORD

    client = Client()
    assert client.login(username=garrison.people["clerk"].username, password=PASSWORD)
    url = reverse("portal_staff:submission_detail", args=[submission.pk])
    return client.get(url).content.decode()


# --- a relay that fails --------------------------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nobody listens


def test_a_failing_relay_queues_a_later_attempt_and_the_next_one_sends(
    garrison, smtp_server, settings
):
    submission = file_complaint(garrison)
    reply = portal_reply_send(
        actor=garrison.people["clerk"], submission=submission, subject="Odp", body="T"
    )
    working = settings.MAILERS
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": _closed_port(), "timeout": 5},
        }
    }
    before = timezone.now()
    with pytest.raises(OSError):
        deliver(REPLY, reply.pk)
    [retry] = queued(REPLY)
    assert retry.args_kwargs["args"] == [REPLY, reply.pk, 2]
    assert retry.run_after >= before + datetime.timedelta(minutes=1)
    reply.refresh_from_db()
    assert reply.notified_at is None and smtp_server == []

    settings.MAILERS = working
    assert run_queued(REPLY) == ["sent"]
    reply.refresh_from_db()
    assert reply.notified_at is not None and len(smtp_server) == 1


def test_after_the_last_attempt_nothing_more_is_queued(garrison, settings):
    submission = file_complaint(garrison)
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": _closed_port(), "timeout": 5},
        }
    }
    with pytest.raises(OSError):
        deliver(FILED, submission.pk, MAX_ATTEMPTS)
    # Only the first attempt, queued with the filing itself: no attempt after the last.
    assert [task.args_kwargs["args"] for task in queued()] == [[FILED, submission.pk, 1]]
    assert not AuditEntry.objects.filter(object_type=notifications.NOTIFICATION_TYPE).exists()


# --- a real worker -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_real_db_worker_sends_the_confirmation(garrison, smtp_server, settings):
    submission = file_complaint(garrison, token="w")
    # Only the notification: the intake work queued by the filing is not this test's.
    DBTaskResult.objects.exclude(task_path=deliver_portal_notification.module_path).delete()
    assert len(queued()) == 1
    port = settings.MAILERS["default"]["OPTIONS"]["port"]
    result = run_db_worker_batch(
        GARNIZON_BLOB_DIR=str(settings.GARNIZON_BLOB_DIR),
        GARNIZON_SMTP_HOST="127.0.0.1",
        GARNIZON_SMTP_PORT=str(port),
        GARNIZON_PORTAL_URL=PORTAL_URL,
    )
    assert result.returncode == 0, result.stderr
    [message] = smtp_server
    token = tracking_token_for(submission.client_token)
    assert f"{PORTAL_URL}/portal/sledzenie/{token}/" in message.get_content()
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
