from celery import shared_task

from postmortems.services import overdue_digests_send


@shared_task(name="postmortems.tasks.send_overdue_digests", acks_late=True, time_limit=300)
def send_overdue_digests():
    """Daily: overdue action items to their owners, overdue P0s to the team's managers."""
    return overdue_digests_send()
