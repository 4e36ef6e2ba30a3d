from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self):
        from alerts.selectors import groups_for_incident
        from incidents.models import EventKind
        from incidents.panels import register_panel

        register_panel(
            "alerts",
            template="alerts/incident_panel.html",
            context=lambda *, incident, user: {
                "alert_groups": groups_for_incident(incident=incident)
            },
            order=20,
            refresh_on={EventKind.ALERT, EventKind.ROUTING, EventKind.STATUS},
        )
