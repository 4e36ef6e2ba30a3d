from django.apps import AppConfig


class StatusConfig(AppConfig):
    name = "status"
    verbose_name = "Communications and status pages"

    def ready(self):
        from incidents.panels import register_panel
        from status.views import PANEL_REFRESH, panel_context

        register_panel(
            "communications",
            template="status/incident_panel.html",
            context=panel_context,
            order=30,
            placement="side",
            refresh_on=PANEL_REFRESH,
            jump="Communications",
        )
