"""The alerts and paging pages: lists, forms, permissions, the incident panels, the bell."""

import pytest

from alerts.models import Integration, Silence
from paging.models import Escalation, EscalationStatus, InAppNotification
from paging.services import engine_tick
from teams.models import Role, TeamRouting
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)
from tests.factories import PASSWORD, TeamFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(client):
    team, people = oncall_team()
    integration, token = integration_for(team)
    post(client, integration, am_payload(), token=token)
    return team, people, integration


def _login(client, user):
    assert client.login(username=user.username, password=PASSWORD)


def test_the_alert_list_and_group_page_show_the_alert(setup, client):
    team, people, integration = setup
    _login(client, people["primary"])
    response = client.get("/alerts/")
    assert response.status_code == 200 and b"AgentHighErrorRate" in response.content
    group = integration.groups.get()
    response = client.get(f"/alerts/groups/{group.pk}/")
    assert response.status_code == 200
    assert b"https://wiki.example/runbooks/high-error-rate" in response.content


def test_another_teams_alerts_are_not_listed(setup, client):
    other = TeamFactory(slug="other")
    _login(client, member(other))
    assert b"AgentHighErrorRate" not in client.get("/alerts/").content


def test_the_incident_page_shows_alert_links_and_the_delivery_log(setup, client):
    team, people, integration = setup
    engine_tick()
    incident = integration.groups.get().incident
    _login(client, people["primary"])
    response = client.get(incident.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="https://wiki.example/runbooks/high-error-rate"' in html
    assert 'href="https://grafana.example/agent-health"' in html
    assert "Delivery log" in html and "Escalating" in html


def test_acknowledging_on_the_incident_page_stops_the_escalation(setup, client):
    team, people, integration = setup
    engine_tick()
    incident = integration.groups.get().incident
    _login(client, people["primary"])
    response = client.post(f"/incidents/{incident.pk}/status", {"status": "acknowledged"})
    assert response.status_code in (200, 302)
    escalation = Escalation.objects.get(incident=incident)
    assert escalation.status == EscalationStatus.ACKNOWLEDGED
    assert escalation.acknowledged_by == people["primary"]
    assert escalation.time_to_acknowledge is not None


def test_a_manager_creates_an_integration_and_sees_its_url_once(client):
    team, people = oncall_team()
    _login(client, people["lead"])
    response = client.post(
        "/alerts/integrations/new/", {"team": team.pk, "name": "Prod", "kind": "alertmanager"}
    )
    assert response.status_code == 200
    integration = Integration.objects.get(name="Prod")
    assert str(integration.public_id) in response.content.decode()
    listing = client.get("/alerts/integrations/").content.decode()
    assert "Prod" in listing


def test_a_responder_cannot_create_an_integration(client):
    team, people = oncall_team()
    _login(client, people["primary"])
    response = client.post(
        "/alerts/integrations/new/", {"team": team.pk, "name": "Prod", "kind": "alertmanager"}
    )
    assert response.status_code == 400
    assert not Integration.objects.exists()


def test_maintenance_mode_is_set_from_the_page(setup, client):
    team, people, integration = setup
    _login(client, people["primary"])
    response = client.post(f"/alerts/integrations/{integration.pk}/maintenance/", {"minutes": "30"})
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.in_maintenance()


def test_a_responder_adds_and_ends_a_silence(client):
    team, people = oncall_team()
    _login(client, people["primary"])
    response = client.post(
        "/alerts/silences/",
        {
            "team": team.pk,
            "matchers": 'alertname="Noisy"\nservice=~"db.*"',
            "minutes": "60",
            "reason": "deploy",
        },
    )
    assert response.status_code == 302
    silence = Silence.objects.get()
    assert silence.matchers == [
        {"name": "alertname", "op": "=", "value": "Noisy"},
        {"name": "service", "op": "=~", "value": "db.*"},
    ]
    assert silence.created_by == people["primary"]
    client.post(f"/alerts/silences/{silence.pk}/end/")
    silence.refresh_from_db()
    assert not silence.is_active()


def test_a_bad_matcher_is_refused_with_a_reason(client):
    team, people = oncall_team()
    _login(client, people["primary"])
    response = client.post(
        "/alerts/silences/",
        {"team": team.pk, "matchers": "not a matcher", "minutes": "60", "reason": "x"},
    )
    assert response.status_code == 400
    assert b"is not a matcher" in response.content
    assert not Silence.objects.exists()


def test_a_viewer_cannot_silence(client):
    team, people = oncall_team()
    _login(client, member(team, Role.VIEWER))
    response = client.post(
        "/alerts/silences/", {"team": team.pk, "matchers": 'a="b"', "minutes": "60", "reason": "x"}
    )
    assert response.status_code == 400
    assert not Silence.objects.exists()


def test_a_manager_edits_the_teams_routing(client):
    team, people = oncall_team()
    _login(client, people["lead"])
    response = client.post(
        f"/alerts/teams/{team.slug}/routing/",
        {
            "business_days": ["0", "1", "2", "3"],
            "business_start": "08:00",
            "business_end": "18:00",
            "incidents_webhook_url": "https://hooks.slack.example/incidents",
            "oncall_webhook_url": "",
            "alerts_webhook_url": "",
            "pagerduty_routing_key": "",
            "severity_critical": "SEV1",
            "severity_warning": "SEV3",
        },
    )
    assert response.status_code == 302, response.content
    routing = TeamRouting.objects.get(team=team)
    assert routing.business_days == [0, 1, 2, 3]
    assert routing.severity_map["warning"] == "SEV3"
    _login(client, people["primary"])
    assert client.get(f"/alerts/teams/{team.slug}/routing/").status_code == 403


def test_the_bell_counts_unread_notifications_and_the_list_marks_them_read(setup, client):
    team, people, integration = setup
    InAppNotification.objects.create(user=people["primary"], title="[CRITICAL] Something", url="/")
    _login(client, people["primary"])
    bell = client.get("/paging/bell/")
    assert 'aria-label="Notifications: 1 unread"' in bell.content.decode()
    page = client.get("/paging/notifications/")
    assert b"[CRITICAL] Something" in page.content
    client.post("/paging/notifications/read/")
    assert 'aria-label="Notifications: 0 unread"' in client.get("/paging/bell/").content.decode()


def test_every_page_has_the_bell_with_a_real_link(setup, client):
    team, people, integration = setup
    _login(client, people["primary"])
    html = client.get("/alerts/").content.decode()
    assert 'id="notification-bell"' in html and 'href="/paging/notifications/"' in html


def test_the_alert_list_query_count_does_not_grow_with_groups(client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    team, people = oncall_team()
    integration, token = integration_for(team)
    for i in range(3):
        post(client, integration, am_payload(name=f"A{i}", severity="info"), token=token)
    _login(client, people["primary"])
    client.get("/alerts/?status=all")
    with CaptureQueriesContext(connection) as small:
        client.get("/alerts/?status=all")
    for i in range(3, 30):
        post(client, integration, am_payload(name=f"A{i}", severity="info"), token=token)
    with CaptureQueriesContext(connection) as large:
        response = client.get("/alerts/?status=all")
    assert response.content.count(b"/alerts/groups/") == 30
    assert len(large.captured_queries) == len(small.captured_queries) <= 12


def test_a_private_incidents_number_and_title_stay_with_its_team(setup, client):
    team, people, integration = setup
    group = integration.groups.get()
    incident = group.incident
    incident.is_private = True
    incident.title = "Secret acquisition outage"
    incident.save(update_fields=["is_private", "title"])
    outsider = member(TeamFactory(slug="other"))
    _login(client, outsider)
    html = client.get(f"/alerts/groups/{group.pk}/").content.decode()
    assert "Secret acquisition outage" not in html
    assert incident.get_absolute_url() not in html
    assert "A private incident of" in html
    client.logout()
    _login(client, people["primary"])
    html = client.get(f"/alerts/groups/{group.pk}/").content.decode()
    assert "Secret acquisition outage" in html and incident.get_absolute_url() in html
    assert incident.get_absolute_url() in client.get("/alerts/").content.decode()
