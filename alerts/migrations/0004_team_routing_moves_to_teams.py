"""Team and Membership (and alerts' TeamRouting) now live in the teams app, in the same
tables: this changes what Django knows, not the database."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0003_alert_group_recent_index"),
        ("teams", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="alertgroup",
                    name="team",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="alert_groups",
                        to="teams.team",
                    ),
                ),
                migrations.AlterField(
                    model_name="integration",
                    name="team",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="integrations",
                        to="teams.team",
                    ),
                ),
                migrations.AlterField(
                    model_name="routingrule",
                    name="team",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="teams.team",
                    ),
                ),
                migrations.AlterField(
                    model_name="silence",
                    name="team",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="silences",
                        to="teams.team",
                    ),
                ),
                migrations.DeleteModel(
                    name="TeamRouting",
                ),
            ],
            database_operations=[],
        ),
    ]
