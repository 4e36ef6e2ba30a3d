"""A real Celery worker with beat: the scheduled scan finds stale jobs, the alert appears in
Vigil with its incident, and resolves once the jobs are gone."""

import pytest
from django.utils import timezone

from alerts.models import AlertGroup, GroupStatus, IntegrationKind
from jobstores.models import RunTrigger, ScanRun
from tests.alerts_fixtures import fast_passwords  # noqa: F401
from tests.celery_worker import running_worker, wait_for
from tests.jobstores_fixtures import seed_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_the_scheduled_scan_raises_the_alert_and_resolves_it(store, watched):
    now = timezone.now()
    seed_job(watched, "stuck", age=900, now=now)
    env = {"JOBSTORES_SCAN_EVERY": "1", "CHECKS_TICK_SECONDS": "60"}
    with running_worker(beat=True, env=env):
        group = wait_for(
            lambda: AlertGroup.objects.filter(
                integration__kind=IntegrationKind.INTERNAL, status=GroupStatus.FIRING
            ).first(),
            timeout=45,
        )
        assert group is not None, "no stale-jobs alert from the scheduled scan"
        assert group.incident is not None
        assert ScanRun.objects.filter(store=store, trigger=RunTrigger.SCHEDULE).exists()
        # The job finishes: the next scheduled scan resolves the alert.
        seed_job(watched, "stuck", status="completed", age=900, now=now)
        resolved = wait_for(
            lambda: AlertGroup.objects.filter(pk=group.pk, status=GroupStatus.RESOLVED).exists(),
            timeout=45,
        )
    assert resolved
