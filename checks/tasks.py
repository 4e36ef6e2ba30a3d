import socket

from celery import shared_task
from django.utils import timezone

from checks.models import Heartbeat


@shared_task(name="checks.tasks.beat_heartbeat", time_limit=10, soft_time_limit=5)
def beat_heartbeat():
    """Scheduled by beat, run by a worker: a fresh row means both are alive."""
    Heartbeat.objects.update_or_create(
        name="beat", defaults={"at": timezone.now(), "worker": socket.gethostname()}
    )
