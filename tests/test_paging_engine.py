import datetime as dt

import pytest
import time_machine
from django.core import signing

from incidents.models import EventKind, Status
from incidents.services import incident_change_status
from paging.messages import ACK_SALT
from paging.models import Escalation, EscalationStatus, Notification, Page, StepRun
from paging.services import engine_tick
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401, E402 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)


@pytest.fixture
def paged(client):
    team, people = oncall_team()
    integration, token = integration_for(team)
    with time_machine.travel(T0, tick=False):
        assert post(client, integration, am_payload(), token=token).status_code == 202
    escalation = Escalation.objects.get()
    return escalation, people


def _tick_at(minutes, seconds=0):
    with time_machine.travel(T0 + dt.timedelta(minutes=minutes, seconds=seconds), tick=False):
        engine_tick()


def _paged_users():
    return [p.user.username for p in Page.objects.order_by("created_at", "id")]


def test_it_pages_primary_at_once_secondary_at_five_and_the_lead_at_fifteen(paged):
    escalation, people = paged
    _tick_at(0)
    assert _paged_users() == ["platform-primary"]
    _tick_at(4, 59)
    assert _paged_users() == ["platform-primary"]
    _tick_at(5)
    assert _paged_users() == ["platform-primary", "platform-secondary"]
    _tick_at(14, 59)
    assert len(_paged_users()) == 2
    _tick_at(15)
    assert _paged_users() == ["platform-primary", "platform-secondary", "platform-lead"]
    _tick_at(60)
    assert len(_paged_users()) == 3
    runs = list(StepRun.objects.order_by("number"))
    assert [r.lateness for r in runs] == [0.0, 0.0, 0.0]
    escalation.refresh_from_db()
    assert escalation.status == EscalationStatus.EXHAUSTED


def test_each_page_writes_a_page_event_and_outbox_rows(paged):
    escalation, people = paged
    _tick_at(0)
    events = escalation.incident.events.filter(kind=EventKind.PAGE)
    assert events.get().data["users"] == ["platform-primary"]
    channels = set(Notification.objects.filter(purpose="page").values_list("channel", flat=True))
    assert channels == {"in_app", "email"}


def test_nothing_is_paged_after_an_acknowledgement(paged):
    escalation, people = paged
    _tick_at(0)
    _tick_at(5)
    with time_machine.travel(T0 + dt.timedelta(minutes=6), tick=False):
        incident_change_status(
            incident=escalation.incident, status=Status.ACKNOWLEDGED, by=people["secondary"]
        )
    _tick_at(15)
    _tick_at(90)
    assert _paged_users() == ["platform-primary", "platform-secondary"]
    escalation.refresh_from_db()
    assert escalation.status == EscalationStatus.ACKNOWLEDGED
    assert escalation.time_to_acknowledge == dt.timedelta(minutes=6)
    assert escalation.acknowledged_by == people["secondary"]
    ack = escalation.incident.events.get(kind=EventKind.ACK)
    assert ack.data["time_to_acknowledge_seconds"] == 360


def test_a_late_tick_runs_the_step_late_but_never_early(paged):
    _tick_at(0)
    _tick_at(7)
    run = StepRun.objects.get(number=2)
    assert run.lateness == 120.0
    assert run.scheduled_at == T0 + dt.timedelta(minutes=5)
    _tick_at(14, 59)
    assert StepRun.objects.count() == 2


def test_two_ticks_at_once_page_each_step_once(paged):
    _tick_at(0)
    _tick_at(0)
    assert Page.objects.count() == 1
    assert Notification.objects.filter(purpose="page").count() == 2


def test_the_signed_link_acknowledges_once(paged, client):
    escalation, people = paged
    _tick_at(0)
    page = Page.objects.get()
    ack_url = Notification.objects.get(channel="in_app").payload["ack_url"]
    path = ack_url.split("127.0.0.1:8000", 1)[-1] if "127.0.0.1:8000" in ack_url else ack_url
    path = "/" + path.split("/", 3)[-1] if path.startswith("http") else path
    response = client.get(path)
    assert response.status_code == 200 and b"Acknowledge" in response.content
    page.refresh_from_db()
    assert page.ack_link_used_at is None  # looking is not acknowledging
    response = client.post(path)
    assert response.status_code == 200
    escalation.refresh_from_db()
    assert escalation.status == EscalationStatus.ACKNOWLEDGED
    assert escalation.incident.status == Status.ACKNOWLEDGED
    assert escalation.acknowledged_by == people["primary"]
    assert client.post(path).status_code == 410


def test_a_forged_link_is_refused(paged, client):
    _tick_at(0)
    page = Page.objects.get()
    forged = signing.dumps({"page": page.pk}, salt="another-salt")
    assert client.post(f"/paging/ack/{forged}/").status_code == 404
    assert signing.loads(
        Notification.objects.get(channel="in_app").payload["ack_url"].rstrip("/").split("/")[-1],
        salt=ACK_SALT,
    ) == {"page": page.pk}


def test_the_api_acknowledges_and_reports_time_to_acknowledge(paged, client):
    from accounts.tokens import api_token_create

    escalation, people = paged
    _tick_at(0)
    _user, raw = api_token_create(user=people["primary"], name="cli")
    with time_machine.travel(T0 + dt.timedelta(minutes=1, seconds=30), tick=False):
        response = client.post(
            f"/api/v1/paging/incidents/{escalation.incident_id}/acknowledge",
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "acknowledged"
    assert response.json()["time_to_acknowledge_seconds"] == 90


def test_resolving_every_alert_stops_the_escalation(paged, client):
    escalation, people = paged
    _tick_at(0)
    integration = escalation.incident.alert_groups.get().integration
    from alerts.services import integration_rotate_token

    token = integration_rotate_token(integration=integration)
    with time_machine.travel(T0 + dt.timedelta(minutes=2), tick=False):
        post(client, integration, am_payload(status="resolved"), token=token)
    _tick_at(30)
    assert _paged_users() == ["platform-primary"]
    escalation.refresh_from_db()
    assert escalation.status == EscalationStatus.RESOLVED
