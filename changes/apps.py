from django.apps import AppConfig


class ChangesConfig(AppConfig):
    name = "changes"
    verbose_name = "Changes and rollbacks"

    def ready(self):
        from changes import recovery
        from changes.services import changes_put_on_new_incident
        from changes.views import (
            CHANGES_PANEL_REFRESH,
            ROLLBACK_PANEL_REFRESH,
            changes_panel_context,
            rollback_panel_context,
        )
        from incidents import signals
        from incidents.models import Status
        from incidents.panels import register_panel

        def _declared(sender, incident, **kwargs):
            changes_put_on_new_incident(incident=incident)

        def _status_changed(sender, incident, new, by=None, **kwargs):
            # After a mitigation, as after a rollback: is it working?
            if new == Status.MITIGATED:
                recovery.watch_start(incident=incident, trigger="Marked mitigated", by=by)

        # Strong references: these receivers live only in this function.
        signals.incident_declared.connect(
            _declared, dispatch_uid="changes_on_new_incident", weak=False
        )
        signals.incident_status_changed.connect(
            _status_changed, dispatch_uid="changes_recovery_on_mitigated", weak=False
        )
        register_panel(
            "changes",
            template="changes/incident_changes.html",
            context=changes_panel_context,
            order=15,
            placement="top",
            refresh_on=CHANGES_PANEL_REFRESH,
            jump="Recent changes",
        )
        register_panel(
            "rollback",
            template="changes/incident_rollback.html",
            context=rollback_panel_context,
            order=16,
            placement="top",
            refresh_on=ROLLBACK_PANEL_REFRESH,
            jump="Rollback advice",
        )
