"""Incidents made before the response checklist existed get theirs here, ticked where their
timelines show what Vigil recorded, so the incident page only reads the checklist."""

import importlib

from django.db import migrations

from incidents.models import RECORDED_FACTS, RESPONSE_CHECKLIST

ticks = importlib.import_module("incidents.migrations.0009_checklist_ticked_by_vigil")


def give_checklists(apps, schema_editor):
    Incident = apps.get_model("incidents", "Incident")
    ChecklistItem = apps.get_model("incidents", "ChecklistItem")
    missing = Incident.objects.filter(checklist__isnull=True).values_list("pk", flat=True)
    rows = []
    for incident_id in missing.iterator():
        position = 0
        for phase, _, _, texts in RESPONSE_CHECKLIST:
            for text in texts:
                position += 1
                rows.append(
                    ChecklistItem(
                        incident_id=incident_id,
                        phase=phase,
                        position=position,
                        text=text,
                        fact=RECORDED_FACTS.get(text, ""),
                    )
                )
    if rows:
        ChecklistItem.objects.bulk_create(rows, batch_size=1000)
        ticks.tick_what_vigil_recorded(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0010_team_moves_to_teams")]

    operations = [migrations.RunPython(give_checklists, migrations.RunPython.noop)]
