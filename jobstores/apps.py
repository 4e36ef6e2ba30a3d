from django.apps import AppConfig


class JobstoresConfig(AppConfig):
    name = "jobstores"
    verbose_name = "Agent job stores"
