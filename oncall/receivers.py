"""Defaults on-call makes where what they belong to is made: every team gets the seed
document's default escalation path, and a new layer fills that path's empty layer steps."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from oncall.models import Layer
from oncall.services import escalation_policy_default
from teams.models import Team


@receiver(post_save, sender=Team, dispatch_uid="oncall.team_default_escalation_policy")
def team_gets_default_escalation_policy(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        escalation_policy_default(team=instance)


@receiver(post_save, sender=Layer, dispatch_uid="oncall.layer_fills_default_path")
def layer_fills_default_path(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        escalation_policy_default(team=instance.schedule.team)
