"""A real Celery worker, against the local Redis, runs a task that writes to the database."""

import pytest

from checks.models import Heartbeat
from checks.tasks import beat_heartbeat
from tests.celery_worker import running_worker, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_real_worker_runs_a_task_that_writes_to_the_database():
    assert not Heartbeat.objects.exists()
    with running_worker():
        beat_heartbeat.delay()
        beat = wait_for(lambda: Heartbeat.objects.filter(name="beat").first())
    assert beat is not None
    assert beat.worker


def test_a_real_beat_schedules_the_heartbeat_by_itself():
    with running_worker(beat=True):
        assert wait_for(lambda: Heartbeat.objects.filter(name="beat").exists(), timeout=30)


def test_every_task_can_be_enqueued_with_its_time_limits():
    # A task whose time_limit is below the default soft limit cannot even be sent.
    from celery import current_app as app  # Vigil's, once Django is set up
    from django.conf import settings

    app.loader.import_default_modules()
    for name, task in app.tasks.items():
        if name.startswith("celery."):
            continue
        hard = task.time_limit or settings.CELERY_TASK_TIME_LIMIT
        soft = task.soft_time_limit or settings.CELERY_TASK_SOFT_TIME_LIMIT
        assert soft <= hard, name
