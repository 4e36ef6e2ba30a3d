"""An alert storm: 10,000 alerts over 100 group keys from 20 concurrent senders against
Vigil under uvicorn with several worker processes, then concurrent engine ticks."""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.models import Count

from alerts.models import Alert, AlertGroup
from incidents.models import Incident
from paging.models import Escalation, Page, StepRun
from paging.services import engine_tick
from tests.alerts_fixtures import (
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
)
from tests.paging_fakes import http_post, running_web

WEB_PORT = 18630


def _payloads():
    payloads = []
    for j in range(1000):
        key, batch = j % 100, j // 100
        alerts = [
            {
                "status": "firing",
                "labels": {"alertname": f"Storm{key}", "severity": "critical", "n": f"{batch}-{m}"},
                "annotations": {"summary": f"storm key {key}"},
                "fingerprint": f"k{key}-b{batch}-{m}",
            }
            for m in range(10)
        ]
        payloads.append({"version": "4", "groupKey": f"storm-{key}", "alerts": alerts})
    random.Random(5).shuffle(payloads)
    return payloads


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_storm_of_ten_thousand_alerts_makes_exactly_one_hundred_groups_and_pages_once():
    team, people = oncall_team(contacts=False)
    integration, token = integration_for(team)
    url = f"http://127.0.0.1:{WEB_PORT}{integration.webhook_path()}"
    headers = {"Authorization": f"Bearer {token}"}
    payloads = _payloads()
    with (
        # The storm limit is lifted here: this is about 100 groups made exactly once each.
        running_web(
            WEB_PORT,
            env={"REDIS_URL": django_settings.REDIS_URL, "ALERT_STORM_GROUPS_PER_MINUTE": "1000"},
            workers=4,
        ),
        ThreadPoolExecutor(max_workers=20) as pool,
    ):
        statuses = list(pool.map(lambda p: http_post(url, p, headers=headers)[0], payloads))
    assert statuses.count(202) == 1000, {s: statuses.count(s) for s in set(statuses)}
    assert AlertGroup.objects.count() == 100
    assert Alert.objects.count() == 10_000
    assert Incident.objects.count() == 100
    assert Escalation.objects.count() == 100

    # Four ticks at once, twice: every group's first step runs exactly once.
    def tick():
        try:
            engine_tick()
        finally:
            connection.close()

    for _ in range(2):
        threads = [threading.Thread(target=tick) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert StepRun.objects.count() == 100
    per_step = Page.objects.values("escalation_id", "step_run__number", "user_id").annotate(
        n=Count("id")
    )
    assert max(row["n"] for row in per_step) == 1
    assert Page.objects.count() == 100
    assert set(Page.objects.values_list("user__username", flat=True)) == {"platform-primary"}
