"""Team and Membership (and alerts' TeamRouting) now live in the teams app, in the same
tables: this changes what Django knows, not the database."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0009_checklist_ticked_by_vigil"),
        ("teams", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="incident",
                    name="team",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="incidents",
                        to="teams.team",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
