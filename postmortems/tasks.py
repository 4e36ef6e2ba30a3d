from celery import shared_task

from postmortems.services import overdue_digests_send, postmortem_notify_reviewers


@shared_task(
    name="postmortems.tasks.send_overdue_digests",
    acks_late=True,
    time_limit=300,
    soft_time_limit=240,
)
def send_overdue_digests():
    """Daily: overdue action items to their owners, overdue P0s to the team's managers."""
    return overdue_digests_send()


@shared_task(
    name="postmortems.tasks.notify_reviewers", acks_late=True, time_limit=60, soft_time_limit=50
)
def notify_reviewers(postmortem_id):
    """Email a postmortem's reviewers that it waits for them (once per submission)."""
    return postmortem_notify_reviewers(postmortem_id=postmortem_id)
