from django.apps import AppConfig


class OncallConfig(AppConfig):
    name = "oncall"
    verbose_name = "On-call"

    def ready(self):
        # Connects the receivers; models are importable only once the registry is ready.
        from oncall import receivers  # noqa: F401
