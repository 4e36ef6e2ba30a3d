from django.apps import AppConfig


def _announce_membership(sender, instance, **kwargs):
    """A person joining, leaving or changing role in a team changes what they may see: their
    open live streams look at their access again."""
    from common import live

    live.publish(f"access:user:{instance.user_id}")


class TeamsConfig(AppConfig):
    name = "teams"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from teams.models import Membership

        post_save.connect(_announce_membership, sender=Membership, dispatch_uid="teams-live")
        post_delete.connect(_announce_membership, sender=Membership, dispatch_uid="teams-live-del")
