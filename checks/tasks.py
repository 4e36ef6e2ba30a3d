import socket

import structlog
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from checks import services
from checks.models import Heartbeat

logger = structlog.get_logger(__name__)


@shared_task(name="checks.tasks.beat_heartbeat", time_limit=10, soft_time_limit=5)
def beat_heartbeat():
    """Scheduled by beat, run by a worker: a fresh row means both are alive."""
    Heartbeat.objects.update_or_create(
        name="beat", defaults={"at": timezone.now(), "worker": socket.gethostname()}
    )


# A tick runs batches for about CHECKS_TICK_SECONDS; one batch lasts at most the longest
# timeout (60 s) and the grace, so the limits leave room for a last batch and the recording.
@shared_task(name="checks.tasks.run_due_checks", time_limit=150, soft_time_limit=120)
def run_due_checks():
    """Scheduled by beat: run the checks whose interval is up. Idempotent: a check is claimed
    (moved to its next run) before it runs, so a second tick or worker skips it."""
    summary = services.run_due_checks(budget_seconds=settings.CHECKS_TICK_SECONDS)
    if summary["ran"]:
        logger.info("checks_ran", **summary)
    return summary
