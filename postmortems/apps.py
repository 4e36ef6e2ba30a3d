from django.apps import AppConfig


class PostmortemsConfig(AppConfig):
    name = "postmortems"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from incidents import signals as incident_signals
        from incidents.models import EventKind
        from incidents.panels import register_panel
        from postmortems import receivers, selectors

        incident_signals.incident_status_changed.connect(
            receivers.draft_postmortem_on_resolve, dispatch_uid="postmortems.auto_draft"
        )
        register_panel(
            "postmortem",
            template="postmortems/incident_panel.html",
            context=selectors.incident_panel_context,
            order=60,
            # Resolving offers (or drafts) the postmortem; its own events say what became of it;
            # the similar past incidents are found by the affected services (an impact change).
            refresh_on={EventKind.STATUS, EventKind.POSTMORTEM, EventKind.IMPACT},
        )
