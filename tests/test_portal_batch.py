"""Filings registered together (the portal's group commit), as each would be alone."""

from __future__ import annotations

import dataclasses

import pytest
from django_tasks_db.models import DBTaskResult

from garnizon.audit.models import AuditEntry
from garnizon.audit.services import audit_verify
from garnizon.common.errors import DomainError
from garnizon.intake.models import IntakeItem
from garnizon.intake.tasks import process_intake_item
from garnizon.portal.models import Submission
from garnizon.portal.notifications import FILED
from garnizon.portal.services import portal_filing_prepare, portal_filings_register
from garnizon.portal.tasks import deliver_portal_notification
from garnizon.registry.models import Channel, IncomingItem

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("portal_isolated")]


def prepared(unit, token: str, subject: str = "Temat"):
    return portal_filing_prepare(
        service="pismo",
        unit=unit,
        attachments=[],
        client_token=token,
        fields={
            "name": "Jan Nowak",
            "email": "jan@example.pl",
            "address": "",
            "subject": subject,
            "text": f"Treść: {subject}",
        },
    )


def queued(task) -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=task.module_path).order_by("enqueued_at"))


def test_a_batch_registers_each_filing_with_its_own_number_entry_and_work(garrison):
    filings = [prepared(garrison.kwp, c * 64, f"Temat {c}") for c in "abc"]
    filings.append(prepared(garrison.kmp, "d" * 64, "Temat d"))
    results = portal_filings_register(filings)

    assert all(isinstance(result, Submission) for result in results)
    assert [r.client_token for r in results] == [c * 64 for c in "abcd"]
    entries = [r.incoming_item for r in results]
    assert [e.subject for e in entries] == ["Temat a", "Temat b", "Temat c", "Temat d"]
    assert [e.number for e in entries] == [1, 2, 3, 1]  # one register per unit, no gaps
    assert entries[3].registration_number.startswith(garrison.kmp.symbol + "/RPW/1/")
    assert {e.channel for e in entries} == {Channel.PORTAL}
    assert {e.registered_by.username for e in entries} == {"portal"}
    # Each filing's text went into intake on its own entry, and its e-mail is queued.
    for result in results:
        [item] = IntakeItem.objects.filter(incoming_item=result.incoming_item)
        assert item.source_key == f"portal:{result.pk}:content"
    assert sorted(t.args_kwargs["args"][0] for t in queued(process_intake_item)) == sorted(
        IntakeItem.objects.values_list("pk", flat=True)
    )
    assert sorted(t.args_kwargs["args"][1] for t in queued(deliver_portal_notification)) == sorted(
        r.pk for r in results
    )
    assert {t.args_kwargs["args"][0] for t in queued(deliver_portal_notification)} == {FILED}
    # One audit entry per registration, chained.
    created = AuditEntry.objects.filter(action="create", object_type="registry.incomingitem")
    assert sorted(created.values_list("object_id", flat=True)) == sorted(str(e.pk) for e in entries)
    assert list(audit_verify()) == []


def test_a_double_click_inside_one_batch_files_once(garrison):
    first = prepared(garrison.kwp, "a" * 64)
    again = prepared(garrison.kwp, "a" * 64)
    other = prepared(garrison.kwp, "b" * 64, "Inny")
    results = portal_filings_register([first, again, other])
    assert results[0].pk == results[1].pk != results[2].pk
    assert Submission.objects.count() == 2
    assert IncomingItem.objects.count() == 2
    assert IntakeItem.objects.count() == 2
    assert len(queued(deliver_portal_notification)) == 2
    # And again in a later batch: the same submission.
    [later] = portal_filings_register([prepared(garrison.kwp, "a" * 64)])
    assert later.pk == results[0].pk
    assert Submission.objects.count() == 2


def test_a_filing_refused_in_a_batch_leaves_the_others_filed(garrison):
    portal_filings_register([prepared(garrison.kwp, "a" * 64, "Pierwszy")])
    # The same token with another subject: the register refuses it, the others go on.
    reused = prepared(garrison.kwp, "a" * 64, "Zupełnie inny")
    good = prepared(garrison.kwp, "b" * 64)
    refused, filed = portal_filings_register([reused, good])
    assert isinstance(refused, DomainError)
    assert isinstance(filed, Submission)
    assert Submission.objects.count() == 2


def test_a_step_failing_for_one_filing_rolls_back_the_batch_and_each_is_filed_alone(garrison):
    def refuse(submission, fields):
        raise DomainError("Wskaż miejsce zagrożenia.")

    good = prepared(garrison.kwp, "a" * 64)
    bad = prepared(garrison.kwp, "b" * 64)
    bad = dataclasses.replace(bad, flow=dataclasses.replace(bad.flow, after_file=refuse))
    also_good = prepared(garrison.kwp, "c" * 64)
    results = portal_filings_register([good, bad, also_good])
    assert isinstance(results[0], Submission) and isinstance(results[2], Submission)
    assert isinstance(results[1], DomainError)
    assert results[1].message == "Wskaż miejsce zagrożenia."
    # Nothing of the refused filing is left, and the numbers have no gap.
    assert not IncomingItem.objects.filter(client_token="b" * 64).exists()
    assert sorted(IncomingItem.objects.values_list("number", flat=True)) == [1, 2]
    assert IntakeItem.objects.count() == 2
    assert len(queued(deliver_portal_notification)) == 2
    assert list(audit_verify()) == []
