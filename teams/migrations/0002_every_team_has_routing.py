"""Every team has its routing settings from when it is made (Team.save); teams made before
get theirs here, with the defaults, so reading them never writes."""

from django.db import migrations


def give_routing(apps, schema_editor):
    Team = apps.get_model("teams", "Team")
    TeamRouting = apps.get_model("teams", "TeamRouting")
    missing = Team.objects.filter(routing__isnull=True).values_list("pk", flat=True)
    TeamRouting.objects.bulk_create([TeamRouting(team_id=pk) for pk in missing])


class Migration(migrations.Migration):
    dependencies = [("teams", "0001_initial")]

    operations = [migrations.RunPython(give_routing, migrations.RunPython.noop)]
