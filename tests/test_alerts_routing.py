import datetime as dt
import zoneinfo

import pytest
import time_machine

from alerts.models import AlertGroup, Decision
from alerts.routing import decide
from incidents.models import EventKind
from paging.models import Escalation, Notification
from teams.models import TeamRouting
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401, E402 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)

pytestmark = pytest.mark.django_db
NY = zoneinfo.ZoneInfo("America/New_York")


def _at(day, hour, minute):
    # 2026-11-27 is a Friday, 2026-11-30 a Monday.
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=NY)


@pytest.fixture
def routing():
    team, _ = oncall_team(time_zone="America/New_York")
    TeamRouting.objects.filter(team=team).update(
        incidents_webhook_url="http://127.0.0.1:9/incidents",
        oncall_webhook_url="http://127.0.0.1:9/oncall",
        alerts_webhook_url="http://127.0.0.1:9/alerts",
    )
    return TeamRouting.objects.get(team=team)


@pytest.mark.parametrize(
    ("when", "pages"),
    [
        (_at(27, 16, 59), True),
        (_at(27, 17, 0), False),
        (_at(30, 8, 59), False),
        (_at(30, 9, 0), True),
        (_at(28, 12, 0), False),  # Saturday
    ],
)
def test_a_warning_pages_only_in_the_teams_business_hours(routing, when, pages):
    route = decide(
        labels={"severity": "warning"}, routing=routing, time_zone="America/New_York", at=when
    )
    assert route.page is pages
    assert route.channel == (None if pages else "oncall")


def test_business_hours_follow_the_team_time_zone_not_utc(routing):
    # 16:30 in New York is 21:30 UTC: still business hours for the team.
    when = dt.datetime(2026, 11, 27, 21, 30, tzinfo=dt.UTC)
    route = decide(
        labels={"severity": "warning"}, routing=routing, time_zone="America/New_York", at=when
    )
    assert route.page


def test_critical_pages_now_and_posts_to_incidents(routing):
    route = decide(
        labels={"severity": "critical"}, routing=routing, time_zone="UTC", at=_at(28, 3, 0)
    )
    assert route.page and route.channel == "incidents" and route.opens_incident


def test_info_posts_to_alerts_only(routing):
    route = decide(labels={"severity": "info"}, routing=routing, time_zone="UTC", at=_at(30, 10, 0))
    assert not route.page and route.channel == "alerts" and not route.opens_incident


def test_the_oncall_label_overrides(routing):
    night = _at(28, 3, 0)
    paged = decide(
        labels={"severity": "warning", "oncall": "page"}, routing=routing, time_zone="UTC", at=night
    )
    assert paged.page and paged.override == "page"
    slack = decide(
        labels={"severity": "critical", "oncall": "slack"},
        routing=routing,
        time_zone="UTC",
        at=night,
    )
    assert not slack.page and slack.channel == "incidents"


@pytest.mark.parametrize(
    ("when", "decision"),
    [(_at(27, 16, 59), Decision.PAGE_BUSINESS_HOURS), (_at(27, 17, 0), Decision.ONCALL_CHANNEL)],
)
def test_an_ingested_warning_is_routed_by_the_clock_and_recorded(routing, client, when, decision):
    integration, token = integration_for(routing.team)
    with time_machine.travel(when, tick=False):
        post(
            client,
            integration,
            am_payload(name="AgentQueueDepthHigh", severity="warning"),
            token=token,
        )
    group = AlertGroup.objects.get()
    assert group.decision == decision
    assert group.incident.severity.name == "SEV2"
    event = group.incident.events.get(kind=EventKind.ROUTING)
    assert event.data["decision"] == decision
    assert Escalation.objects.exists() is (decision == Decision.PAGE_BUSINESS_HOURS)
    chat = Notification.objects.filter(purpose="chat")
    if decision == Decision.ONCALL_CHANNEL:
        assert chat.get().target.endswith("/oncall")
        assert chat.get().payload["blocks"][0]["type"] == "header"
    else:
        assert not chat.exists()


def test_an_info_alert_opens_no_incident_and_posts_to_alerts(routing, client):
    integration, token = integration_for(routing.team)
    post(client, integration, am_payload(name="AgentLowCacheHitRate", severity="info"), token=token)
    group = AlertGroup.objects.get()
    assert group.incident is None and group.decision == Decision.ALERTS_CHANNEL
    assert Notification.objects.get().target.endswith("/alerts")


def test_an_info_alert_labelled_oncall_page_pages_the_on_call(routing, client):
    from paging.models import Page
    from paging.services import engine_tick

    integration, token = integration_for(routing.team)
    payload = am_payload(name="AgentLowCacheHitRate", severity="info", extra={"oncall": "page"})
    post(client, integration, payload, token=token)
    group = AlertGroup.objects.get()
    assert group.decision == Decision.PAGE
    incident = group.incident
    assert incident is not None and incident.severity.name == "SEV4"
    routed = incident.events.get(kind=EventKind.ROUTING)
    assert routed.body == (
        "Routing (severity info, label oncall=page): paging the on-call now and posting to #alerts"
    )
    assert Escalation.objects.filter(incident=incident).exists()
    engine_tick()
    assert Page.objects.filter(incident=incident).exists()
    assert incident.events.get(kind=EventKind.PAGE).body.startswith("Paged ")
    assert Notification.objects.filter(purpose="chat").get().target.endswith("/alerts")
