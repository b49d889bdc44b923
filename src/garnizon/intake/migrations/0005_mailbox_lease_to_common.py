"""The mailbox leases become named leases of `common` (`imap:<mailbox>`), the one
lease table shared with the search index's rebuild."""

from django.db import migrations


def forward(apps, schema_editor):
    mailbox_lease = apps.get_model("intake", "MailboxLease")
    lease = apps.get_model("common", "Lease")
    lease.objects.bulk_create(
        [
            lease(
                name=f"imap:{row.mailbox}",
                owner=row.owner,
                lease_until=row.lease_until,
                acquired_at=row.acquired_at,
            )
            for row in mailbox_lease.objects.all()
        ]
    )


def backward(apps, schema_editor):
    mailbox_lease = apps.get_model("intake", "MailboxLease")
    lease = apps.get_model("common", "Lease")
    mailbox_lease.objects.bulk_create(
        [
            mailbox_lease(
                mailbox=row.name.removeprefix("imap:"),
                owner=row.owner,
                lease_until=row.lease_until,
                acquired_at=row.acquired_at,
            )
            for row in lease.objects.filter(name__startswith="imap:")
        ]
    )


class Migration(migrations.Migration):
    dependencies = [
        ("common", "0004_lease"),
        ("intake", "0004_mailbox_lease"),
    ]

    operations = [
        migrations.RunPython(forward, backward),
        migrations.DeleteModel(name="MailboxLease"),
    ]
