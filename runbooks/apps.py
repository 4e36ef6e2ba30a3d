from django.apps import AppConfig


class RunbooksConfig(AppConfig):
    name = "runbooks"
    verbose_name = "Runbooks"

    def ready(self):
        from incidents.panels import register_panel
        from runbooks.selectors import incident_panel_context

        register_panel(
            "runbooks",
            template="runbooks/incident_panel.html",
            context=incident_panel_context,
            order=10,
            placement="top",
        )
