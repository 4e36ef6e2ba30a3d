from django.apps import AppConfig


class ChangesConfig(AppConfig):
    name = "changes"
    verbose_name = "Changes and rollbacks"

    def ready(self):
        from changes.services import changes_put_on_new_incident
        from incidents import signals

        def _declared(sender, incident, **kwargs):
            changes_put_on_new_incident(incident=incident)

        signals.incident_declared.connect(_declared, dispatch_uid="changes_on_new_incident")
