"""An index for the incoming register's "assigned to me" arm of need-to-know.

`incoming_register_page` reads a person's current assignments of incoming
items newest item first and stops at the page size.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0002_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="assignment",
            index=models.Index(
                fields=["to_person", "-incoming_item"],
                condition=models.Q(("incoming_item__isnull", False), ("is_current", True)),
                name="asg_person_item",
            ),
        ),
    ]
