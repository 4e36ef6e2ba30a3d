from celery import shared_task

from paging import delivery, services


@shared_task(name="paging.tasks.engine_tick", ignore_result=True, time_limit=50, soft_time_limit=45)
def engine_tick(requested_at=None):
    # A tick asked for after a commit is dropped when another one started since then.
    if requested_at is not None and services.tick_started_since(requested_at):
        return {"advanced": 0, "requeued": 0, "dropped": True}
    services.tick_mark_started()
    return services.engine_tick()


@shared_task(
    name="paging.tasks.deliver_notification",
    ignore_result=True,
    time_limit=60,
    soft_time_limit=50,
)
def deliver_notification(notification_id):
    # Retries are rows with a next_attempt_at the tick hands out again, never a Celery ETA.
    return delivery.deliver(notification_id)
