from django.db import migrations

# The four levels from the incident-response chapter's on-call playbook.
SEVERITIES = [
    (1, "SEV1", "Complete outage", "Complete outage: all users affected.", True, 15),
    (2, "SEV2", "Major degradation", "Major degradation: more than 10% of users affected.",
     True, 30),
    (3, "SEV3", "Minor issue", "Minor issue: fewer than 10% of users affected.", False, None),
    (4, "SEV4", "Non-urgent", "Non-urgent: no user impact.", False, None),
]


def create(apps, schema_editor):
    Severity = apps.get_model("incidents", "Severity")
    for level, name, title, description, pages, cadence in SEVERITIES:
        Severity.objects.update_or_create(
            level=level,
            defaults={"name": name, "title": title, "description": description,
                      "pages": pages, "update_cadence_minutes": cadence},
        )


def remove(apps, schema_editor):
    apps.get_model("incidents", "Severity").objects.filter(
        level__in=[s[0] for s in SEVERITIES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
