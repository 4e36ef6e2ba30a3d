from django.apps import AppConfig


class CommonConfig(AppConfig):
    """Ground floor shared by every app; imports none of them."""

    name = "common"
    verbose_name = "Common"
