from django.apps import AppConfig


class VigilConfig(AppConfig):
    name = "vigil"
    verbose_name = "Vigil"

    def ready(self):
        from common import live
        from vigil.views import dashboard_channel

        live.register_channel("dashboard", dashboard_channel)
