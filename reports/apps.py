from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports, on-call health and drills"

    def ready(self):
        from alerts.metrics import registry
        from reports import metrics

        metrics.register(registry)
