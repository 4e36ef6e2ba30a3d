"""A group that resolves and fires again is the same cause: it joins its open incident, or
reopens it shortly after it was resolved, rather than opening (and paging for) a new one.
Driven through the webhook with the real Alertmanager payloads."""

import datetime as dt

import pytest
import time_machine

from alerts.models import AlertGroup, Decision
from incidents.models import EventKind, Incident, Status
from incidents.services import incident_change_status
from paging.models import Escalation, EscalationStatus, Notification, Page
from paging.services import engine_tick
from teams.models import TeamRouting
from tests.alerts_fixtures import (
    clone,
    fast_passwords,  # noqa: F401, E402 (an autouse fixture)
    firing_payload,
    integration_for,
    oncall_team,
    post,
)

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 26, 15, 20, tzinfo=dt.UTC)


def resolution_of(payload):
    """What Alertmanager sends for the same group once nothing fires any more."""
    resolved = clone(payload)
    resolved["status"] = "resolved"
    for alert in resolved["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2026-11-26T15:25:00Z"
    return resolved


@pytest.fixture
def setup():
    team, people = oncall_team()
    integration, token = integration_for(team)
    return team, people, integration, token


def _send(client, setup, payload, at):
    _team, _people, integration, token = setup
    with time_machine.travel(at, tick=False):
        assert post(client, integration, payload, token=token).status_code == 202
        engine_tick()


def _fire_and_resolve(client, setup):
    _send(client, setup, firing_payload(), T0)
    _send(client, setup, resolution_of(firing_payload()), T0 + dt.timedelta(minutes=5))
    return Incident.objects.get()


def test_a_re_fire_while_the_incident_is_open_joins_it_and_pages_nobody_again(client, setup):
    incident = _fire_and_resolve(client, setup)
    assert incident.status == Status.TRIGGERED
    pages = Page.objects.count()
    notifications = Notification.objects.filter(purpose="page").count()
    assert pages > 0

    _send(client, setup, firing_payload(), T0 + dt.timedelta(minutes=7))
    _send(client, setup, firing_payload(), T0 + dt.timedelta(minutes=20))

    assert Incident.objects.count() == 1
    groups = AlertGroup.objects.order_by("opened_at")
    assert [g.incident_id for g in groups] == [incident.pk, incident.pk]
    assert groups[1].decision == Decision.FIRED_AGAIN
    again = incident.events.get(kind=EventKind.ALERT, data__fired_again=True)
    assert "**AlwaysFiring** fired again" in again.body
    assert "nobody is paged again" in again.body
    assert Page.objects.count() == pages
    assert Notification.objects.filter(purpose="page").count() == notifications
    assert Escalation.objects.count() == 1


@pytest.mark.parametrize(("window", "after"), [(None, 10), (None, 30), (60, 45)])
def test_a_re_fire_soon_after_the_incident_was_resolved_reopens_it(client, setup, window, after):
    team, people, _integration, _token = setup
    if window is not None:
        TeamRouting.objects.update_or_create(team=team, defaults={"reopen_window_minutes": window})
    incident = _fire_and_resolve(client, setup)
    resolved_at = T0 + dt.timedelta(minutes=6)
    with time_machine.travel(resolved_at, tick=False):
        incident_change_status(incident=incident, status=Status.RESOLVED, by=people["primary"])
    first_pages = Page.objects.count()

    _send(client, setup, firing_payload(), resolved_at + dt.timedelta(minutes=after))

    assert Incident.objects.count() == 1
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED
    assert incident.resolved_at is None and incident.acknowledged_at is None
    reopened = incident.events.get(kind=EventKind.STATUS, data__reopened=True)
    assert reopened.body == (
        f"Vigil reopened the incident: alert **AlwaysFiring** fired again {after} min "
        "after it was resolved"
    )
    assert AlertGroup.objects.filter(incident=incident).count() == 2
    # Paging starts over from the first step, as for a new incident.
    escalation = Escalation.objects.get()
    assert escalation.status == EscalationStatus.ACTIVE
    assert Page.objects.count() > first_pages
    assert incident.events.filter(kind=EventKind.PAGE).count() == 2


def test_a_re_fire_past_the_window_opens_a_new_incident(client, setup):
    _team, people, _integration, _token = setup
    incident = _fire_and_resolve(client, setup)
    resolved_at = T0 + dt.timedelta(minutes=6)
    with time_machine.travel(resolved_at, tick=False):
        incident_change_status(incident=incident, status=Status.RESOLVED, by=people["primary"])

    _send(client, setup, firing_payload(), resolved_at + dt.timedelta(minutes=31))

    assert Incident.objects.count() == 2
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert not incident.events.filter(data__reopened=True).exists()
    assert Escalation.objects.count() == 2


def test_a_window_of_zero_never_reopens(client, setup):
    team, people, _integration, _token = setup
    TeamRouting.objects.update_or_create(team=team, defaults={"reopen_window_minutes": 0})
    incident = _fire_and_resolve(client, setup)
    resolved_at = T0 + dt.timedelta(minutes=6)
    with time_machine.travel(resolved_at, tick=False):
        incident_change_status(incident=incident, status=Status.RESOLVED, by=people["primary"])
    _send(client, setup, firing_payload(), resolved_at + dt.timedelta(minutes=1))
    assert Incident.objects.count() == 2


def test_a_reopened_incident_tells_pagerduty_of_its_second_acknowledge_and_resolve(client, setup):
    team, people, _integration, _token = setup
    TeamRouting.objects.update_or_create(team=team, defaults={"pagerduty_routing_key": "R0UT1NG"})
    incident = _fire_and_resolve(client, setup)
    resolved_at = T0 + dt.timedelta(minutes=6)
    with time_machine.travel(resolved_at, tick=False):
        incident_change_status(incident=incident, status=Status.RESOLVED, by=people["primary"])
    _send(client, setup, firing_payload(), resolved_at + dt.timedelta(minutes=10))
    incident.refresh_from_db()
    with time_machine.travel(resolved_at + dt.timedelta(minutes=12), tick=False):
        incident_change_status(incident=incident, status=Status.ACKNOWLEDGED, by=people["primary"])
        incident_change_status(incident=incident, status=Status.RESOLVED, by=people["primary"])

    sent = Notification.objects.filter(incident=incident, channel="pagerduty")
    purposes = list(sent.order_by("id").values_list("purpose", flat=True))
    assert purposes.count("trigger") == 2
    assert purposes.count("resolve") == 2
    assert purposes[-2:] == ["acknowledge", "resolve"]
    assert len(set(sent.values_list("key", flat=True))) == len(purposes)
