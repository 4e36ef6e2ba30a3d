from celery import shared_task

from common import enqueue


@shared_task(
    name="common.tasks.outbox_flush", ignore_result=True, time_limit=60, soft_time_limit=50
)
def outbox_flush():
    """Beat: publish the tasks a broker outage (or a lost process) left in the outbox."""
    return enqueue.outbox_flush()
