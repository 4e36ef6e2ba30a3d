"""Celery tasks of the update cadence (status/tasks.py holds the other communications tasks)."""

import structlog
from celery import shared_task

from status import cadence

logger = structlog.get_logger(__name__)


@shared_task(name="status.cadence_tasks.update_cadence_tick", time_limit=60, soft_time_limit=45)
def update_cadence_tick():
    """Scheduled by beat: remind whoever speaks for each incident whose update is overdue.
    Idempotent: a due time's reminder is a unique row, so a second tick or worker skips it."""
    sent = cadence.reminders_send_due()
    if sent:
        logger.info("update_reminders_sent", reminders=sent)
    return sent
