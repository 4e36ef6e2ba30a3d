"""Each step run records its step's target kind as it ran. For the runs before this, the
best there is: the team's policy as it stands at the upgrade."""

from django.db import migrations, models

BACKFILL = """
UPDATE paging_steprun SET target_kind = coalesce((
    SELECT st.target_kind
    FROM paging_escalation e
    JOIN oncall_escalationpolicy p ON p.team_id = e.team_id
    JOIN oncall_escalationstep st ON st.policy_id = p.id
    WHERE e.id = paging_steprun.escalation_id AND st.position = paging_steprun.position
    ORDER BY st.id LIMIT 1
), '')
"""


def backfill(apps, schema_editor):
    schema_editor.execute(BACKFILL)


class Migration(migrations.Migration):
    dependencies = [
        ("paging", "0003_team_moves_to_teams"),
        ("oncall", "0007_swaprequest_emailed_for"),
    ]

    operations = [
        migrations.AddField(
            model_name="steprun",
            name="target_kind",
            field=models.CharField(blank=True, db_default="", max_length=8),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
