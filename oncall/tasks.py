"""On-call tasks: thin wrappers that call services. Each is idempotent."""

from celery import shared_task

from oncall import services


@shared_task(name="oncall.tasks.send_shift_reminders", time_limit=60, soft_time_limit=50)
def send_shift_reminders():
    """Beat: remind people before their shift starts (one reminder per shift)."""
    return services.shift_reminders_send()


@shared_task(name="oncall.tasks.raise_gaps", time_limit=60, soft_time_limit=50)
def raise_gaps():
    """Beat: tell managers about upcoming gaps in their schedules (once per gap)."""
    return services.gaps_raise()


@shared_task(
    name="oncall.tasks.swap_request_notify",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
    time_limit=30,
    soft_time_limit=20,
)
def swap_request_notify(swap_id, status="pending"):
    services.swap_request_notify_send(swap_id=swap_id, status=status)
