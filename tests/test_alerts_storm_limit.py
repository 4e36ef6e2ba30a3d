"""A storm of new alert groups opens a bounded number of incidents; the rest gather in one
storm group on one incident, which pages once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, AlertGroup, IntegrationKind
from alerts.services import STORM_GROUP_KEY
from incidents.models import Incident
from paging.models import Escalation
from tests.alerts_fixtures import (
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def generic(settings):
    settings.ALERT_STORM_GROUPS_PER_REQUEST = 5
    settings.ALERT_STORM_GROUPS_PER_MINUTE = 8
    team, _people = oncall_team()
    return integration_for(team, kind=IntegrationKind.GENERIC, name="Batch sender")


def batch(keys, *, severity="critical", status="firing"):
    return {
        "alerts": [
            {
                "title": f"Disk full on node {k:03d}",
                "dedup_key": f"disk-{k:03d}",
                "severity": severity,
                "status": status,
            }
            for k in keys
        ]
    }


def test_one_request_with_a_hundred_keys_opens_five_incidents_and_one_storm(generic, client):
    integration, token = generic
    response = post(client, integration, batch(range(100)), token=token)
    assert response.status_code == 202, response.content
    assert response.json()["storm_alerts"] == 95
    assert Alert.objects.count() == 100  # nothing is dropped
    assert AlertGroup.objects.count() == 6
    storm = AlertGroup.objects.get(group_key=STORM_GROUP_KEY)
    assert storm.alerts.count() == 95
    assert storm.title == "Alert storm from Batch sender"
    assert storm.severity == "critical"
    assert Incident.objects.count() == 6
    assert Escalation.objects.count() == 6
    assert storm.incident.title == "[CRITICAL] Alert storm from Batch sender"


def test_the_limit_per_minute_holds_across_requests_and_later_ones_join_the_storm(generic, client):
    integration, token = generic
    for start in (0, 5):
        response = post(client, integration, batch(range(start, start + 5)), token=token)
        assert response.status_code == 202
    # 10 keys in two requests: 8 groups a minute, the last 2 in the storm group.
    assert AlertGroup.objects.exclude(group_key=STORM_GROUP_KEY).count() == 8
    storm = AlertGroup.objects.get(group_key=STORM_GROUP_KEY)
    assert storm.alerts.count() == 2
    post(client, integration, batch(range(10, 20)), token=token)
    storm.refresh_from_db()
    assert storm.alerts.count() == 12
    assert Incident.objects.count() == 9
    assert Escalation.objects.count() == 9


def test_gathered_alerts_stay_in_the_storm_group_until_they_resolve(generic, client):
    integration, token = generic
    post(client, integration, batch(range(20)), token=token)
    storm = AlertGroup.objects.get(group_key=STORM_GROUP_KEY)
    gathered = list(storm.alerts.values_list("fingerprint", flat=True))
    # A minute later there is room again, but a repeat of gathered alerts still goes there.
    AlertGroup.objects.update(opened_at=timezone.now() - timedelta(minutes=2))
    post(client, integration, batch(range(5, 20)), token=token)
    assert AlertGroup.objects.filter(resolved_at__isnull=True).count() == 6
    post(client, integration, batch(range(5, 20), status="resolved"), token=token)
    storm.refresh_from_db()
    assert storm.resolved_at is not None
    assert set(storm.alerts.values_list("fingerprint", flat=True)) == set(gathered)


def test_the_storm_is_routed_as_its_worst_alert(generic, client):
    integration, token = generic
    alerts = batch(range(10), severity="info")
    alerts["alerts"][-1]["severity"] = "critical"
    post(client, integration, alerts, token=token)
    storm = AlertGroup.objects.get(group_key=STORM_GROUP_KEY)
    assert storm.labels["severity"] == "critical"
    assert storm.incident is not None


def test_alertmanager_groups_one_per_request_count_against_the_minute(settings, client):
    settings.ALERT_STORM_GROUPS_PER_MINUTE = 3
    team, _people = oncall_team()
    integration, token = integration_for(team)
    for k in range(5):
        payload = {
            "version": "4",
            "groupKey": f"g{k}",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": f"Down{k}", "severity": "critical"},
                    "fingerprint": f"fp{k}",
                }
            ],
        }
        assert post(client, integration, payload, token=token).status_code == 202
    assert AlertGroup.objects.exclude(group_key=STORM_GROUP_KEY).count() == 3
    assert AlertGroup.objects.get(group_key=STORM_GROUP_KEY).alerts.count() == 2
    assert Incident.objects.count() == 4
