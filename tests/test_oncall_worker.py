"""On-call reminders through a real Celery worker: one reminder per shift, however often the
task runs."""

import datetime as dt

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from oncall import services
from oncall.models import ShiftReminder
from oncall.services import LayerData
from oncall.tasks import send_shift_reminders
from tests.celery_worker import running_worker, wait_for
from tests.factories import TeamFactory, member

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_the_beat_schedules_reminders_and_gap_notices():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"oncall.tasks.send_shift_reminders", "oncall.tasks.raise_gaps"} <= tasks


def test_a_real_worker_sends_one_reminder_per_shift_however_often_it_runs():
    team = TeamFactory(time_zone="UTC")
    people = [member(team, username=f"w{i}") for i in range(2)]
    soon = (timezone.now() + dt.timedelta(hours=1)).replace(second=0, microsecond=0)
    with transaction.atomic():
        services.schedule_save(
            team=team,
            name="Daily",
            time_zone="UTC",
            layers=[
                LayerData(
                    name="Primary",
                    members=people,
                    start_date=soon.date() - dt.timedelta(days=2),
                    cadence="daily",
                    handoff_time=soon.time(),
                )
            ],
            by=people[0],
        )
    env = {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    with running_worker(env=env):
        for _ in range(3):
            send_shift_reminders.delay()
        reminder = wait_for(lambda: ShiftReminder.objects.filter(sent_at__isnull=False).first())
        wait_for(lambda: False, timeout=2)  # let the other runs finish
    assert reminder is not None
    assert reminder.shift_start == soon
    assert ShiftReminder.objects.count() == 1
