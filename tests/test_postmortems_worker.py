"""The daily overdue digest runs on a real Celery worker; a second delivery sends nothing."""

import datetime as dt
from pathlib import Path

import pytest

from incidents.models import Status
from postmortems.models import ActionItem, DigestSent
from postmortems.tasks import send_overdue_digests
from teams.models import Role
from tests.celery_worker import running_worker, wait_for
from tests.factories import IncidentFactory, TeamFactory, member

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_real_worker_sends_one_digest_per_person_even_when_the_task_runs_twice():
    team = TeamFactory()
    owner = member(team)
    manager = member(team, role=Role.MANAGER)
    incident = IncidentFactory(team=team, status=Status.RESOLVED)
    ActionItem.objects.create(
        incident=incident,
        team=team,
        title="Add integration test for expired tokens",
        owner=owner,
        due_date=dt.date.today() - dt.timedelta(days=1),
        priority="P0",
    )
    env = {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    with running_worker(env=env) as worker:
        send_overdue_digests.delay()
        send_overdue_digests.delay()
        assert wait_for(lambda: DigestSent.objects.count() == 2)
        assert wait_for(
            lambda: Path(worker.log_path).read_text().count("send_overdue_digests") >= 4
        )  # both deliveries received and finished
    recipients = set(DigestSent.objects.values_list("recipient_id", flat=True))
    assert recipients == {owner.pk, manager.pk}
    assert DigestSent.objects.count() == 2
