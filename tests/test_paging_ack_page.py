"""The acknowledge page behind the signed link in every page notification: read and pressed on
a phone at 3 AM, without signing in. It says what fired, since when, what to read first, and
afterwards what pressing it did."""

import datetime as dt

import pytest
import time_machine
from django.test import Client
from playwright.sync_api import expect

from incidents.models import Status
from incidents.services import incident_change_status
from paging.messages import ack_token
from paging.models import Escalation, EscalationStatus, Page
from paging.services import engine_tick
from runbooks.models import Runbook
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)
from tests.factories import PASSWORD

T0 = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)


def page_the_primary(client, *, runbook="https://wiki.example/runbooks/high-error-rate"):
    """An Alertmanager alert pages the team's primary; a runbook answers that alert."""
    team, people = oncall_team()
    Runbook.objects.create(
        title="High Error Rate",
        slug="high-error-rate",
        team=team,
        body="## Step 1 — Check recent deploys\n\nLook.\n",
        alert_names=["AgentHighErrorRate"],
    )
    integration, token = integration_for(team)
    payload = am_payload()
    payload["alerts"][0]["annotations"]["runbook"] = runbook
    assert post(client, integration, payload, token=token).status_code == 202
    engine_tick()
    page = Page.objects.get()
    assert page.user == people["primary"]
    return page, people


def ack_path(page):
    return f"/paging/ack/{ack_token(page)}/"


@pytest.mark.django_db
@time_machine.travel(T0, tick=False)
def test_it_shows_severity_what_fired_since_when_the_runbook_and_the_incident(client):
    page, people = page_the_primary(client)
    incident = page.incident
    with time_machine.travel(T0 + dt.timedelta(minutes=4), tick=False):
        response = client.get(ack_path(page))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="sev sev-1">SEV1</span> Complete outage' in html
    assert incident.title in html
    assert "Declared" in html and "4 min ago" in html
    assert "<strong>AgentHighErrorRate</strong>: AgentHighErrorRate summary" in html
    assert 'class="button primary ack-button">Acknowledge</button>' in html
    assert f"{people['primary'].display_name}, you were paged" in html
    assert f'href="/runbooks/incidents/{incident.pk}/?runbook=high-error-rate"' in html
    assert "Runbook: High Error Rate" in html
    assert 'href="https://wiki.example/runbooks/high-error-rate"' in html
    assert f'href="{incident.get_absolute_url()}">Open the incident</a>' in html
    assert "/static/css/paging.css" in html and "style=" not in html  # the CSP forbids inline


@pytest.mark.django_db
@time_machine.travel(T0, tick=False)
def test_acknowledging_says_what_it_did_and_a_second_press_says_who_did(client):
    page, people = page_the_primary(client)
    with time_machine.travel(T0 + dt.timedelta(minutes=2), tick=False):
        response = client.post(ack_path(page))
    html = response.content.decode()
    assert response.status_code == 200
    assert "You acknowledged" in html and "Escalation stopped" in html and "at 03:02 UTC" in html
    assert "ack-button" not in html
    assert Escalation.objects.get().status == EscalationStatus.ACKNOWLEDGED

    again = client.post(ack_path(page))
    html = again.content.decode()
    assert again.status_code == 410
    assert "This acknowledgement link was already used." in html
    assert f"Already acknowledged by <strong>{people['primary'].display_name}</strong>" in html
    assert "28 Nov, 03:02 UTC" in html
    assert client.get(ack_path(page)).status_code == 410


@pytest.mark.django_db
@time_machine.travel(T0, tick=False)
def test_when_someone_else_acknowledged_first_it_says_so_and_offers_no_button(client):
    page, people = page_the_primary(client)
    with time_machine.travel(T0 + dt.timedelta(minutes=1), tick=False):
        incident_change_status(
            incident=page.incident, status=Status.ACKNOWLEDGED, by=people["secondary"]
        )
    html = client.get(ack_path(page)).content.decode()
    assert f"Already acknowledged by <strong>{people['secondary'].display_name}</strong>" in html
    assert "ack-button" not in html
    # A press from a page opened before that takes no credit for it.
    response = client.post(ack_path(page))
    html = response.content.decode()
    assert response.status_code == 200
    assert "You acknowledged" not in html
    assert f"Already acknowledged by <strong>{people['secondary'].display_name}</strong>" in html
    assert Escalation.objects.get().acknowledged_by == people["secondary"]


@pytest.mark.django_db
@time_machine.travel(T0, tick=False)
def test_it_shows_times_in_the_paged_persons_time_zone(client):
    page, people = page_the_primary(client)
    people["primary"].time_zone = "Europe/Berlin"
    people["primary"].save(update_fields=["time_zone"])
    with time_machine.travel(T0 + dt.timedelta(minutes=2), tick=False):
        html = client.post(ack_path(page)).content.decode()
    assert "at 04:02 CET" in html


@pytest.mark.django_db
@time_machine.travel(T0, tick=False)
@pytest.mark.parametrize("link", ["javascript:alert(1)", "http://[oops/runbook"])
def test_an_alerts_runbook_annotation_that_is_not_a_web_link_is_not_linked(client, link):
    page, _ = page_the_primary(client, runbook=link)
    response = client.get(ack_path(page))
    html = response.content.decode()
    assert response.status_code == 200
    assert link not in html and "The alert's runbook link" not in html
    assert "Runbook: High Error Rate" in html
    # The incident page, which finds the runbook the same way, copes too.
    login = client.login(username=page.user.username, password=PASSWORD)
    assert login and client.get(page.incident.get_absolute_url()).status_code == 200


@pytest.mark.django_db
def test_a_bad_link_gets_a_clear_404(client):
    for token in ["nonsense", "a" * 300, "eyJwYWdlIjoxfQ:1t:abc"]:
        response = client.get(f"/paging/ack/{token}/")
        assert response.status_code == 404
        assert "This link is not valid." in response.content.decode()


@pytest.mark.django_db
@time_machine.travel(T0, tick=False)
def test_the_page_reads_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    page, _ = page_the_primary(client)
    with django_assert_max_num_queries(8):
        assert client.get(ack_path(page)).status_code == 200


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_on_a_phone_the_essentials_and_a_big_acknowledge_fit_the_first_screen(browser, live_server):
    page, people = page_the_primary(Client())
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    tab = context.new_page()
    tab.goto(f"{live_server.url}{ack_path(page)}")

    severity = tab.get_by_text("SEV1", exact=True)
    title = tab.get_by_role("heading", name=page.incident.title)
    button = tab.get_by_role("button", name="Acknowledge")
    for locator in (severity, title, button):
        expect(locator).to_be_in_viewport(ratio=1)
    box = button.bounding_box()
    assert box["width"] >= 340 and box["height"] >= 56  # a thumb, not a fingertip
    assert tab.evaluate("document.documentElement.scrollWidth") <= 390
    expect(tab.get_by_role("region", name="What fired")).to_contain_text(
        "AgentHighErrorRate: AgentHighErrorRate summary"
    )
    nav = tab.get_by_role("navigation", name="Next steps")
    expect(nav.get_by_role("link", name="Runbook: High Error Rate")).to_have_attribute(
        "href", f"/runbooks/incidents/{page.incident.pk}/?runbook=high-error-rate"
    )
    expect(nav.get_by_role("link", name="Open the incident")).to_have_attribute(
        "href", page.incident.get_absolute_url()
    )

    button.click()
    done = tab.get_by_role("status").filter(has_text="You acknowledged")
    expect(done).to_be_visible()
    expect(done).to_contain_text("Escalation stopped")
    expect(tab.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(nav.get_by_role("link", name="Open the incident")).to_be_visible()
    assert Escalation.objects.get().acknowledged_by == people["primary"]
    context.close()
