from django.apps import AppConfig


def _announce_person(sender, instance=None, user=None, **kwargs):
    """A person saved (deactivated, made an administrator) or signed out: their open live
    streams look at their access again."""
    from common import live

    person = user if user is not None else instance
    if person is not None and person.pk is not None:
        live.publish(f"access:user:{person.pk}")


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_save

        post_save.connect(_announce_person, sender=get_user_model(), dispatch_uid="accounts-live")
        user_logged_out.connect(_announce_person, dispatch_uid="accounts-live-logout")
