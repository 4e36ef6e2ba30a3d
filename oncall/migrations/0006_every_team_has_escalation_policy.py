"""Every team gets the seed document's default escalation path when it is made
(oncall.receivers); teams made before that and still without one get it here, so the paging
engine and the escalation page only read policies."""

from django.db import migrations

# The default path as it was when this migration was written (oncall.services
# escalation_policy_default): primary, then secondary after 5 minutes, then the lead.
DEFAULT_STEPS = [(0, "layer", "Primary", 5), (1, "layer", "Secondary", 10), (2, "lead", "", 15)]


def give_policies(apps, schema_editor):
    Team = apps.get_model("teams", "Team")
    Layer = apps.get_model("oncall", "Layer")
    EscalationPolicy = apps.get_model("oncall", "EscalationPolicy")
    EscalationStep = apps.get_model("oncall", "EscalationStep")
    for team in Team.objects.filter(escalation_policies__isnull=True):
        policy = EscalationPolicy.objects.create(
            team=team, name="Default (seed document)", repeat=1
        )
        layers = Layer.objects.filter(schedule__team=team).order_by("schedule__name", "schedule_id")
        steps = []
        for position, kind, layer_name, wait in DEFAULT_STEPS:
            layer = None
            if kind == "layer":
                layer = (
                    layers.filter(name=layer_name).first()
                    or layers.filter(position=position).first()
                )
            steps.append(
                EscalationStep(
                    policy=policy,
                    position=position,
                    target_kind=kind,
                    layer=layer,
                    wait_minutes=wait,
                )
            )
        EscalationStep.objects.bulk_create(steps)


class Migration(migrations.Migration):
    dependencies = [("oncall", "0005_team_model_left_to_teams"), ("teams", "0002_every_team_has_routing")]

    operations = [migrations.RunPython(give_policies, migrations.RunPython.noop)]
