from django.apps import AppConfig


class StatusConfig(AppConfig):
    name = "status"
    verbose_name = "Communications and status pages"

    def ready(self):
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from incidents.models import Incident
        from incidents.panels import register_panel
        from status import models
        from status.caching import pages_changed

        def _changed(sender, **kwargs):
            pages_changed()

        # An incident made private leaves the public pages at once; every row they show too.
        for model in (
            Incident,
            models.StatusPage,
            models.ComponentGroup,
            models.Component,
            models.PublicIncident,
            models.StatusUpdate,
            models.ComponentImpact,
            models.Maintenance,
        ):
            uid = f"status_pages_changed_{model._meta.label_lower}"
            post_save.connect(_changed, sender=model, dispatch_uid=f"{uid}_save", weak=False)
            post_delete.connect(_changed, sender=model, dispatch_uid=f"{uid}_delete", weak=False)
        m2m_changed.connect(
            _changed,
            sender=models.Maintenance.components.through,
            dispatch_uid="status_pages_changed_maintenance_components",
            weak=False,
        )
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
