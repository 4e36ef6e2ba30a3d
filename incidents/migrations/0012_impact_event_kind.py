from django.db import migrations, models

# A person's edit of the impact goes on the timeline, so colleagues' pages hear of it.


class Migration(migrations.Migration):
    dependencies = [("incidents", "0011_every_incident_has_its_checklist")]

    operations = [
        migrations.AlterField(
            model_name="timelineevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("note", "Note"),
                    ("declared", "Declared"),
                    ("status", "Status change"),
                    ("severity", "Severity change"),
                    ("role", "Role change"),
                    ("impact", "Impact change"),
                    ("alert", "Alert"),
                    ("page", "Page"),
                    ("ack", "Acknowledgement"),
                    ("deploy", "Deploy"),
                    ("rollback", "Rollback"),
                    ("comms", "Status update"),
                    ("checklist", "Checklist item"),
                    ("runbook_step", "Runbook step"),
                    ("postmortem", "Postmortem"),
                    ("routing", "Routing decision"),
                ],
                db_index=True,
                max_length=16,
            ),
        ),
    ]
