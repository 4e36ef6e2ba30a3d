"""What a role may not do is not offered, and a refused or missing page is the site's own
page with its navigation, with DEBUG on (`make run`) as well as off."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from alerts.services import integration_create, silence_create
from incidents.models import Severity, Status
from incidents.services import incident_change_status, incident_declare
from postmortems import services as postmortem_services
from teams.models import Role
from tests.factories import PASSWORD, member

pytestmark = pytest.mark.django_db


def in_review_postmortem(team, by):
    member(team, Role.MANAGER)
    incident = incident_declare(
        title="Checkout errors", severity=Severity.objects.get(level=2), team=team, by=by
    )
    incident_change_status(incident=incident, status=Status.RESOLVED, by=by)
    postmortem = incident.postmortems.get()
    postmortem_services.postmortem_submit_for_review(postmortem=postmortem, by=by)
    return postmortem


def test_a_responder_is_not_offered_approve_or_request_changes(client, team):
    responder = member(team, Role.RESPONDER)
    postmortem = in_review_postmortem(team, responder)
    client.force_login(responder)
    html = client.get(postmortem.get_absolute_url()).content.decode()
    assert ">Approve</button>" not in html
    assert ">Request changes</button>" not in html


def test_a_manager_is_offered_approve(client, team):
    postmortem = in_review_postmortem(team, member(team, Role.RESPONDER))
    client.force_login(member(team, Role.MANAGER))
    html = client.get(postmortem.get_absolute_url()).content.decode()
    assert ">Approve</button>" in html
    assert ">Request changes</button>" in html


def test_a_viewer_is_offered_neither_rotate_token_nor_set_maintenance(client, team):
    integration_create(team=team, kind="alertmanager", name="Prometheus")
    client.force_login(member(team, Role.VIEWER))
    html = client.get(reverse("alerts_integrations")).content.decode()
    assert "Prometheus" in html
    assert "Rotate token" not in html
    assert "Set maintenance" not in html


def test_a_responder_may_set_maintenance_but_not_rotate_the_token(client, team):
    integration_create(team=team, kind="alertmanager", name="Prometheus")
    client.force_login(member(team, Role.RESPONDER))
    html = client.get(reverse("alerts_integrations")).content.decode()
    assert "Set maintenance" in html
    assert "Rotate token" not in html


def test_a_manager_is_offered_both_integration_buttons(client, team):
    integration_create(team=team, kind="alertmanager", name="Prometheus")
    client.force_login(member(team, Role.MANAGER))
    html = client.get(reverse("alerts_integrations")).content.decode()
    assert "Set maintenance" in html
    assert "Rotate token" in html


def test_a_viewer_is_not_offered_end_silence(client, team):
    responder = member(team, Role.RESPONDER)
    silence_create(
        team=team,
        matchers=[{"name": "alertname", "op": "=", "value": "Disk"}],
        ends_at=timezone.now() + dt.timedelta(hours=1),
        reason="Maintenance window",
        by=responder,
    )
    client.force_login(member(team, Role.VIEWER))
    html = client.get(reverse("alerts_silences")).content.decode()
    assert "Maintenance window" in html
    assert "End silence" not in html
    client.force_login(responder)
    assert "End silence" in client.get(reverse("alerts_silences")).content.decode()


def test_only_the_person_covering_or_a_manager_is_offered_remove_override(client, team):
    from oncall import services as oncall_services
    from oncall.services import LayerData

    covering, other = member(team, Role.RESPONDER), member(team, Role.RESPONDER)
    manager = member(team, Role.MANAGER)
    schedule = oncall_services.schedule_save(
        team=team,
        name="Platform on-call",
        time_zone="UTC",
        layers=[LayerData(name="Primary", members=[covering, other], start_date=dt.date.today())],
        by=manager,
    )
    layer = schedule.layers.get()
    start = timezone.now() + dt.timedelta(hours=1)
    oncall_services.override_create(
        layer=layer, user=covering, start=start, end=start + dt.timedelta(hours=4), by=covering
    )
    url = reverse("oncall_cover", args=[layer.pk])
    params = {"start": start.isoformat(), "end": (start + dt.timedelta(hours=4)).isoformat()}
    seen = {}
    for person in (covering, other, manager):
        client.force_login(person)
        response = client.get(url, params)
        assert response.status_code == 200
        seen[person] = "Remove override" in response.content.decode()
    assert seen == {covering: True, other: False, manager: True}


@pytest.mark.parametrize("debug", [False, True])
def test_a_refused_action_is_the_sites_403_page_with_navigation(client, settings, team, debug):
    settings.DEBUG = debug
    integration, _ = integration_create(team=team, kind="alertmanager", name="Prometheus")
    client.force_login(member(team, Role.VIEWER))
    response = client.post(reverse("alerts_integration_rotate", args=[integration.pk]))
    assert response.status_code == 403
    html = response.content.decode()
    assert 'aria-label="Main"' in html
    assert "You can’t do that here" in html
    assert "Your role in Platform does not allow this." in html
    assert f'href="{reverse("dashboard")}"' in html


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", ["/no-such-page/", "/incidents/999999/"])
def test_a_missing_page_is_the_sites_404_page_with_navigation(client, settings, team, debug, path):
    settings.DEBUG = debug
    client.force_login(member(team, Role.RESPONDER))
    response = client.get(path)
    assert response.status_code == 404
    html = response.content.decode()
    assert 'aria-label="Main"' in html
    assert "Nothing here" in html
    assert "Go to the dashboard" in html
    assert "Django" not in html


def test_with_debug_a_missing_slash_still_redirects(client, settings, team):
    settings.DEBUG = True
    client.force_login(member(team, Role.RESPONDER))
    response = client.get("/incidents")
    assert response.status_code == 301


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_viewer_sees_no_integration_buttons_and_a_missing_page_leads_home(
    page, live_server, team
):
    integration_create(team=team, kind="alertmanager", name="Prometheus")
    viewer = member(team, Role.VIEWER, username="vic")
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(viewer.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    page.goto(f"{live_server.url}{reverse('alerts_integrations')}")
    expect(page.get_by_role("heading", name="Prometheus")).to_be_visible()
    expect(page.get_by_role("button", name="Rotate token")).to_have_count(0)
    expect(page.get_by_role("button", name="Set maintenance")).to_have_count(0)

    page.goto(f"{live_server.url}/incidents/999999/")
    expect(page.get_by_role("heading", name="Nothing here")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    page.get_by_role("link", name="Go to the dashboard").click()
    expect(page).to_have_url(f"{live_server.url}/")
