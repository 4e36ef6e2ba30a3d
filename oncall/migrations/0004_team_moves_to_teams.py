"""Team and Membership (and alerts' TeamRouting) now live in the teams app, in the same
tables: this changes what Django knows, not the database."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("oncall", "0003_calendar_token_hash"),
        ("teams", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="team",
                    name="members",
                ),
                migrations.RemoveField(
                    model_name="team",
                    name="engineering_lead",
                ),
                migrations.AlterField(
                    model_name="schedule",
                    name="team",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="schedules",
                        to="teams.team",
                    ),
                ),
                migrations.AlterField(
                    model_name="escalationpolicy",
                    name="team",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="escalation_policies",
                        to="teams.team",
                    ),
                ),
                migrations.DeleteModel(
                    name="Membership",
                ),
            ],
            database_operations=[],
        ),
    ]
