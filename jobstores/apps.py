from django.apps import AppConfig


class JobstoresConfig(AppConfig):
    name = "jobstores"
    verbose_name = "Agent job stores"

    def ready(self):
        from common import live
        from incidents.models import EventKind
        from incidents.panels import register_panel
        from jobstores.selectors import flags_for_incident
        from jobstores.views import scan_channel, scan_versions

        live.register_channel("jobstore", scan_channel)
        live.register_versions("jobstore", scan_versions)

        register_panel(
            "jobstore_flags",
            template="jobstores/incident_panel.html",
            context=lambda *, incident, user: {"flags": flags_for_incident(incident)},
            order=40,
            refresh_on={EventKind.MITIGATION},
        )
