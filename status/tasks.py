import structlog
from celery import shared_task

from status import subscribers

logger = structlog.get_logger(__name__)


# A batch is at most 500 notices sent in chunks of 50; each mail or webhook waits at most
# EMAIL_TIMEOUT / 10 s, so a slow receiver shows up as retries, not a killed task.
@shared_task(name="status.tasks.notices_send", time_limit=900, soft_time_limit=840)
def notices_send(notice_ids):
    """Send a batch of subscriber notices. Idempotent: only pending notices are sent, each
    chunk locked with skip locked, so a duplicate message or a second worker sends none
    twice."""
    counts = subscribers.notices_send(notice_ids)
    logger.info("subscriber_notices_sent", **counts)
    return counts


@shared_task(name="status.tasks.notices_requeue_due", time_limit=60, soft_time_limit=45)
def notices_requeue_due():
    """Scheduled by beat: pending notices whose retry is due, or whose batch was lost, go
    to the broker again."""
    return subscribers.notices_requeue_due()
