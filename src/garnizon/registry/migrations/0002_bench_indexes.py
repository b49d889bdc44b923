"""Indexes for reading the incoming register page by page under need-to-know.

`incoming_register_page` reads each arm of need-to-know (a cell, a unit, a
person's items) newest first from an index and stops at the page size; the
registrar's arm needs (registered_by, id) for that.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="incomingitem",
            index=models.Index(fields=["registered_by", "-id"], name="rpw_registrar_id"),
        ),
    ]
