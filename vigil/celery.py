"""Vigil's Celery app. Configuration comes from Django settings (CELERY_ namespace)."""

import os

import structlog
from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vigil.settings")

app = Celery("vigil")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("critical"), Queue("default"))
app.autodiscover_tasks()


@setup_logging.connect
def _use_django_logging(**kwargs):
    # Django's settings already configured structlog and the stdlib handlers.
    from django.conf import settings  # noqa: F401


@task_prerun.connect
def _bind_task_id(task_id=None, task=None, **kwargs):
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_id=task_id, task=task.name if task else None)


@task_postrun.connect
def _unbind_task_id(**kwargs):
    structlog.contextvars.clear_contextvars()
