from django.apps import AppConfig


class RunbooksConfig(AppConfig):
    name = "runbooks"
    verbose_name = "Runbooks"

    def ready(self):
        from incidents.models import EventKind
        from incidents.panels import register_panel
        from runbooks.selectors import incident_panel_context

        register_panel(
            "runbooks",
            template="runbooks/incident_panel.html",
            context=incident_panel_context,
            order=10,
            placement="top",
            jump="Runbook",
            # Runbooks are offered by the incident's alerts; ticks move the progress.
            refresh_on={EventKind.ALERT, EventKind.RUNBOOK_STEP},
        )
