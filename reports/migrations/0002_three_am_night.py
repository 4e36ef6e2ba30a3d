"""The built-in scenario: the source document's 3 AM night."""

from django.db import migrations

THREE_AM = {
    "slug": "three-am-night",
    "name": "The 3 AM night",
    "description": (
        "Agent error rate 45% (450 errors/min), normal <0.1%, two minutes after a deploy of "
        "v1.5.2. Acknowledge within 5 minutes, follow the High Error Rate runbook, decide the "
        "rollback, mitigate."
    ),
    "alert_name": "AgentHighErrorRate",
    "severity": "critical",
    "service": "agent-api",
    "labels": {"oncall": "page"},
    "annotations": {"runbook": "/runbooks/high-error-rate/"},
    "value": "45%",
    "change_version": "v1.5.2",
    "change_minutes_before": 3,
}


def add(apps, schema_editor):
    DrillScenario = apps.get_model("reports", "DrillScenario")
    DrillScenario.objects.update_or_create(
        team=None,
        slug=THREE_AM["slug"],
        defaults={k: v for k, v in THREE_AM.items() if k != "slug"},
    )


def remove(apps, schema_editor):
    apps.get_model("reports", "DrillScenario").objects.filter(
        team=None, slug=THREE_AM["slug"]
    ).delete()
    if schema_editor.connection.vendor == "postgresql":
        # The delete leaves deferred foreign-key checks pending; PostgreSQL refuses to alter
        # the table (the next migration back) in the same transaction until they have run.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):
    dependencies = [("reports", "0001_initial")]

    operations = [migrations.RunPython(add, remove)]
