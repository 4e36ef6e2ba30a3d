from celery import shared_task

from runbooks.services import review_digest_send


@shared_task(name="runbooks.tasks.send_review_digest", time_limit=300, soft_time_limit=240)
def send_review_digest():
    """Weekly (beat): email owners the runbooks not reviewed in 90 days."""
    return review_digest_send()
