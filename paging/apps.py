from django.apps import AppConfig


class PagingConfig(AppConfig):
    name = "paging"
    verbose_name = "Paging"

    def ready(self):
        from common import live
        from incidents import signals
        from incidents.models import EventKind
        from incidents.panels import register_panel
        from paging import services
        from paging.selectors import delivery_log_for
        from paging.views import BellChannel, bell_versions

        live.register_person_channel(BellChannel)
        live.register_versions("user", bell_versions)

        signals.incident_status_changed.connect(
            services.on_incident_status_changed, dispatch_uid="paging_status_changed"
        )
        signals.incident_declared.connect(
            services.on_incident_declared, dispatch_uid="paging_incident_declared"
        )
        register_panel(
            "paging",
            template="paging/incident_panel.html",
            context=lambda *, incident, user: delivery_log_for(incident=incident, user=user),
            order=25,
            # Escalation state and the delivery log: pages sent, acknowledged, stopped.
            refresh_on={
                EventKind.DECLARED,
                EventKind.ALERT,
                EventKind.ROUTING,
                EventKind.PAGE,
                EventKind.ACK,
                EventKind.STATUS,
            },
        )
